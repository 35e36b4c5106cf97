package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The agent shares the log folder and may be hostile: these tests put at
// the source path what such an agent would, against the real binary.

// gapReasons returns the reason of every gap record stored, in seq order.
func gapReasons(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT json_extract(payload, '$.detail.reason') FROM audit_records
		WHERE action = 'gap' ORDER BY seq`)
	if err != nil {
		return nil // the table is not there yet
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r sql.NullString
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.String)
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// metricValue returns the text of the metric line that starts with name
// (with its labels), "" if none.
func metricValue(t *testing.T, addr, name string) string {
	t.Helper()
	_, body := get(t, addr, "", "/metrics", nil)
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return strings.TrimPrefix(l, name+" ")
		}
	}
	return ""
}

// TestE2E_SourceSymlinks replaces the log with a symbolic link to a file
// outside the log's folder (with a sibling that looks like a rotation of
// it), then with one to the sidecar's own HMAC key, which sits in the
// log's folder, then with a hard link to the key. Each is refused with one
// chained gap record and a count; nothing of them reaches the store; a
// regular file put back is read.
func TestE2E_SourceSymlinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	outside := t.TempDir()
	shadow := filepath.Join(outside, "shadow")
	writeFile(t, shadow, []byte("root:$6$SHADOWHASH:19000:0:99999:7:::\n"))
	writeFile(t, shadow+"-", []byte("root:$6$OLDSHADOW:19000:0:99999:7:::\n"))
	writeFile(t, shadow+".1", []byte(`{"action":"tool_call","tool":"OLDSHADOW"}`+"\n"))
	if err := os.Symlink(shadow, e.logPath); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	addr := p.addr(t)
	db := openDB(t, e.dbPath)
	const outsideReason = "source refused: resolves outside allowed_dirs"
	const ownReason = "source refused: a file of the sidecar's own"
	waitFor(t, "the refusal of the link outside", func() bool { return countOf(gapReasons(t, db), outsideReason) == 1 })
	if v := metricValue(t, addr, `audit_source_refused_total{reason="outside_allowed_dirs"}`); v != "1" {
		t.Errorf("audit_source_refused_total{outside_allowed_dirs} = %q, want 1", v)
	}

	for i, place := range []func() error{
		func() error { return os.Symlink(e.keyPath, e.logPath) },
		func() error { return os.Link(e.keyPath, e.logPath) },
	} {
		if err := os.Remove(e.logPath); err != nil {
			t.Fatal(err)
		}
		if err := place(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the refusal of the sidecar's own key", func() bool { return countOf(gapReasons(t, db), ownReason) == i+1 })
	}

	if err := os.Remove(e.logPath); err != nil {
		t.Fatal(err)
	}
	appendLines(t, e.logPath, event(map[string]any{"action": "tool_call", "tool": "real", "n": 0}))
	waitForEvents(t, db, 1, p)
	p.stop(t)

	var leaked int
	if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE instr(payload, 'SHADOW') > 0 OR instr(payload, ?) > 0`,
		string(e.key[:16])).Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Fatalf("%d records hold what the refused files held", leaked)
	}
	if got := gapReasons(t, db); len(got) != 3 {
		t.Errorf("gap records %q, want three refusals", got)
	}
	requireValid(t, e.cfgPath)
}

// TestE2E_SourceFIFO puts a named pipe at the path: before, it blocked
// the tailer in open(2) forever and SIGTERM was ignored. It is refused
// with one record, a regular file put back is read, and with a FIFO there
// again SIGTERM ends the process cleanly.
func TestE2E_SourceFIFO(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := syscall.Mkfifo(e.logPath, 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	addr := p.addr(t)
	db := openDB(t, e.dbPath)
	const reason = "source refused: not a regular file"
	waitFor(t, "the refusal of the FIFO", func() bool { return countOf(gapReasons(t, db), reason) == 1 })
	if v := metricValue(t, addr, `audit_source_refused_total{reason="not_regular"}`); v != "1" {
		t.Errorf("audit_source_refused_total{not_regular} = %q, want 1", v)
	}
	if err := os.Remove(e.logPath); err != nil {
		t.Fatal(err)
	}
	for n := range 3 {
		appendLines(t, e.logPath, event(map[string]any{"action": "tool_call", "tool": "after-fifo", "n": n}))
	}
	waitForEvents(t, db, 3, p)
	if err := os.Rename(e.logPath, e.logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(e.logPath, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second refusal", func() bool { return countOf(gapReasons(t, db), reason) == 2 })
	p.stop(t)
	requireExactlyOnce(t, db, 3)
	requireValid(t, e.cfgPath)
}

// TestE2E_StraySiblingsAreNotRead puts beside the log the files tools
// leave there (an agent's PII list among them) and rotates the log while
// running and while stopped: none of their lines is stored.
func TestE2E_StraySiblingsAreNotRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	strays := []string{".pii", ".lock", ".bak", ".tmp", ".swp", ".offset", ".sha256"}
	writeStrays := func() {
		for _, s := range strays {
			writeFile(t, e.logPath+s, []byte(event(map[string]any{"action": "tool_call", "tool": "STRAYLINE", "stray": s, "email": "dana@example.com"})))
		}
	}
	n := 0
	write := func(count int) {
		for range count {
			appendLines(t, e.logPath, event(map[string]any{"action": "tool_call", "tool": "real", "n": n}))
			n++
		}
	}
	write(5)
	writeStrays()
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, n, p)
	for r := 1; r <= 2; r++ {
		if err := os.Rename(e.logPath, fmt.Sprintf("%s.%d", e.logPath, r)); err != nil {
			t.Fatal(err)
		}
		writeStrays()
		write(5)
		waitForEvents(t, db, n, p)
	}
	p.stop(t)
	if err := os.Rename(e.logPath, e.logPath+".3"); err != nil {
		t.Fatal(err)
	}
	writeStrays()
	write(5)
	p = e.start(t)
	waitForEvents(t, db, n, p)
	p.stop(t)
	var stray int
	if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE instr(payload, 'STRAYLINE') > 0`).Scan(&stray); err != nil {
		t.Fatal(err)
	}
	if stray != 0 {
		t.Fatalf("%d records came from stray files", stray)
	}
	requireExactlyOnce(t, db, n)
	requireValid(t, e.cfgPath)
}

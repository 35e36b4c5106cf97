package e2e

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// Process-level tests of the source faults of docs/guarantees.md (rows 5, 7,
// 8, 9, 10, 13 and 14): the real binary, real files, real renames.

// srcLines is events from..to-1 as JSON lines, tagged with tool.
func srcLines(tool string, from, to int) string {
	var b strings.Builder
	for n := from; n < to; n++ {
		b.WriteString(event(map[string]any{"action": "tool_call", "tool": tool, "user": "u-1", "n": n}))
	}
	return b.String()
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// copyTruncate does what logrotate's copytruncate does: copy the file to
// dst, then truncate the original to 0.
func copyTruncate(t *testing.T, path, dst string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, data)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// startAndWait starts the sidecar and waits until it listens (the sink is
// open then) and the first want events are stored.
func startAndWait(t *testing.T, e *env, want int) (*proc, *sql.DB) {
	t.Helper()
	p := e.start(t)
	p.addr(t)
	db := openDB(t, e.dbPath)
	if want > 0 {
		waitForEvents(t, db, want, p)
	}
	return p, db
}

// finishExactlyOnce waits for total events, stops the sidecar and checks
// exactly once, gapless seqs and verify.
func finishExactlyOnce(t *testing.T, e *env, p *proc, db *sql.DB, total int) {
	t.Helper()
	waitForEvents(t, db, total, p)
	p.stop(t)
	requireExactlyOnce(t, db, total)
	requireGaplessSeqs(t, db, e.chainID)
	requireValid(t, e.cfgPath)
}

func TestE2E_RotatedWhileStopped(t *testing.T) {
	t.Parallel()
	for _, rotations := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d rotations", rotations), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			appendLines(t, e.logPath, srcLines("stopped", 0, 10))
			p, _ := startAndWait(t, e, 10)
			p.stop(t)

			n := 10
			for r := 0; r < rotations; r++ {
				// The writer goes on while the sidecar is down, then the
				// file is rotated logrotate style: .k -> .k+1, then log -> .1.
				appendLines(t, e.logPath, srcLines("stopped", n, n+10))
				n += 10
				for k := r; k >= 1; k-- {
					mustRename(t, fmt.Sprintf("%s.%d", e.logPath, k), fmt.Sprintf("%s.%d", e.logPath, k+1))
				}
				mustRename(t, e.logPath, e.logPath+".1")
				appendLines(t, e.logPath, srcLines("stopped", n, n+10))
				n += 10
			}
			p, db := startAndWait(t, e, 0)
			appendLines(t, e.logPath, srcLines("stopped", n, n+5))
			n += 5
			finishExactlyOnce(t, e, p, db, n)
		})
	}
}

func TestE2E_CopyTruncate(t *testing.T) {
	t.Parallel()
	t.Run("while running", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		appendLines(t, e.logPath, srcLines("copytrunc", 0, 20))
		p, db := startAndWait(t, e, 20)
		// Appended and copied at once: the sidecar may or may not have read
		// 20..39 before the truncation; either way they are in the copy.
		appendLines(t, e.logPath, srcLines("copytrunc", 20, 40))
		copyTruncate(t, e.logPath, e.logPath+".1")
		appendLines(t, e.logPath, srcLines("copytrunc", 40, 50))
		waitForEvents(t, db, 50, p)
		// A second round, on the copy recognised as already read.
		appendLines(t, e.logPath, srcLines("copytrunc", 50, 60))
		mustRename(t, e.logPath+".1", e.logPath+".2")
		copyTruncate(t, e.logPath, e.logPath+".1")
		appendLines(t, e.logPath, srcLines("copytrunc", 60, 70))
		finishExactlyOnce(t, e, p, db, 70)
		requireNoGaps(t, db)
	})
	t.Run("while paused", func(t *testing.T) {
		t.Parallel()
		// SIGSTOP makes the outcome certain: 20..39 were not read when the
		// file was copied and truncated, so they must come from the copy.
		e := newEnv(t)
		appendLines(t, e.logPath, srcLines("copytrunc", 0, 20))
		p, db := startAndWait(t, e, 20)
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		appendLines(t, e.logPath, srcLines("copytrunc", 20, 40))
		copyTruncate(t, e.logPath, e.logPath+".1")
		appendLines(t, e.logPath, srcLines("copytrunc", 40, 45))
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		finishExactlyOnce(t, e, p, db, 45)
		requireNoGaps(t, db)
	})
	t.Run("while stopped", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		appendLines(t, e.logPath, srcLines("copytrunc", 0, 20))
		p, _ := startAndWait(t, e, 20)
		p.stop(t)
		appendLines(t, e.logPath, srcLines("copytrunc", 20, 40))
		copyTruncate(t, e.logPath, e.logPath+".1")
		appendLines(t, e.logPath, srcLines("copytrunc", 40, 50))
		p, db := startAndWait(t, e, 0)
		finishExactlyOnce(t, e, p, db, 50)
		requireNoGaps(t, db)
	})
}

// requireNoGaps fails if the sidecar recorded a loss: in these tests no
// line is ever out of reach.
func requireNoGaps(t *testing.T, db *sql.DB) {
	t.Helper()
	var c int
	if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE action = 'gap'`).Scan(&c); err != nil {
		t.Fatal(err)
	}
	if c != 0 {
		t.Errorf("%d gap records, want 0", c)
	}
}

func TestE2E_TruncateAndRewrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	appendLines(t, e.logPath, srcLines("rewrite", 0, 10))
	p, _ := startAndWait(t, e, 10)
	p.stop(t)
	// Rewritten in place, same inode, longer than the saved offset.
	if err := os.WriteFile(e.logPath, []byte(srcLines("rewrite-new", 10, 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	p, db := startAndWait(t, e, 0)
	finishExactlyOnce(t, e, p, db, 40)
}

func TestE2E_DeleteRecreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	appendLines(t, e.logPath, srcLines("recreate", 0, 10))
	p, db := startAndWait(t, e, 10)
	n := 10
	for round := 0; round < 3; round++ {
		if err := os.Remove(e.logPath); err != nil {
			t.Fatal(err)
		}
		// The inode number may be reused at once; the new file is longer
		// than the old one so that only its head tells them apart.
		appendLines(t, e.logPath, srcLines("recreate", n, n+15))
		n += 15
		waitForEvents(t, db, n, p)
	}
	finishExactlyOnce(t, e, p, db, n)
}

func TestE2E_SymlinkSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rotateDrain = "5s"
	e.writeConfig(t, "")
	pods := filepath.Join(e.dir, "pods")
	target := func(i int) string { return filepath.Join(pods, fmt.Sprintf("%d.log", i)) }
	appendLines(t, func() string {
		if err := os.MkdirAll(pods, 0o755); err != nil {
			t.Fatal(err)
		}
		return target(0)
	}(), srcLines("symlink", 0, 10))
	if err := os.Symlink(target(0), e.logPath); err != nil {
		t.Fatal(err)
	}
	p, db := startAndWait(t, e, 10)

	appendLines(t, target(0), srcLines("symlink", 10, 20))
	appendLines(t, target(1), srcLines("symlink", 20, 30))
	// Atomic swap: a new link renamed over the old one.
	tmp := e.logPath + ".tmp"
	if err := os.Symlink(target(1), tmp); err != nil {
		t.Fatal(err)
	}
	mustRename(t, tmp, e.logPath)
	// The old container still writes a few lines after the swap.
	appendLines(t, target(0), srcLines("symlink", 30, 35))
	appendLines(t, target(1), srcLines("symlink", 35, 45))
	finishExactlyOnce(t, e, p, db, 45)
}

func TestE2E_HugeLine(t *testing.T) {
	t.Parallel()
	const maxLine = 1 << 20
	secrets := []string{"huge.line@example.com", "4111111111111111", "4111 1111 1111 1111"}
	e := newEnv(t)
	cfg := strings.Replace(e.configYAML(""), "source:\n", fmt.Sprintf("source:\n  max_line_bytes: %d\n", maxLine), 1)
	writeFile(t, e.cfgPath, []byte(cfg))

	// ~10 MiB of text with PII near the start; no "n": it is not an event.
	var text strings.Builder
	text.WriteString("customer huge.line@example.com paid with card 4111111111111111 ")
	for text.Len() < 10<<20 {
		text.WriteString("lorem ipsum dolor sit amet, consectetur adipiscing elit ")
	}
	huge := event(map[string]any{"action": "tool_result", "tool": "search", "output": text.String()})
	hugeLine := strings.TrimSuffix(huge, "\n")
	sum := sha256.Sum256([]byte(hugeLine))

	appendLines(t, e.logPath, srcLines("huge", 0, 10))
	p, db := startAndWait(t, e, 10)

	var (
		mu     sync.Mutex
		maxRSS int64
		done   = make(chan struct{})
		wg     sync.WaitGroup
	)
	pid := p.cmd.Process.Pid
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if kb, ok := vmRSSKiB(pid); ok {
				mu.Lock()
				maxRSS = max(maxRSS, kb)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	appendLines(t, e.logPath, huge)
	appendLines(t, e.logPath, srcLines("huge", 10, 20))
	waitForEvents(t, db, 20, p)
	// One more round after the huge line: the tailer is still following.
	appendLines(t, e.logPath, srcLines("huge", 20, 30))
	waitForEvents(t, db, 30, p)
	close(done)
	wg.Wait()
	if p.exited() {
		t.Fatalf("the sidecar exited: %v", p.state)
	}
	t.Logf("peak VmRSS while ingesting a %d-byte line: %d KiB", len(hugeLine), maxRSS)
	if maxRSS == 0 {
		t.Error("no VmRSS sample")
	}
	if maxRSS > 200<<10 {
		t.Errorf("peak VmRSS %d KiB, want below 200 MiB", maxRSS)
	}
	p.stop(t)

	rows, err := db.Query(`SELECT action, payload FROM audit_records WHERE chain = ? ORDER BY seq`, e.chainID)
	if err != nil {
		t.Fatal(err)
	}
	var errs []map[string]json.RawMessage
	for rows.Next() {
		var action string
		var payload []byte
		if err := rows.Scan(&action, &payload); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(payload, []byte(s)) {
				t.Errorf("a %s payload contains a raw secret of the huge line", action)
			}
		}
		if len(payload) > 64<<10 {
			t.Errorf("a %s payload of %d bytes: the raw text is not capped", action, len(payload))
		}
		if action != "parse_error" {
			continue
		}
		var r struct {
			Detail map[string]json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(payload, &r); err != nil {
			t.Fatalf("parse_error payload: %v", err)
		}
		errs = append(errs, r.Detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(errs) != 1 {
		t.Fatalf("%d parse_error records, want 1 (the huge line)", len(errs))
	}
	d := errs[0]
	if got := string(d["raw_bytes"]); got != strconv.Itoa(len(hugeLine)) {
		t.Errorf("raw_bytes %s, want %d", got, len(hugeLine))
	}
	var gotSum, raw string
	json.Unmarshal(d["raw_sha256"], &gotSum) //nolint:errcheck // compared below
	json.Unmarshal(d["raw"], &raw)           //nolint:errcheck // checked below
	if gotSum != hex.EncodeToString(sum[:]) {
		t.Errorf("raw_sha256 %q, want the SHA-256 of the whole line %s", gotSum, hex.EncodeToString(sum[:]))
	}
	if string(d["raw_truncated"]) != "true" {
		t.Errorf("raw_truncated %s, want true", d["raw_truncated"])
	}
	if raw == "" || len(raw) > 8<<10 {
		t.Errorf("raw prefix of %d bytes, want a non-empty capped prefix", len(raw))
	}
	if !strings.HasPrefix(raw, `{"action":"tool_result"`) || !strings.Contains(raw, "REDACTED") {
		t.Errorf("raw prefix %.200q: want the line's start, redacted", raw)
	}
	requireNoSecretsInFiles(t, e, secrets)
	requireExactlyOnce(t, db, 30)
	requireValid(t, e.cfgPath)
}

// vmRSSKiB reads VmRSS of pid from /proc.
func vmRSSKiB(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

// requireNoSecretsInFiles scans the SQLite file, its WAL and the spool.
func requireNoSecretsInFiles(t *testing.T, e *env, secrets []string) {
	t.Helper()
	for _, path := range []string{e.dbPath, e.dbPath + "-wal", e.spoolPath} {
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) && strings.HasSuffix(path, "-wal") {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s contains raw secret #%d", filepath.Base(path), i)
			}
		}
	}
}

func TestE2E_BadInput(t *testing.T) {
	t.Parallel()
	const email = "bad.input@example.com"
	bad := []string{
		"this is not json, mail " + email,
		`{"action":"tool_call","note":"unterminated ` + email,
		"\xff\xfe\xfd invalid utf-8 \xc3\x28 " + email + " \x80",
		"\x00\x00\x00 NUL bytes " + email + " \x00",
		"{\"action\":\"tool_call\",\"note\":\"nul \x00 in a string " + email + "\"}",
		`["an array", "` + email + `"]`,
	}
	e := newEnv(t)
	appendLines(t, e.logPath, srcLines("bad", 0, 10))
	p, db := startAndWait(t, e, 10)
	n := 10
	for _, l := range bad {
		appendLines(t, e.logPath, l+"\n"+srcLines("bad", n, n+5))
		n += 5
	}
	waitForEvents(t, db, n, p)
	p.stop(t)

	want := map[string]bool{}
	for _, l := range bad {
		s := sha256.Sum256([]byte(l))
		want[hex.EncodeToString(s[:])] = true
	}
	rows, err := db.Query(`SELECT json_extract(payload, '$.detail.raw_sha256'), payload FROM audit_records
		WHERE action = 'parse_error' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var sum sql.NullString
		var payload []byte
		if err := rows.Scan(&sum, &payload); err != nil {
			t.Fatal(err)
		}
		got[sum.String]++
		if bytes.Contains(payload, []byte(email)) {
			t.Errorf("parse_error record (raw_sha256 %s) contains the raw e-mail address", sum.String)
		}
		if !bytes.Contains(payload, []byte("REDACTED")) {
			t.Errorf("parse_error record (raw_sha256 %s) has no redaction: %.300q", sum.String, payload)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for i, l := range bad {
		s := sha256.Sum256([]byte(l))
		if c := got[hex.EncodeToString(s[:])]; c != 1 {
			t.Errorf("bad line #%d (%.40q): %d parse_error records, want 1", i, l, c)
		}
	}
	for sum, c := range got {
		if !want[sum] {
			t.Errorf("%d unexpected parse_error records with raw_sha256 %q", c, sum)
		}
	}
	requireNoSecretsInFiles(t, e, []string{email})
	requireExactlyOnce(t, db, n)
	requireGaplessSeqs(t, db, e.chainID)
	requireValid(t, e.cfgPath)
}

// TestE2E_InvalidUTF8InAString: a well-formed event whose strings hold
// bytes that are not UTF-8 is stored as the event it is (a hostile agent
// cannot turn a tool call into a parse_error with one stray byte), its
// strings hold U+FFFD for the invalid bytes, and its record carries the
// SHA-256 of the line's exact bytes, so that what the agent wrote stays
// provable; a line that holds U+FFFD itself carries no digest, so the two
// are never confused.
func TestE2E_InvalidUTF8InAString(t *testing.T) {
	t.Parallel()
	const email = "utf8.case@example.com"
	lines := []string{
		"{\"n\":0,\"action\":\"tool_call\",\"tool\":\"shell\",\"arguments\":{\"cmd\":\"rm -rf /tmp/x\xff\xfe\",\"to\":\"" + email + "\"}}",
		"{\"n\":1,\"action\":\"tool_call\",\"tool\":\"sh\xc3\x28ell\",\"arguments\":{\"cmd\":\"ls\"}}",
		"{\"n\":2,\"action\":\"tool_call\",\"tool\":\"shell\",\"arguments\":{\"cmd\":\"rm -rf /tmp/x\uFFFD\uFFFD\"}}",
		// Escapes: an unpaired surrogate stands for no character (U+FFFD
		// and a digest); an escaped pair is one character (neither).
		`{"n":3,"action":"tool_call","tool":"shell","arguments":{"cmd":"rm -rf /tmp/x\ud800"}}`,
		`{"n":4,"action":"tool_call","tool":"shell","arguments":{"cmd":"echo \ud83d\ude00"}}`,
	}
	substituted := func(l string) bool { return !utf8.ValidString(l) || strings.Contains(l, `\ud800`) }
	e := newEnv(t)
	appendLines(t, e.logPath, strings.Join(lines, "\n")+"\n")
	p, db := startAndWait(t, e, len(lines))
	p.stop(t)

	rows, err := db.Query(`SELECT action, tool, json_extract(payload, '$.source.offset'),
		json_extract(payload, '$.source.raw_sha256'), payload FROM audit_records
		WHERE action NOT IN ('chain_start','checkpoint','seal','key_rotation','sidecar_start','sidecar_stop') ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var off int64
	i := 0
	for rows.Next() {
		var action, tool string
		var offset int64
		var sum sql.NullString
		var payload []byte
		if err := rows.Scan(&action, &tool, &offset, &sum, &payload); err != nil {
			t.Fatal(err)
		}
		if i >= len(lines) {
			t.Fatalf("unexpected record %s", payload)
		}
		l := lines[i]
		if action != "tool_call" {
			t.Errorf("line %d: action %q, want tool_call", i, action)
		}
		if offset != off {
			t.Errorf("line %d: source offset %d, want %d", i, offset, off)
		}
		if !utf8.Valid(payload) || bytes.Contains(payload, []byte("\uFFFD")) != (substituted(l) || strings.Contains(l, "\uFFFD")) {
			t.Errorf("line %d: payload is not UTF-8, or has U+FFFD where it should not or lacks it: %q", i, payload)
		}
		want := ""
		if substituted(l) {
			s := sha256.Sum256([]byte(l))
			want = hex.EncodeToString(s[:])
		}
		if sum.String != want {
			t.Errorf("line %d: source.raw_sha256 %q, want %q", i, sum.String, want)
		}
		if bytes.Contains(payload, []byte(email)) {
			t.Errorf("line %d: the e-mail address was stored", i)
		}
		if i == 1 && tool != "sh\uFFFD(ell" {
			t.Errorf("line %d: tool column %q", i, tool)
		}
		off += int64(len(l)) + 1
		i++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(lines) {
		t.Fatalf("%d event records, want %d", i, len(lines))
	}
	requireValid(t, e.cfgPath)
}

// TestE2E_InvalidUTF8InAString_Docker: under an envelope the digest is of
// the envelope's lines as they are in the file, whatever level of escaping
// held what decoding replaced.
func TestE2E_InvalidUTF8InAString_Docker(t *testing.T) {
	t.Parallel()
	wrap := func(log string) string {
		return `{"log":"` + log + `","stream":"stdout","time":"2026-11-27T10:00:00.5Z"}`
	}
	lines := []string{
		wrap("{\\\"n\\\":0,\\\"action\\\":\\\"tool_call\\\",\\\"tool\\\":\\\"sh\xffell\\\"}\\n"),
		wrap(`{\"n\":1,\"action\":\"tool_call\",\"tool\":\"sh\\ud800ell\"}\n`),
		wrap(`{\"n\":2,\"action\":\"tool_call\",\"tool\":\"shell\"}\n`),
	}
	e := newEnv(t)
	cfg := strings.Replace(e.configYAML(""), "  format: native\n", "  format: native\n  envelope: docker\n", 1)
	writeFile(t, e.cfgPath, []byte(cfg))
	appendLines(t, e.logPath, strings.Join(lines, "\n")+"\n")
	p, db := startAndWait(t, e, len(lines))
	p.stop(t)
	for i, l := range lines {
		var tool string
		var sum sql.NullString
		if err := db.QueryRow(`SELECT tool, json_extract(payload, '$.source.raw_sha256') FROM audit_records
			WHERE action = 'tool_call' AND json_extract(payload, '$.detail.n') = ?`, i).Scan(&tool, &sum); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		want := ""
		if i < 2 {
			s := sha256.Sum256([]byte(l))
			want = hex.EncodeToString(s[:])
			if tool != "sh\uFFFDell" {
				t.Errorf("event %d: tool %q", i, tool)
			}
		}
		if sum.String != want {
			t.Errorf("event %d: source.raw_sha256 %q, want %q", i, sum.String, want)
		}
	}
	requireValid(t, e.cfgPath)
}

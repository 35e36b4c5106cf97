package e2e

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The SQLite file is removed (rm data/audit.db*) while the sidecar runs:
// the sidecar finds it, says so (an error in the log, a count, audit_sink_up
// 0, /readyz not ready until it restarts) and opens a new file at the path,
// which takes the later records. The records delivered to the removed file
// are not sent again (the spool no longer holds them), and verify says the
// store lacks them.
func TestE2E_SQLiteRemovedWhileRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	appendLines(t, e.logPath, events(0, 20))
	p := e.start(t)
	addr := p.addr(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 20, p)
	before := maxSeq(t, db, "")
	db.Close() // nothing of the test keeps the old file open
	if status, _ := readyReason(t, addr); status != http.StatusOK {
		t.Fatalf("/readyz %d before the removal", status)
	}

	removeSQLite(t, e.dbPath)
	waitFor(t, "/readyz 503 naming the sink that lost records", func() bool {
		status, reason := readyReason(t, addr)
		return status == http.StatusServiceUnavailable && strings.Contains(reason, "sink local lacks records delivered to it")
	})
	if v, _ := sinkMetric(t, addr, "audit_sink_replaced_total", "local"); v != 1 {
		t.Errorf("audit_sink_replaced_total{sink=local} = %v, want 1", v)
	}
	if !strings.Contains(p.stderr(), "sink store replaced while open") {
		t.Error("no error in the log about the replaced store")
	}

	// Later events land in the new file at the path, and the sink stays
	// reported down while they do.
	appendLines(t, e.logPath, events(20, 30))
	db = openDB(t, e.dbPath)
	waitFor(t, "events 20..29 in the new file", func() bool { return countN(db) == 10 })
	counts := nCounts(t, db)
	for n := 20; n < 30; n++ {
		if counts[n] != 1 {
			t.Errorf("event %d stored %d times in the new file, want once", n, counts[n])
		}
	}
	first := minSeq(t, db)
	if first <= before {
		t.Errorf("the new file begins at seq %d, want after %d (what the removed file held)", first, before)
	}
	if up, _ := sinkMetric(t, addr, "audit_sink_up", "local"); up != 0 {
		t.Errorf("audit_sink_up{sink=local} = %v after the later writes, want 0", up)
	}
	if status, _ := readyReason(t, addr); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz %d after the later writes, want 503 until a restart", status)
	}
	db.Close()
	p.stop(t)

	requireMissingPrefix(t, e, first-1)

	// A restart finds the new file holding records: ready again, and no
	// record says it was found empty.
	p = e.start(t)
	addr = p.addr(t)
	waitFor(t, "/readyz 200 after the restart", func() bool { s, _ := readyReason(t, addr); return s == http.StatusOK })
	p.stop(t)
	if n := countOf(gapReasons(t, openDB(t, e.dbPath)), emptyReason(first-1)); n != 0 {
		t.Errorf("%d records say the sink was found empty, want none", n)
	}
}

// The SQLite file is removed while the sidecar is stopped: the start
// creates a new, empty file where the spool says records were delivered,
// and writes a chained gap record saying so (the first record of the new
// file), reports the loss like one found while running, and verify says
// the store lacks those records.
func TestE2E_SQLiteRemovedWhileStopped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	appendLines(t, e.logPath, events(0, 20))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 20, p)
	p.stop(t)
	through := maxSeq(t, db, "") // sidecar_stop included: all was delivered
	db.Close()
	removeSQLite(t, e.dbPath)

	appendLines(t, e.logPath, events(20, 30))
	p = e.start(t)
	addr := p.addr(t)
	db = openDB(t, e.dbPath)
	waitForEvents(t, db, 10, p)
	status, reason := readyReason(t, addr)
	if status != http.StatusServiceUnavailable || !strings.Contains(reason, "sink local lacks records delivered to it") {
		t.Errorf("/readyz %d %q, want 503 naming the sink", status, reason)
	}
	if v, _ := sinkMetric(t, addr, "audit_sink_replaced_total", "local"); v != 1 {
		t.Errorf("audit_sink_replaced_total{sink=local} = %v, want 1", v)
	}
	if !strings.Contains(p.stderr(), "sink found empty at start though records were delivered to it") {
		t.Error("no error in the log about the empty sink")
	}
	p.stop(t)

	var seq, deliveredThrough int
	var sinkName, gapReason string
	err := db.QueryRow(`SELECT seq, json_extract(payload, '$.detail.reason'), json_extract(payload, '$.detail.sink'),
		json_extract(payload, '$.detail.delivered_through') FROM audit_records WHERE action = 'gap'`).Scan(&seq, &gapReason, &sinkName, &deliveredThrough)
	if err != nil {
		t.Fatalf("the gap record: %v", err)
	}
	if seq != through+1 || minSeq(t, db) != through+1 || sinkName != "local" || deliveredThrough != through || gapReason != emptyReason(through) {
		t.Errorf("gap record at seq %d (first stored %d) for sink %q through %d: %q; want seq %d, sink local, through %d",
			seq, minSeq(t, db), sinkName, deliveredThrough, gapReason, through+1, through)
	}
	requireMissingPrefix(t, e, through)
}

// removeSQLite removes the database at path with its -wal and -shm files.
func removeSQLite(t *testing.T, path string) {
	t.Helper()
	for _, suf := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suf); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// emptyReason is the reason of the gap record written at a start that
// finds the sink empty though records through seq were delivered to it.
func emptyReason(through int) string {
	return fmt.Sprintf("sink local was found empty at start though the spool says records through seq %d had been delivered to it", through)
}

// requireMissingPrefix requires verify to answer invalid (1), naming seqs
// 1..through as missing.
func requireMissingPrefix(t *testing.T, e *env, through int) {
	t.Helper()
	code, out, errs := runVerify(t, e.cfgPath)
	want := regexp.MustCompile(`seq 1-` + strconv.Itoa(through) + `: records missing`)
	if code != 1 || !want.MatchString(out) {
		t.Errorf("verify exited %d, want 1 naming seq 1-%d as missing\nstdout:\n%s\nstderr:\n%s", code, through, out, errs)
	}
}

func minSeq(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT min(seq) FROM audit_records`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

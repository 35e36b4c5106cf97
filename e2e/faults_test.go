package e2e

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process-level fault tests: the spool's disk fills up, the spool reaches
// spool.max_bytes, SIGTERM arrives while the sink is down, and the sidecar
// is killed over and over while an agent keeps appending. The "sink down"
// tests point a postgres sink at a throwaway cluster (postgres_test.go)
// that is initialised but not started.

// faultPGConfigYAML is pgConfigYAML with spool.max_bytes and
// shutdown.drain_timeout set.
func faultPGConfigYAML(t *testing.T, e *env, dsn string, maxBytes int64, drain string) string {
	t.Helper()
	cfg := pgConfigYAML(e, dsn)
	for _, r := range [][2]string{
		{"spool:\n", fmt.Sprintf("spool:\n  max_bytes: %d\n", maxBytes)},
		{"  drain_timeout: 30s\n", "  drain_timeout: " + drain + "\n"},
	} {
		if strings.Count(cfg, r[0]) != 1 {
			t.Fatalf("pgConfigYAML has %d %q, want 1", strings.Count(cfg, r[0]), r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	return cfg
}

// metric reads the sample of the unlabelled metric name from /metrics; ok
// is false when it is not exported (yet).
func metric(t *testing.T, addr, name string) (v float64, ok bool) {
	t.Helper()
	status, body := get(t, addr, "", "/metrics", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", status)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, found := strings.CutPrefix(line, name+" "); found {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// mustMetric is metric, failing the test when the metric is not exported.
func mustMetric(t *testing.T, addr, name string) float64 {
	t.Helper()
	v, ok := metric(t, addr, name)
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	return v
}

// readyReason is the status and the reason of GET /readyz.
func readyReason(t *testing.T, addr string) (int, string) {
	t.Helper()
	status, body := get(t, addr, "", "/readyz", nil)
	var r struct{ Reason string }
	json.Unmarshal(body, &r) //nolint:errcheck // an empty reason fails the callers' checks
	return status, r.Reason
}

// vmRSS is the resident set size of process pid in bytes, from
// /proc/<pid>/status.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read RSS: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("parse VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/%d/status has no VmRSS", pid)
	return 0
}

// alive fails the test if p has exited.
func alive(t *testing.T, p *proc, when string) {
	t.Helper()
	if p.exited() {
		t.Fatalf("audit-sidecar exited (%v) %s; stderr:\n%s", p.state, when, p.stderr())
	}
}

// mountTmpfs mounts a tmpfs of size bytes on dir (created), unmounted at
// the end of the test after the processes started later are gone. The test
// is skipped when it cannot mount (not root, no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("mount -t tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("umount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH) //nolint:errcheck // best effort
		}
	})
}

// paddedEvents is the agent events from..to-1, each carrying pad bytes of
// filler so that a few thousand fill a small disk.
func paddedEvents(from, to, pad int) string {
	var b strings.Builder
	filler := strings.Repeat("x", pad)
	for n := from; n < to; n++ {
		b.WriteString(event(map[string]any{"action": "tool_call", "tool": "fill", "user": "u-1", "n": n, "pad": filler}))
	}
	return b.String()
}

// diskFullPad is the filler bytes per event of the disk-full test, and
// diskFullChunk the events it appends at a time.
const diskFullPad, diskFullChunk = 1024, 200

// fillSpoolDisk appends padded events from `from` on until p logs a failed
// spool commit (for the first time since the log held failedBefore such
// lines), then one chunk more, so that lines wait behind the failing
// commit. It returns the number of events in the log.
func fillSpoolDisk(t *testing.T, e *env, p *proc, addr string, from, failedBefore int) int {
	t.Helper()
	full := func() bool { return commitFailures(p) > failedBefore }
	total := from
	for !full() {
		if total-from >= 20000 {
			t.Fatalf("%d events (%d MiB) appended and no spool commit failed", total-from, (total-from)*diskFullPad>>20)
		}
		appendLines(t, e.logPath, paddedEvents(total, total+diskFullChunk, diskFullPad))
		total += diskFullChunk
		waitFor(t, "the chunk to be spooled or a spool commit to fail", func() bool {
			alive(t, p, "while the spool's disk filled")
			if full() {
				return true
			}
			// The head counts the sidecar's own records too: at least
			// one before the events.
			head, _ := metric(t, addr, "audit_chain_head_seq")
			return head > float64(total)
		})
	}
	appendLines(t, e.logPath, paddedEvents(total, total+diskFullChunk, diskFullPad))
	return total + diskFullChunk
}

// commitFailures counts the "spool commit failed; retrying" lines p logged.
func commitFailures(p *proc) int {
	n := 0
	for _, line := range strings.Split(p.stderr(), "\n") {
		var l struct{ Msg string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "spool commit failed; retrying" {
			n++
		}
	}
	return n
}

// fillDisk takes what is left of the file system of dir with a file of
// its own, so that the disk is full whatever the spool's last write left.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			buf = buf[:len(buf)/2]
		}
	}
}

// TestE2E_SpoolDiskFull puts the spool on a 4 MiB tmpfs while the only
// sink is down and appends until the spool's disk is full (ENOSPC). The
// sidecar keeps running and retrying its commit, and its chain head (so
// its committed source position) stays put; once the sink is up the spool
// drains, the commit goes through in the same process and every line
// arrives. Then the disk fills again, the sidecar is killed with SIGKILL
// while its commit fails, restarted on the full disk, and once there is
// room (the filler removed, the sink up) every line is stored exactly
// once and the chain verifies.
func TestE2E_SpoolDiskFull(t *testing.T) {
	t.Parallel()
	c := newPGCluster(t) // initialised, not started: the sink is down
	e := newEnv(t)
	fs := filepath.Join(e.dir, "spoolfs")
	mountTmpfs(t, fs, 4<<20)
	e.spoolPath = filepath.Join(fs, "spool.db")
	writeFile(t, e.cfgPath, []byte(faultPGConfigYAML(t, e, c.dsn, 1<<40, "2s")))
	appendLines(t, e.logPath, "")
	p := e.start(t)
	addr := p.addr(t)

	// Phase 1: full disk, recovered in-process by the sink coming back.
	total := fillSpoolDisk(t, e, p, addr, 0, 0)
	fillDisk(t, fs)
	t.Logf("spool disk full after about %d events", total)
	head := mustMetric(t, addr, "audit_chain_head_seq")
	failed := commitFailures(p)
	waitFor(t, "more failed spool commits", func() bool {
		alive(t, p, "while the spool's disk was full")
		return commitFailures(p) >= failed+3
	})
	if h := mustMetric(t, addr, "audit_chain_head_seq"); h != head {
		t.Fatalf("chain head moved from %v to %v while every spool commit failed", head, h)
	}
	if head >= float64(total+2) {
		t.Fatalf("chain head %v covers all %d events although commits fail", head, total)
	}
	waitFor(t, "/readyz 503 naming the failing spool commits", func() bool {
		status, reason := readyReason(t, addr)
		return status == http.StatusServiceUnavailable && strings.Contains(reason, "spool commits failing")
	})
	c.start(t)
	pgWaitForEvents(t, c, e.chainID, total, p)
	alive(t, p, "after the sink drained the full spool")

	// Phase 2: full again, killed while full, restarted while full.
	c.stop(t)
	total = fillSpoolDisk(t, e, p, addr, total, commitFailures(p))
	t.Logf("spool disk full again after %d events in all", total)
	p.kill9(t)
	p = e.start(t)
	addr = p.addr(t)
	waitFor(t, "the restarted sidecar to fail a spool commit on the full disk (or to fit)", func() bool {
		alive(t, p, "restarted on a full spool disk")
		head, _ := metric(t, addr, "audit_chain_head_seq")
		return commitFailures(p) > 0 || head >= float64(total+3)
	})
	if err := os.Remove(filepath.Join(fs, "filler")); err != nil {
		t.Fatal(err)
	}
	c.start(t)
	pgWaitForEvents(t, c, e.chainID, total, p)
	p.stop(t)

	ch := pgRequireChain(t, c, e.chainID, total)
	requireOwnRecords(t, ch, 2, 2)
	if want := total + 4; ch.head != want {
		t.Errorf("head seq %d, want %d (events + chain_start, 2 sidecar_start, sidecar_stop)", ch.head, want)
	}
	requireValidPG(t, e.cfgPath)
}

// TestE2E_SpoolLimitBackpressure fills a 1 MiB spool (the least
// spool.max_bytes the config accepts) while the only sink
// is down: the source is paused (readiness, metric and log say so) and the
// process's memory stays bounded; once the sink is up everything arrives
// exactly once and the pause ends.
func TestE2E_SpoolLimitBackpressure(t *testing.T) {
	t.Parallel()
	const (
		maxBytes = 1 << 20
		total    = 15000 // about 5 MB of records: five times the limit
		rssLimit = 200 << 20
	)
	c := newPGCluster(t) // initialised, not started: the sink is down
	e := newEnv(t)
	writeFile(t, e.cfgPath, []byte(faultPGConfigYAML(t, e, c.dsn, maxBytes, "2s")))
	appendLines(t, e.logPath, "")
	p := e.start(t)
	addr := p.addr(t)
	pid := p.cmd.Process.Pid

	var peak int64
	sample := func() {
		if rss := vmRSS(t, pid); rss > peak {
			peak = rss
		}
	}
	for n := 0; n < total; n += 500 {
		appendLines(t, e.logPath, pgEvents(n, min(n+500, total)))
		sample()
	}
	var head float64 // the chain head once the source is paused
	waitFor(t, "audit_spool_full 1", func() bool {
		alive(t, p, "while the spool filled")
		sample()
		v, ok := metric(t, addr, "audit_spool_full")
		head = mustMetric(t, addr, "audit_chain_head_seq")
		return ok && v == 1
	})
	waitFor(t, "the spool-full log line", func() bool {
		return pgLogged(p.stderr(), "spool full: source reading paused; lines are at risk if the source rotates away")
	})
	status, reason := readyReason(t, addr)
	if status != http.StatusServiceUnavailable || !strings.Contains(reason, "spool full") {
		t.Errorf("/readyz %d %q while the spool is full, want 503 and a spool-full reason", status, reason)
	}
	pending := mustMetric(t, addr, "audit_spool_pending_bytes")
	if pending < maxBytes || head >= total {
		t.Errorf("spool full with %v pending bytes and head seq %v (limit %d, %d events)", pending, head, maxBytes, total)
	}
	// Paused: nothing was sealed since the spool was found full.
	if v, _ := metric(t, addr, "audit_spool_full"); v != 1 {
		t.Fatalf("audit_spool_full %v with the sink still down", v)
	}
	if h := mustMetric(t, addr, "audit_chain_head_seq"); h != head {
		t.Errorf("chain head moved from %v to %v while the spool was full", head, h)
	}
	t.Logf("spool full: %v pending bytes, head seq %v, peak RSS %d MiB", pending, head, peak>>20)
	if peak > rssLimit {
		t.Errorf("RSS reached %d MiB while the spool was full, want below %d MiB", peak>>20, rssLimit>>20)
	}

	c.start(t)
	pgWaitForEvents(t, c, e.chainID, total, p)
	waitFor(t, "audit_spool_full 0 and /readyz 200 once the sink drained the spool", func() bool {
		v, ok := metric(t, addr, "audit_spool_full")
		return ok && v == 0 && readyStatus(t, addr) == http.StatusOK
	})
	if !pgLogged(p.stderr(), "spool has room: source reading resumed") {
		t.Errorf("no log line saying source reading resumed")
	}
	sample()
	if peak > rssLimit {
		t.Errorf("RSS reached %d MiB, want below %d MiB", peak>>20, rssLimit>>20)
	}
	p.stop(t)

	ch := pgRequireChain(t, c, e.chainID, total)
	requireOwnRecords(t, ch, 1, 1)
	if want := total + 3; ch.head != want {
		t.Errorf("head seq %d, want %d (events + chain_start, sidecar_start, sidecar_stop)", ch.head, want)
	}
	requireValidPG(t, e.cfgPath)
}

// TestE2E_SigtermWhileSinkDown stops the sidecar with SIGTERM while its
// only sink is down and every event is spooled: it gives up the drain at
// shutdown.drain_timeout and exits 0 by its orderly shutdown (not by the
// watchdog that forces an exit), and the next run, with the sink up,
// delivers every event exactly once.
func TestE2E_SigtermWhileSinkDown(t *testing.T) {
	t.Parallel()
	const (
		total = 500
		drain = 2 * time.Second
	)
	c := newPGCluster(t) // initialised, not started: the sink is down
	e := newEnv(t)
	writeFile(t, e.cfgPath, []byte(faultPGConfigYAML(t, e, c.dsn, 1<<30, drain.String())))
	appendLines(t, e.logPath, "")
	p := e.start(t)
	addr := p.addr(t)
	appendPGEvents(t, e.logPath, 0, total, 50)
	waitFor(t, "every event to be spooled", func() bool {
		alive(t, p, "with the sink down")
		return mustMetric(t, addr, "audit_chain_head_seq") >= total+2
	})
	// The lag is updated at each delivery attempt (backing off).
	waitFor(t, fmt.Sprintf(`audit_sink_lag_records{sink="central"} >= %d`, total), func() bool {
		lag, ok := sinkMetric(t, addr, "audit_sink_lag_records", pgSinkName)
		return ok && lag >= total
	})

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(exitDeadline):
		t.Fatalf("audit-sidecar still running %s after SIGTERM with the sink down", exitDeadline)
	}
	if code := p.state.ExitCode(); code != 0 {
		t.Fatalf("audit-sidecar exited with %d after SIGTERM with the sink down, want 0", code)
	}
	// The drain was given up, then the shutdown went on to its end.
	stderr := p.stderr()
	drained := strings.Index(stderr, "drain timeout: undelivered records stay in the spool")
	stopped := strings.Index(stderr, `"sidecar stopped"`)
	if drained < 0 || stopped < drained {
		t.Errorf("want the drain-timeout log line, then \"sidecar stopped\"; at %d and %d", drained, stopped)
	}
	if pgLogged(stderr, "shutdown did not finish in time") {
		t.Errorf("the watchdog ended the process: the shutdown did not end by itself")
	}

	c.start(t)
	p = e.start(t)
	pgWaitForEvents(t, c, e.chainID, total, p)
	p.stop(t)

	ch := pgRequireChain(t, c, e.chainID, total)
	requireOwnRecords(t, ch, 2, 2)
	if k := ch.actions["sidecar_stop"]; k != 2 {
		t.Errorf("%d sidecar_stop records, want 2", k)
	}
	if want := total + 5; ch.head != want {
		t.Errorf("head seq %d, want %d (events + chain_start, 2 sidecar_start, 2 sidecar_stop)", ch.head, want)
	}
	requireValidPG(t, e.cfgPath)
}

// TestE2E_CrashLoop restarts the sidecar ten times while an agent keeps
// appending, killing each run with SIGKILL at a random moment (some right
// after the start), then runs it cleanly: every line is stored exactly
// once at its own offset, seqs are contiguous, and the committed source
// position never goes backwards.
func TestE2E_CrashLoop(t *testing.T) {
	t.Parallel()
	const kills = 10
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))

	e := newEnv(t)
	appendLines(t, e.logPath, "")
	w := startAppender(e.logPath, seed)
	defer func() {
		select {
		case <-w.stop:
		default:
			w.finish(t)
		}
	}()
	db := openDB(t, e.dbPath)
	for i := 0; i < kills; i++ {
		p := e.start(t)
		var d time.Duration
		if i%3 != 0 { // every third run dies right after the start
			d = time.Duration(rng.IntN(2500)) * time.Millisecond
		}
		time.Sleep(d) // a random moment to kill at, not an assertion
		p.kill9(t)
		t.Logf("kill -9 #%d after %s: %d events written, %d stored", i+1, d, w.written(), countN(db))
	}
	total := w.finish(t)
	p := e.start(t)
	waitForEvents(t, db, total, p)
	p.stop(t)

	requireExactlyOnce(t, db, total)
	requireGaplessSeqs(t, db, e.chainID)
	requireOffsets(t, db, e.chainID, e.logPath)
	requireValid(t, e.cfgPath)
}

// requireOffsets reads the chain in seq order and fails unless every event
// n's source offset is where line n starts in the log file (one file
// generation), the offsets increase with seq, each sidecar_start's resume
// position is not behind the previous one and is where the next event
// read after it begins, and there is exactly one chain_start.
func requireOffsets(t *testing.T, db *sql.DB, chain, logPath string) {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var starts []int64 // starts[n]: offset of line n
	for off := 0; off < len(data); {
		starts = append(starts, int64(off))
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			t.Fatalf("log ends in a partial line at offset %d", off)
		}
		off += i + 1
	}
	fi, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino

	rows, err := db.Query(`SELECT seq, action, payload FROM audit_records WHERE chain = ? ORDER BY seq`, chain)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type position struct {
		Ino    uint64 `json:"ino"`
		Offset int64  `json:"offset"`
	}
	var (
		lastOff     int64 = -1 // offset of the previous event
		lastResume  int64 = -1 // offset of the previous sidecar_start's resume
		wantNext    int64 = -1 // the resume offset the next event must have; -1: none pending
		chainStarts int
		sidecarRuns int
		resumes     int
		bad         []string
	)
	fail := func(format string, args ...any) {
		if len(bad) < 10 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	for rows.Next() {
		var seq int64
		var action string
		var payload []byte
		if err := rows.Scan(&seq, &action, &payload); err != nil {
			t.Fatal(err)
		}
		var r struct {
			Detail struct {
				N      *int      `json:"n"`
				Resume *position `json:"resume"`
			} `json:"detail"`
			Source *position `json:"source"`
		}
		if err := json.Unmarshal(payload, &r); err != nil {
			t.Fatalf("seq %d: decode payload: %v", seq, err)
		}
		switch action {
		case "chain_start":
			chainStarts++
		case "sidecar_start":
			sidecarRuns++
			res := r.Detail.Resume
			if res == nil {
				if lastResume >= 0 || lastOff >= 0 {
					fail("seq %d: sidecar_start without a resume position after events were committed", seq)
				}
				continue
			}
			if res.Ino != ino {
				fail("seq %d: resume position in inode %d, the log is inode %d", seq, res.Ino, ino)
			}
			if res.Offset < lastResume {
				fail("seq %d: resume offset %d is behind the previous run's %d", seq, res.Offset, lastResume)
			}
			if res.Offset < lastOff {
				fail("seq %d: resume offset %d is behind event at offset %d, already stored", seq, res.Offset, lastOff)
			}
			lastResume, wantNext = res.Offset, res.Offset
			resumes++
		}
		if r.Detail.N == nil {
			continue
		}
		n := *r.Detail.N
		if r.Source == nil {
			fail("seq %d: event n=%d without a source", seq, n)
			continue
		}
		off := r.Source.Offset
		switch {
		case r.Source.Ino != ino:
			fail("seq %d: event n=%d from inode %d, the log is inode %d", seq, n, r.Source.Ino, ino)
		case n < 0 || n >= len(starts) || starts[n] != off:
			fail("seq %d: event n=%d at offset %d, not where line %d starts", seq, n, off, n)
		case off <= lastOff:
			fail("seq %d: offset %d after offset %d: the source went backwards", seq, off, lastOff)
		case wantNext >= 0 && off != wantNext:
			fail("seq %d: first event after a start at offset %d, the run resumed at %d", seq, off, wantNext)
		}
		lastOff, wantNext = off, -1
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if chainStarts != 1 {
		fail("%d chain_start records, want 1", chainStarts)
	}
	if len(bad) > 0 {
		t.Fatalf("source offsets: %s", strings.Join(bad, "; "))
	}
	t.Logf("%d runs recorded a sidecar_start (%d with a resume position); offsets checked for %d lines",
		sidecarRuns, resumes, len(starts))
}

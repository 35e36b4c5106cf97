package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The process side of the fault model: runs of the real binary started,
// killed, stopped, paused and resumed, and the SQLite sink made
// unwritable for a while.

// fmRun is one run of `audit-sidecar run`.
type fmRun struct {
	n          int
	cmd        *exec.Cmd
	done       chan struct{}
	state      *os.ProcessState
	stderrPath string
	// startAt is just before the exec, endAt just after the exit was seen
	// (zero while it runs): the records it ingested have ingested_at in
	// between.
	startAt, endAt time.Time
	// ready holds the generations (and their epochs) that existed when the
	// run had started tailing (nothing was changed between the exec and
	// then).
	ready  map[*fmGen]int
	paused bool
	ended  string // how it ended
	// Filled in by the check: where it resumed (its sidecar_start) and
	// the lines it stored.
	resume     string
	stored     int
	minN, maxN int
}

func (r *fmRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// alive reports whether t lies within the run's life.
func (r *fmRun) alive(t time.Time) bool {
	return !t.Before(r.startAt) && (r.endAt.IsZero() || !t.After(r.endAt))
}

func (r *fmRun) String() string {
	var ready []string
	for g := range r.ready {
		ready = append(ready, g.String())
	}
	sort.Strings(ready)
	end := "alive"
	if !r.endAt.IsZero() {
		end = r.ended
	}
	out := fmt.Sprintf("run %d: %s; generations at its start: %s", r.n, end, strings.Join(ready, " "))
	if r.resume != "" {
		out += "; resumed at " + r.resume
	}
	if r.stored > 0 {
		out += fmt.Sprintf("; stored %d lines, n=%d..%d", r.stored, r.minN, r.maxN)
	}
	return out
}

// fmTailingMsgs are the log messages after which the tailer holds the
// generations it is going to read: the first says it started on one, the
// second that the path is missing.
var fmTailingMsgs = map[string]bool{"tailing": true, "waiting for file to appear": true}

// start starts a run and waits until its tailer has started (its first
// "tailing" log line), so that the generations on disk then are the ones
// it found at its start.
func (s *faultSeq) start(why string) {
	if s.outage != nil {
		s.endOutage(" before a start (the SQLite sink must open)")
	}
	r := &fmRun{n: len(s.runs) + 1, done: make(chan struct{}),
		stderrPath: filepath.Join(s.e.dir, fmt.Sprintf("stderr-%d.log", len(s.runs)+1))}
	f, err := os.Create(r.stderrPath)
	if err != nil {
		s.t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "run", "--config", s.e.cfgPath)
	r.cmd.Stderr = f
	r.startAt = time.Now()
	if err := r.cmd.Start(); err != nil {
		f.Close()
		s.t.Fatalf("start audit-sidecar: %v", err)
	}
	go func() {
		r.cmd.Wait() //nolint:errcheck // the exit status is read from ProcessState
		r.state = r.cmd.ProcessState
		f.Close()
		close(r.done)
	}()
	s.runs = append(s.runs, r)
	s.cur = r
	r.ready = s.w.existing()
	deadline := time.Now().Add(waitDeadline)
	for !fmLogged(r.stderrPath, fmTailingMsgs) {
		if r.exited() {
			s.fatalf("run %d exited (%v) before it started tailing", r.n, r.state)
		}
		if time.Now().After(deadline) {
			s.fatalf("run %d did not log that it started tailing within %s", r.n, waitDeadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.step("start run %d%s", r.n, why)
}

// fmLogged reports whether the log file holds a line with one of msgs.
func fmLogged(path string, msgs map[string]bool) bool {
	found := false
	fmEachLog(path, func(l map[string]any) bool {
		m, _ := l["msg"].(string)
		found = msgs[m]
		return !found
	})
	return found
}

// fmEachLog calls fn with every JSON log line of path until fn returns
// false.
func fmEachLog(path string, fn func(map[string]any) bool) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if !fn(l) {
			return
		}
	}
}

// fmWarnings is what a run logged at warn level or above, compactly.
func fmWarnings(path string, max int) []string {
	var out []string
	skipped := 0
	fmEachLog(path, func(l map[string]any) bool {
		switch l["level"] {
		case "info", "debug", nil:
			return true
		}
		if len(out) == max {
			skipped++
			return true
		}
		msg, _ := l["msg"].(string)
		var keys []string
		for k := range l {
			switch k {
			case "level", "ts", "msg", "caller", "logger", "stacktrace":
			default:
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var b strings.Builder
		fmt.Fprintf(&b, "%v: %s", l["level"], msg)
		for _, k := range keys {
			v, _ := json.Marshal(l[k])
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
		line := b.String()
		if len(line) > 300 {
			line = line[:300] + "..."
		}
		out = append(out, line)
		return true
	})
	if skipped > 0 {
		out = append(out, fmt.Sprintf("(%d more)", skipped))
	}
	return out
}

// fmHeadSeq is the spool's head seq the run logged when it stopped; ok is
// false when it did not log it.
func fmHeadSeq(path string) (seq int64, ok bool) {
	fmEachLog(path, func(l map[string]any) bool {
		if l["msg"] == "sidecar stopped" {
			if v, isNum := l["head_seq"].(float64); isNum {
				seq, ok = int64(v), true
			}
		}
		return true
	})
	return seq, ok
}

func (s *faultSeq) signal(sig syscall.Signal) {
	if err := s.cur.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Fatalf("%v: %v", sig, err)
	}
}

func (s *faultSeq) ended(how string) {
	r := s.cur
	r.endAt, r.ended, r.paused = time.Now(), how, false
	s.cur = nil
}

func (s *faultSeq) kill9() {
	n := s.cur.n
	s.signal(syscall.SIGKILL)
	<-s.cur.done
	s.ended("kill -9")
	s.step("kill -9 run %d", n)
}

// term stops the run with SIGTERM (resuming it first if it is paused) and
// requires a clean exit.
func (s *faultSeq) term() {
	r := s.cur
	if r.paused {
		s.signal(syscall.SIGCONT)
	}
	s.signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(2 * exitDeadline):
		s.fatalf("run %d did not exit within %s of SIGTERM", r.n, 2*exitDeadline)
	}
	s.ended("SIGTERM")
	if code := r.state.ExitCode(); code != 0 {
		s.fatalf("run %d exited with %d after SIGTERM, want 0", r.n, code)
	}
	s.step("SIGTERM run %d: exit 0", r.n)
}

func (s *faultSeq) pause() {
	s.signal(syscall.SIGSTOP)
	s.cur.paused = true
	s.step("SIGSTOP run %d", s.cur.n)
}

func (s *faultSeq) resume() {
	s.signal(syscall.SIGCONT)
	s.cur.paused = false
	s.step("SIGCONT run %d", s.cur.n)
}

// requireAlive fails the sequence if the current run exited on its own.
func (s *faultSeq) requireAlive() {
	if s.cur != nil && s.cur.exited() {
		r := s.cur
		s.ended("exited by itself")
		s.fatalf("run %d exited by itself (%v)", r.n, r.state)
	}
}

// fmOutage holds SQLite's write lock on the sink's database from another
// connection: every write of the sidecar waits for the lock, fails with
// SQLITE_BUSY and is retried, as with any sink that cannot take writes.
// (The tests run as root, so taking file permissions away would not stop
// the sidecar.)
type fmOutage struct {
	db   *sql.DB
	conn *sql.Conn
}

func (s *faultSeq) beginOutage() {
	long := s.rng.IntN(3) == 0 // drawn first: the steps drawn next do not depend on the lock
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitDeadline)
	defer cancel()
	db, err := sql.Open("sqlite", "file:"+s.e.dbPath+"?_pragma=busy_timeout(20000)")
	if err != nil {
		s.t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err == nil {
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		if err != nil {
			conn.Close()
		}
	}
	if err != nil {
		db.Close()
		s.step("sink outage not begun: %v", err)
		return
	}
	s.outage = &fmOutage{db: db, conn: conn}
	s.step("sink outage begins (SQLite write lock held)")
	if !long {
		return
	}
	// A long outage: the sidecar's writes wait out SQLite's busy timeout,
	// fail and are retried while lines keep coming.
	failed := fmCount(s.cur.stderrPath, fmSinkFailedMsg)
	s.step("%s", s.w.appendLines(1+s.rng.IntN(20), false))
	deadline := time.Now().Add(waitDeadline)
	for fmCount(s.cur.stderrPath, fmSinkFailedMsg) == failed && time.Now().Before(deadline) && !s.cur.exited() {
		time.Sleep(100 * time.Millisecond)
	}
	s.step("long sink outage: %d failed sink writes logged", fmCount(s.cur.stderrPath, fmSinkFailedMsg)-failed)
}

// fmSinkFailedMsg is what the deliverer logs when a sink write fails.
const fmSinkFailedMsg = "sink write failed; records stay spooled and will be retried"

// fmCount counts the log lines of path with message msg.
func fmCount(path, msg string) int {
	n := 0
	fmEachLog(path, func(l map[string]any) bool {
		if l["msg"] == msg {
			n++
		}
		return true
	})
	return n
}

func (s *faultSeq) endOutage(why string) {
	o := s.outage
	s.outage = nil
	ctx, cancel := context.WithTimeout(context.Background(), waitDeadline)
	defer cancel()
	_, err := o.conn.ExecContext(ctx, "ROLLBACK")
	o.conn.Close()
	o.db.Close()
	if err != nil {
		s.t.Fatalf("end the sink outage: %v", err)
	}
	s.step("sink outage ends%s", why)
}

// cleanup kills what is left of the sequence's processes and lock.
func (s *faultSeq) cleanup() {
	if s.cur != nil {
		s.cur.cmd.Process.Kill() //nolint:errcheck // best effort at cleanup
		<-s.cur.done
		s.ended("killed at cleanup")
	}
	if s.outage != nil {
		s.outage.conn.Close()
		s.outage.db.Close()
		s.outage = nil
	}
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Hundreds of logrotate-style rotations through the running binary: every
// line stored once, and the process's open files and goroutines come back
// to their level (scenario 21), as the spool's size does once delivered.
func TestE2E_ManyRotations(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	t.Parallel()
	e := newEnv(t)
	e.rotateDrain = "10ms"
	e.writeConfig(t, "")
	appendLines(t, e.logPath, "")
	p := e.start(t)
	addr := p.addr(t)
	db := openDB(t, e.dbPath)
	n := 0
	write := func(count int) {
		var b strings.Builder
		for range count {
			b.WriteString(event(map[string]any{"action": "tool_call", "tool": "search", "n": n}))
			n++
		}
		appendLines(t, e.logPath, b.String())
	}
	write(5)
	waitForEvents(t, db, n, p)
	baseFDs, baseG := mustMetric(t, addr, "process_open_fds"), mustMetric(t, addr, "go_goroutines")

	const rotations = 300
	for r := range rotations {
		write(3)
		for i := 2; i >= 1; i-- { // rotate 3: .2 -> .3, .1 -> .2, path -> .1
			from := fmt.Sprintf("%s.%d", e.logPath, i)
			if _, err := os.Stat(from); err == nil {
				if err := os.Rename(from, fmt.Sprintf("%s.%d", e.logPath, i+1)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.Rename(e.logPath, e.logPath+".1"); err != nil {
			t.Fatal(err)
		}
		appendLines(t, e.logPath, "")
		if r%2 == 1 {
			// A generation deleted before anyone opened it is gone for any
			// reader: stay within the three siblings kept.
			waitForEvents(t, db, n, p)
		}
	}
	write(5)
	waitForEvents(t, db, n, p)
	waitFor(t, "open files and goroutines back to their level", func() bool {
		return mustMetric(t, addr, "process_open_fds") <= baseFDs+2 && mustMetric(t, addr, "go_goroutines") <= baseG+3
	})
	if rot := mustMetric(t, addr, "audit_source_rotations_total"); rot < rotations/2 {
		t.Errorf("audit_source_rotations_total %v after %d rotations", rot, rotations)
	}
	p.stop(t)
	requireExactlyOnce(t, db, n)
	if fi, err := os.Stat(e.spoolPath); err != nil {
		t.Error(err)
	} else if fi.Size() > 8<<20 {
		t.Errorf("spool file of %d bytes after %d rotations", fi.Size(), rotations)
	}
	if left, _ := filepath.Glob(e.logPath + ".*"); len(left) > 3 {
		t.Errorf("test left %d siblings", len(left))
	}
	requireValid(t, e.cfgPath)
}

// The kernel's inotify queue overflows under the running binary: its
// inotify instance is created with a queue of 8 events, then the log's
// directory is flooded and the log rotated meanwhile. The overflow is
// logged, polling carries on, and every line is stored once (scenario 11).
func TestE2E_InotifyOverflow(t *testing.T) {
	const knob = "/proc/sys/fs/inotify/max_queued_events"
	old, err := os.ReadFile(knob)
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and " + knob)
	}
	e := newEnv(t)
	appendLines(t, e.logPath, event(map[string]any{"action": "decision", "n": 0}))
	if err := os.WriteFile(knob, []byte("8"), 0o644); err != nil {
		t.Skipf("cannot lower %s: %v", knob, err)
	}
	restore := func() { os.WriteFile(knob, old, 0o644) }
	t.Cleanup(restore)
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 1, p) // the tailer's instance exists, with the small queue
	restore()

	n := 1
	overflowed := false
	for try := 0; try < 20 && !overflowed; try++ {
		for i := range 300 {
			writeFile(t, filepath.Join(e.dir, fmt.Sprintf("noise-%d-%d", try, i)), nil)
		}
		appendLines(t, e.logPath, event(map[string]any{"action": "decision", "n": n}))
		n++
		for i := 0; i < 20 && !overflowed; i++ { // a second at most per try
			overflowed = strings.Contains(p.stderr(), "relying on polling")
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !overflowed {
		t.Skip("the queue did not overflow")
	}
	if err := os.Rename(e.logPath, e.logPath+".1"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for range 20 {
		b.WriteString(event(map[string]any{"action": "decision", "n": n}))
		n++
	}
	appendLines(t, e.logPath, b.String())
	waitForEvents(t, db, n, p)
	p.stop(t)
	requireExactlyOnce(t, db, n)
	requireValid(t, e.cfgPath)
}

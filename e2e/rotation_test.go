package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2E_RotationWhileRunning rotates the log logrotate-style three times
// while writing; the writer keeps appending to the renamed file for a while
// before it reopens the path, as real agents do.
func TestE2E_RotationWhileRunning(t *testing.T) {
	t.Parallel()
	const rotations, perFile, afterRename = 3, 200, 20
	e := newEnv(t)
	e.rotateDrain = "2s"
	e.writeConfig(t, "")
	f, err := os.OpenFile(e.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { f.Close() }()
	p := e.start(t)
	p.addr(t) // the sink is open before the listener
	db := openDB(t, e.dbPath)

	n := 0
	write := func(count int) {
		for i := 0; i < count; i += 20 {
			var b strings.Builder
			for j := 0; j < 20 && i+j < count; j++ {
				b.WriteString(event(map[string]any{"action": "tool_call", "tool": "rotate", "n": n}))
				n++
			}
			if _, err := f.WriteString(b.String()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond) // the writer's pace
		}
	}
	// The tailer must hold the first file before it is rotated: a file
	// rotated away before the first start is an older rotation, not read.
	write(20)
	waitForEvents(t, db, n, p)
	for r := 0; r < rotations; r++ {
		write(perFile)
		// logrotate style: log.k -> log.k+1, then log -> log.1.
		for k := r; k >= 1; k-- {
			if err := os.Rename(fmt.Sprintf("%s.%d", e.logPath, k), fmt.Sprintf("%s.%d", e.logPath, k+1)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Rename(e.logPath, e.logPath+".1"); err != nil {
			t.Fatal(err)
		}
		// The writer has not reopened yet: these land in the renamed file.
		write(afterRename)
		f.Close()
		if f, err = os.OpenFile(e.logPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(perFile)
	total := n
	waitForEvents(t, db, total, p)
	p.stop(t)

	requireExactlyOnce(t, db, total)
	requireGaplessSeqs(t, db, e.chainID)
	requireValid(t, e.cfgPath)
}

// TestE2E_RotationBurstWhilePaused rotates twice while the sidecar cannot
// look (SIGSTOP), so that the middle generation is never seen at the path:
// it must be found among the siblings and read, whether or not the path
// exists when the sidecar looks again.
func TestE2E_RotationBurstWhilePaused(t *testing.T) {
	t.Parallel()
	for _, pathMissing := range []bool{false, true} {
		name := "path recreated before the sidecar looks"
		if pathMissing {
			name = "path missing when the sidecar looks"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			lines := func(from, to int) string {
				var b strings.Builder
				for n := from; n < to; n++ {
					b.WriteString(event(map[string]any{"action": "tool_call", "tool": "burst", "n": n}))
				}
				return b.String()
			}
			rename := func(from, to string) {
				if err := os.Rename(e.logPath+from, e.logPath+to); err != nil {
					t.Fatal(err)
				}
			}
			appendLines(t, e.logPath, lines(0, 10))
			p := e.start(t)
			p.addr(t)
			db := openDB(t, e.dbPath)
			waitForEvents(t, db, 10, p)

			if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			rename("", ".1")
			appendLines(t, e.logPath, lines(10, 20)) // a generation the sidecar never sees at the path
			rename(".1", ".2")
			rename("", ".1")
			if !pathMissing {
				appendLines(t, e.logPath, lines(20, 30))
			}
			if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			total := 30
			if pathMissing {
				// Several checks while the path is missing, as between the
				// rename and the create of a rotation. A writer still
				// holding the first file (now .2, the one the sidecar has
				// open) appends to it line by line. Each line is written
				// once the one before it is stored, long after the read
				// that handed that one out reached the end of the file, and
				// the tailer checks the path after such a read and before
				// it reads again: each line proves one more check with the
				// path missing.
				for n := 20; n < 23; n++ {
					appendLines(t, e.logPath+".2", lines(n, n+1))
					waitFor(t, fmt.Sprintf("event %d stored", n), func() bool { return nCounts(t, db)[n] > 0 })
				}
				appendLines(t, e.logPath, lines(23, 33))
				total = 33
			}
			waitForEvents(t, db, total, p)
			p.stop(t)
			requireExactlyOnce(t, db, total)
			requireGaplessSeqs(t, db, e.chainID)
			requireValid(t, e.cfgPath)
		})
	}
}

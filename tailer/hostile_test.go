package tailer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// The log folder is shared with the audited agent, which may put anything
// there. These tests play that agent.

// gapsOf returns the gap reports among lines.
func gapsOf(lines []Line) []Line {
	return slices.DeleteFunc(slices.Clone(lines), func(l Line) bool { return l.Gap == nil })
}

// linesOf returns the real lines (no gap reports).
func linesOf(lines []Line) []Line {
	return slices.DeleteFunc(slices.Clone(lines), func(l Line) bool { return l.Gap != nil || l.Advance })
}

func TestRotatedNames_Styles(t *testing.T) {
	names, err := compileRotated(nil)
	if err != nil {
		t.Fatal(err)
	}
	generations := []string{
		"agent.log.1", "agent.log.12", // logrotate, Docker json-file, RotatingFileHandler
		"agent.log-20261126", "agent.log-2026112610", "agent.log-20261126-1764151200", "agent.log-2026-11-26", // dateext
		"agent.log.20261126-101500",                                                        // kubelet
		"agent.log.2026-11-26", "agent.log.2026-11-26_10", "agent.log.2026-11-26_10-15-00", // TimedRotatingFileHandler
	}
	strays := []string{
		"agent.log", "agent.log.pii", "agent.log.lock", "agent.log.bak", "agent.log.tmp", "agent.log.swp",
		"agent.log.offset", "agent.log.sha256", "agent.log.1.gz", "agent.log-20261126.gz", "agent.log.1.bak",
		"agent.log_old", "agent.log.", "agent.logx.1", "other.log.1", "agent.log.1 ", ".agent.log.1.swp",
	}
	for _, n := range generations {
		if !names.is("agent.log", n) {
			t.Errorf("%q is not taken for a rotated generation", n)
		}
	}
	for _, n := range strays {
		if names.is("agent.log", n) {
			t.Errorf("%q is taken for a rotated generation", n)
		}
	}
	only, err := compileRotated([]string{"numbered", `/\.old[0-9]+/`})
	if err != nil {
		t.Fatal(err)
	}
	if !only.is("agent.log", "agent.log.old3") || !only.is("agent.log", "agent.log.3") || only.is("agent.log", "agent.log-20261126") {
		t.Error("configured styles are not the only ones used")
	}
	for _, bad := range [][]string{{"hourly"}, {"/(/"}, {"//"}} {
		if err := ValidateRotated(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// strayNames are files an agent or a tool may leave beside the log.
var strayNames = []string{".pii", ".lock", ".bak", ".tmp", ".swp", ".offset", ".sha256"}

func writeStrays(t *testing.T, path string) {
	for _, s := range strayNames {
		writeFile(t, path+s, joinLines(numbered("stray"+s, 0, 3)))
	}
}

func noStrays(t *testing.T, got []Line) {
	t.Helper()
	for _, l := range got {
		if filepath.Ext(l.Path) != "" && slices.Contains(strayNames, filepath.Ext(l.Path)) {
			t.Fatalf("read %q from stray file %s", l.Text, l.Path)
		}
	}
}

// TestTailer_StrayFilesAreNotGenerations puts a file of every stray kind
// beside the log, then rotates it while running and while stopped: no
// stray line is ever read, and the generations come in order.
func TestTailer_StrayFilesAreNotGenerations(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("a", 0, 3)))
	writeStrays(t, path)
	h := startTailer(t, testConfig(path), nil)
	h.waitText("a-00002")
	rename(t, path, path+".1")
	writeStrays(t, path) // rewritten after the rotation: newer than every generation
	writeFile(t, path, joinLines(cat(numbered("b", 0, 3), []string{"END1"})))
	got := h.waitText("END1")
	saved := got[len(got)-1].Next
	h.stop()
	noStrays(t, got)
	wantTexts(t, got, cat(numbered("a", 0, 3), numbered("b", 0, 3), []string{"END1"}))

	// Stopped: the saved generation rotates away and is deleted; only the
	// real generations newer than it are read, whatever else is there.
	rename(t, path, path+".2")
	writeFile(t, path+".1", joinLines(numbered("c", 0, 2)))
	writeStrays(t, path)
	writeFile(t, path, joinLines(cat(numbered("d", 0, 2), []string{"END2"})))
	if err := os.Remove(path + ".2"); err != nil {
		t.Fatal(err)
	}
	h = startTailer(t, testConfig(path), &saved)
	got = h.waitText("END2")
	noStrays(t, got)
	wantTexts(t, linesOf(got), cat(numbered("c", 0, 2), numbered("d", 0, 2), []string{"END2"}))
}

// TestTailer_DeletedWhileStopped_ReadsEveryNewerGeneration: logrotate
// with "rotate 3" runs often enough while the tailer is stopped that the
// saved generation is deleted. Its unread rest is one gap report; every
// generation still on disk is read, oldest first.
func TestTailer_DeletedWhileStopped_ReadsEveryNewerGeneration(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("g0", 0, 5)))
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitN(5)[2].Next // three lines committed, two read but not
	h.stop()

	// Five rotations, keeping three generations: g0 and g1 are deleted.
	rotateKeep := func(n int) {
		_ = os.Remove(path + "." + itoa(n))
		for i := n - 1; i >= 1; i-- {
			if _, err := os.Stat(path + "." + itoa(i)); err == nil {
				rename(t, path+"."+itoa(i), path+"."+itoa(i+1))
			}
		}
		rename(t, path, path+".1")
	}
	for g := 1; g <= 5; g++ {
		appendTo(t, path, joinLines(numbered("late", g, 1))) // written after the stop
		rotateKeep(3)
		writeFile(t, path, joinLines(numbered("g"+itoa(g), 0, 2)))
	}
	appendTo(t, path, "END\n")
	h = startTailer(t, testConfig(path), &saved)
	got := h.waitText("END")
	gaps := gapsOf(got)
	if len(gaps) != 1 || gaps[0].Gap.Reason != GapDeleted || gaps[0].Ino != saved.Ino || gaps[0].Gap.From != saved.Offset || gaps[0].Gap.To != -1 {
		t.Fatalf("gap reports %+v, want one for the deleted saved generation from %d", gaps, saved.Offset)
	}
	if got[0].Gap == nil {
		t.Fatal("the gap is not reported before the lines after it")
	}
	want := cat(
		numbered("g2", 0, 2), numbered("late", 3, 1), // .3
		numbered("g3", 0, 2), numbered("late", 4, 1), // .2
		numbered("g4", 0, 2), numbered("late", 5, 1), // .1
		numbered("g5", 0, 2), []string{"END"})
	wantTexts(t, linesOf(got), want)
	checkOffsets(t, linesOf(got))
}

func itoa(i int) string { return string(rune('0' + i)) }

// TestTailer_CrashLoop_FinishesRotatedGenerationOnceWriterMovedOn: a
// generation rotated away while stopped is finished at its end as soon as
// the next one holds data, not after the drain; with an hour's drain,
// only that gets the test to its sentinel.
func TestTailer_CrashLoop_FinishesRotatedGenerationOnceWriterMovedOn(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("a", 0, 3)))
	cfg := testConfig(path)
	cfg.RotateDrain = time.Hour
	h := startTailer(t, cfg, nil)
	saved := h.waitN(3)[1].Next
	h.stop()
	rename(t, path, path+".1")
	writeFile(t, path, "b-0\nEND\n")
	for range 3 { // killed before each commit: every start gets through
		h = startTailer(t, cfg, &saved)
		got := h.waitText("END")
		h.stop()
		wantTexts(t, got, []string{"a-00002", "b-0", "END"})
	}
}

// TestTailer_UnterminatedLastLineIsAGap: a generation rotated away with a
// last line lacking its "\n" is reported as a gap, with the position of
// the next generation.
func TestTailer_UnterminatedLastLineIsAGap(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "a-0\na-1\npartial")
	h := startTailer(t, testConfig(path), nil)
	h.waitText("a-1")
	rename(t, path, path+".1")
	writeFile(t, path, "b-0\nEND\n")
	got := h.waitText("END")
	wantTexts(t, linesOf(got), []string{"a-0", "a-1", "b-0", "END"})
	gaps := gapsOf(got)
	if len(gaps) != 1 {
		t.Fatalf("gap reports %+v, want one", gaps)
	}
	g := gaps[0]
	if g.Gap.Reason != GapUnterminated || g.Gap.From != 8 || g.Gap.To != 15 || g.Ino != got[0].Ino {
		t.Fatalf("gap %+v %+v, want bytes 8..15 of the first generation", g, g.Gap)
	}
	if g.Next.Ino != got[len(got)-1].Ino || g.Next.Offset != 0 {
		t.Errorf("gap moves the position to %+v, want offset 0 of the new generation", g.Next)
	}
}

// TestTailer_SymlinkPolicy replaces the log with symbolic links: outside
// the allowed folders, to a file of the sidecar's own, and a hard link to
// one. Each is refused once, with a gap report, and nothing of it (or of
// its siblings) is read; a regular file put back is read; a link into an
// allowed folder (Kubernetes' /var/log/containers -> /var/log/pods) is
// followed.
func TestTailer_SymlinkPolicy(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	writeFile(t, secret, "root:secret-hash:1\n")
	writeFile(t, secret+"-", "root:old-hash:1\n")
	writeFile(t, secret+".1", "root:older-hash:1\n")

	logs := t.TempDir()
	own := filepath.Join(logs, "hmac.key")
	writeFile(t, own, "key-material-line\n")
	path := filepath.Join(logs, "agent.log")
	cfg := testConfig(path)
	cfg.Deny = []string{own}

	for _, tc := range []struct {
		name   string
		place  func(t *testing.T)
		reason string
	}{
		{"symlink outside", func(t *testing.T) { must(t, os.Symlink(secret, path)) }, RefusedOutside},
		{"symlink to own file", func(t *testing.T) { must(t, os.Symlink(own, path)) }, RefusedOwnFile},
		{"hard link to own file", func(t *testing.T) { must(t, os.Link(own, path)) }, RefusedOwnFile},
		{"symlink to proc", func(t *testing.T) { must(t, os.Symlink("/proc/self/environ", path)) }, RefusedOutside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(path)
			tc.place(t)
			h := startTailer(t, cfg, nil)
			h.waitFor("a refusal", func(l []Line) bool { return len(gapsOf(l)) > 0 })
			// A few checks pass with the link in place, then a regular
			// file is put back in its stead.
			h.waitChecks(3)
			must(t, os.Remove(path))
			writeFile(t, path, "ok-0\nEND\n")
			got := h.waitText("END")
			h.stop()
			gaps := gapsOf(got)
			if len(gaps) != 1 || gaps[0].Gap.Reason != tc.reason || !gaps[0].Gap.Refusal() {
				t.Fatalf("gap reports %+v, want one refusal %q", gaps, tc.reason)
			}
			wantTexts(t, linesOf(got), []string{"ok-0", "END"})
		})
	}

	t.Run("rotated sibling links outside", func(t *testing.T) {
		_ = os.Remove(path)
		writeFile(t, path, "a-0\n")
		h := startTailer(t, cfg, nil)
		h.waitText("a-0")
		rename(t, path, path+".1")
		must(t, os.Symlink(secret, path+".2")) // unseen "generation" beside it
		writeFile(t, path, "b-0\nEND\n")
		got := h.waitText("END")
		h.stop()
		wantTexts(t, linesOf(got), []string{"a-0", "b-0", "END"})
		_ = os.Remove(path + ".1")
		_ = os.Remove(path + ".2")
	})

	t.Run("symlink into an allowed folder", func(t *testing.T) {
		_ = os.Remove(path)
		pods := t.TempDir()
		target := filepath.Join(pods, "0.log")
		writeFile(t, target, "pod-0\nEND\n")
		must(t, os.Symlink(target, path))
		c := cfg
		c.AllowedDirs = []string{logs, pods}
		h := startTailer(t, c, nil)
		got := h.waitText("END")
		h.stop()
		wantTexts(t, got, []string{"pod-0", "END"})
	})
}

// TestTailer_FIFOAtThePath: a named pipe at the path is refused without
// being opened (an open would block until a writer came), the tailer
// stops at once when asked, and a regular file put back is read.
func TestTailer_FIFOAtThePath(t *testing.T) {
	path := logPath(t)
	must(t, syscall.Mkfifo(path, 0o644))
	h := startTailer(t, testConfig(path), nil)
	got := h.waitFor("a refusal", func(l []Line) bool { return len(gapsOf(l)) > 0 })
	if g := got[0].Gap; g.Reason != RefusedNotRegular || g.Target != "named pipe" {
		t.Fatalf("gap %+v, want a refusal of a named pipe", g)
	}
	must(t, os.Remove(path))
	writeFile(t, path, "a-0\nEND\n")
	got = h.waitText("END")
	wantTexts(t, linesOf(got), []string{"a-0", "END"})

	// Swapped for a FIFO again while running, then stopped: Run returns.
	must(t, os.Rename(path, path+".1"))
	must(t, syscall.Mkfifo(path, 0o644))
	h.waitFor("a second refusal", func(l []Line) bool { return len(gapsOf(l)) > 1 })
	h.stop()
}

// TestTailer_FIFOAtResume: the same while resuming a saved position.
func TestTailer_FIFOAtResume(t *testing.T) {
	path := logPath(t)
	must(t, syscall.Mkfifo(path, 0o644))
	tl, err := New(testConfig(path), &Position{Path: path, Dev: 1, Ino: 1, Offset: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Line, 16)
	errc := make(chan error, 1)
	go func() { errc <- tl.Run(ctx, out) }()
	<-out // the first report (the lost saved generation or the refusal)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTailer_DeletedWhileStopped_CopyOfItIsNotNewer: the saved generation
// was copied (copytruncate) holding nothing past what was read, then
// deleted and recreated while stopped: the copy is not read again as a
// newer generation.
func TestTailer_DeletedWhileStopped_CopyOfItIsNotNewer(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("a", 0, 3)))
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitN(3)[2].Next
	h.stop()
	raw, err := os.ReadFile(path)
	must(t, err)
	writeFile(t, path+".1", string(raw)) // the copy
	must(t, os.Remove(path))
	writeFile(t, path, "b-0\nEND\n")
	h = startTailer(t, testConfig(path), &saved)
	got := h.waitText("END")
	wantTexts(t, linesOf(got), []string{"b-0", "END"})
}

package tailer

// Attacks on the source policy and on the deleted-while-stopped path, by a
// hostile agent that shares the log folder or by an unlucky operator.
// Each test states the guarantee it expects; a failure is a finding.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

func anyTextContains(lines []Line, s string) bool {
	return slices.ContainsFunc(lines, func(l Line) bool { return strings.Contains(string(l.Text), s) })
}

// TestAttack_AllowedDirReplacedBySymlink: the operator allows the log
// folder and a subfolder of it (an olddir, a pods folder). The agent owns
// the subfolder's name: it replaces it with a symbolic link to "/", and
// the log with a link to a secret outside. The allowed folders are
// resolved again at every check, so "/" becomes allowed and the secret is
// read.
func TestAttack_AllowedDirReplacedBySymlink(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	writeFile(t, secret, "root:SECRET-HASH:1\n")

	logs := t.TempDir()
	archive := filepath.Join(logs, "archive")
	must(t, os.Mkdir(archive, 0o755))
	path := filepath.Join(logs, "agent.log")
	writeFile(t, path, "a-0\n")
	cfg := testConfig(path)
	cfg.AllowedDirs = []string{logs, archive}
	h := startTailer(t, cfg, nil)
	h.waitText("a-0")

	// The agent's move.
	must(t, os.Remove(archive))
	must(t, os.Symlink("/", archive))
	must(t, os.Remove(path))
	must(t, os.Symlink(secret, path))

	// The first check after the move refuses the link (or reads the
	// secret); five more, each of which opens the path again, read
	// nothing of it.
	h.waitFor("a line or gap after the move", func(l []Line) bool { return len(l) > 1 })
	h.waitChecks(5)
	got := h.stop()
	if anyTextContains(got, "SECRET-HASH") {
		t.Fatalf("read a file outside the log folder through an allowed folder the agent swapped for a link to /: %q", texts(got))
	}
	if g := gapsOf(got); len(g) == 0 || g[0].Gap.Reason != RefusedOutside {
		t.Fatalf("want a refusal, got gaps %+v", g)
	}
}

// TestAttack_MultiDefaultAllowedDirSwapped: source.path is a pattern, so
// the default allowed folder is the folder above its first wildcard. That
// folder lies in the shared volume: the agent replaces it with a link to
// an ancestor (here the common parent of the log folder and the secret's
// folder; in a pod "/" when the volume is mounted at a top-level folder),
// so the pattern now also matches a link the agent placed in the log
// folder, and the link's target lies under the (re-resolved) allowed
// folder. No race, default allowed_dirs.
func TestAttack_MultiDefaultAllowedDirSwapped(t *testing.T) {
	parent := t.TempDir()
	logs := filepath.Join(parent, "logs")
	outside := filepath.Join(parent, "outside")
	must(t, os.MkdirAll(filepath.Join(logs, "pods", "p1"), 0o755))
	must(t, os.MkdirAll(outside, 0o755))
	secret := filepath.Join(outside, "shadow")
	// Two lines: a tailer that read the first could not send the second
	// before the first was handed out (see below).
	writeFile(t, secret, "root:SECRET-HASH:1\nbin:SECRET-HASH:2\n")
	pods := filepath.Join(logs, "pods")
	writeFile(t, filepath.Join(pods, "p1", "agent.log"), "p1-0\n")

	pattern := filepath.Join(pods, "*", "agent.log")
	cfg := testConfig(pattern) // AllowedDirs default: logs/pods
	cfg.Logger = zap.NewNop()
	// The name the pattern matches through the swapped folder.
	swapped := filepath.Join(pods, "logs", "agent.log")
	checks := countChecks(&cfg, swapped)
	m, err := NewMulti(pattern, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Line)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, out) }()
	var mu sync.Mutex
	var got []Line
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for {
			select {
			case l := <-out:
				mu.Lock()
				got = append(got, l)
				mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	waitGot := func(what string, cond func(Line) bool) {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for {
			mu.Lock()
			ok := slices.ContainsFunc(got, cond)
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond) // polling for the condition
		}
	}
	waitGot("p1-0", func(l Line) bool { return string(l.Text) == "p1-0" })

	// The agent's move: pods -> .. of the log folder; logs/agent.log -> secret.
	must(t, os.Rename(pods, filepath.Join(logs, "pods.old")))
	must(t, os.Symlink(parent, pods))
	must(t, os.Symlink(secret, filepath.Join(logs, "agent.log")))

	// A rescan finds the name and starts a tailer of it, which hands out
	// the secret's first line, or a gap saying it refused the file.
	waitGot("a line or gap of "+swapped, func(l Line) bool { return l.Watch == swapped })
	// Then it opens the name again at each check: three more read
	// nothing. (Lines pass from each tailer to out one at a time, so a
	// tailer that read the secret's first line has handed it out before
	// it sends the second, and so before its next check.)
	waitCount(t, checks, 3)
	cancel()
	<-done
	<-collected
	mu.Lock()
	defer mu.Unlock()
	if anyTextContains(got, "SECRET-HASH") {
		t.Fatalf("read a file outside the log folder after the agent swapped the default allowed folder for a link: %q", texts(got))
	}
}

// TestAttack_RefusalFloodPastMaxRefused: a fixed set of maxRefused+1
// refused siblings (links named like rotations) is reported again at
// every check once the memory of refusals is cleared: a static directory
// makes an unbounded stream of gap records.
func TestAttack_RefusalFloodPastMaxRefused(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	writeFile(t, secret, "root:x:1\n")
	path := logPath(t)
	n := maxRefused + 1
	for i := range n {
		must(t, os.Symlink(secret, fmt.Sprintf("%s.%d", path, i+1)))
	}
	writeFile(t, path, "a-0\n")
	h := startTailer(t, testConfig(path), nil)
	h.waitText("a-0")
	h.waitChecks(3) // each would report the refused names again
	got := h.stop()
	if g := len(gapsOf(got)); g > n {
		t.Fatalf("%d refusal gap records for %d refused names that never changed (each should be reported once)", g, n)
	}
}

// TestAttack_DeletedWhileStopped_SiblingSameMTimeSkipped: the saved
// generation is deleted while stopped; a newer generation whose mtime
// equals the saved MTime (same coarse clock tick: a fast writer rotates
// within a jiffy) is skipped by "mtime <= saved" without any gap record.
// Its lines are lost silently.
func TestAttack_DeletedWhileStopped_SiblingSameMTimeSkipped(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("g0", 0, 4)))
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitN(4)[1].Next
	h.stop()
	if saved.MTime == 0 {
		t.Fatal("no MTime saved")
	}
	// While stopped: g0 rotated and then deleted; g1 written and rotated
	// to .1 within the same tick; a new file at the path.
	must(t, os.Remove(path))
	writeFile(t, path+".1", joinLines(numbered("g1", 0, 2)))
	ts := time.Unix(0, saved.MTime)
	must(t, os.Chtimes(path+".1", ts, ts))
	writeFile(t, path, "END\n")

	h = startTailer(t, testConfig(path), &saved)
	got := h.waitText("END")
	h.stop()
	lost := !anyTextContains(got, "g1-00000")
	gaps := gapsOf(got)
	namesG1 := slices.ContainsFunc(gaps, func(l Line) bool { return strings.HasSuffix(l.Path, ".1") })
	if lost && !namesG1 {
		t.Fatalf("generation .1 (newer than the deleted one, same mtime) neither read nor in a gap: lines %q, gaps %+v", texts(linesOf(got)), gaps)
	}
}

// TestAttack_DeletedWhileStopped_GapHasNoNextWhenNothingFollows: the saved
// generation is deleted while stopped and nothing newer exists yet (the
// agent removed agent.log*; a crash loop before the agent writes again).
// The gap has no Next, so the committed position does not move and every
// start records the same loss again.
func TestAttack_DeletedWhileStopped_GapHasNoNextWhenNothingFollows(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("g0", 0, 3)))
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitN(3)[1].Next
	h.stop()
	must(t, os.Remove(path))
	total := 0
	for range 3 { // three starts, each stopped after its gap was committed
		h = startTailer(t, testConfig(path), &saved)
		// What the start queued is handed out before the first check,
		// and each check may find the loss again.
		h.waitChecks(3)
		got := h.stop()
		for _, g := range gapsOf(got) {
			total++
			if !g.Next.IsZero() {
				saved = g.Next
			}
		}
	}
	if total > 1 {
		t.Fatalf("one deleted generation recorded as a gap at each of %d starts (the gap carries no Next to commit)", total)
	}
}

// TestAttack_UnterminatedGapCrashBeforeAndAfterCommit: the gap for an
// unterminated last line, killed before its commit (resume from the last
// line) and after it (resume from gap.Next): one gap in all, no line lost
// or repeated. (Held.)
func TestAttack_UnterminatedGapCrashBeforeAndAfterCommit(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "a-0\na-1\npartial")
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitText("a-1")[1].Next
	h.stop()
	rename(t, path, path+".1")
	writeFile(t, path, "b-0\nEND\n")
	// Killed before the gap's commit: started again from a-1's Next.
	h = startTailer(t, testConfig(path), &saved)
	got := h.waitText("END")
	h.stop()
	gaps := gapsOf(got)
	if len(gaps) != 1 || gaps[0].Gap.Reason != GapUnterminated {
		t.Fatalf("gaps %+v", gaps)
	}
	wantTexts(t, linesOf(got), []string{"b-0", "END"})
	// Killed right after the gap's commit.
	next := gaps[0].Next
	h = startTailer(t, testConfig(path), &next)
	got = h.waitText("END")
	h.stop()
	if len(gapsOf(got)) != 0 {
		t.Fatalf("gap recorded again after its commit: %+v", gapsOf(got))
	}
	wantTexts(t, got, []string{"b-0", "END"})
}

// TestAttack_PathLinkedToReadGeneration: the agent replaces the path with
// a link to the rotated generation already read (agent.log -> agent.log.1):
// its lines must not be handed out again as new ones.
func TestAttack_PathLinkedToReadGeneration(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "a-0\na-1\n")
	h := startTailer(t, testConfig(path), nil)
	h.waitText("a-1")
	rename(t, path, path+".1")
	writeFile(t, path, "b-0\n")
	h.waitText("b-0")
	h.waitLog("finished rotated file") // a-0's generation is read and closed
	must(t, os.Remove(path))
	must(t, os.Symlink(filepath.Base(path)+".1", path))
	h.waitChecks(5) // each looks at the link at the path
	got := h.stop()
	n := 0
	for _, l := range got {
		if string(l.Text) == "a-0" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("a-0 handed out %d times: %q", n, texts(got))
	}
}

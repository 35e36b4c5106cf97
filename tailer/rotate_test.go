package tailer

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestTailer_RotateWhileRunning_WriterKeepsOldFD rotates by rename and
// create while the writer goes on appending to its old descriptor for a
// second: every line of the old generation must come, before any of the new.
func TestTailer_RotateWhileRunning_WriterKeepsOldFD(t *testing.T) {
	path := logPath(t)
	old, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	write := func(lines ...string) {
		t.Helper()
		if _, err := old.WriteString(joinLines(lines)); err != nil {
			t.Fatal(err)
		}
	}
	early := numbered("old", 0, 100)
	write(early...)
	cfg := testConfig(path)
	cfg.RotateDrain = DefaultRotateDrain
	obs := &countObserver{}
	cfg.Observer = obs
	h := startTailer(t, cfg, nil)
	h.waitN(len(early))

	rename(t, path, path+".1")
	newer := numbered("new", 0, 100)
	writeFile(t, path, joinLines(newer))
	// The writer goes on appending to its old descriptor until the tailer
	// has found the new generation and, after that, handed out a line
	// written to the old one: such lines come from the drain.
	var late []string
	afterRotation := ""
	deadline := time.Now().Add(waitLimit)
	for i := 0; ; i++ {
		l := fmt.Sprintf("old-late-%05d", i)
		write(l)
		late = append(late, l)
		rotations, _, _ := obs.counts()
		if afterRotation == "" && rotations > 0 {
			afterRotation = l
		} else if afterRotation != "" && slices.Contains(texts(h.snapshot()), afterRotation) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for a line written after the rotation was found (%d rotations seen)", rotations)
		}
		time.Sleep(10 * time.Millisecond) // the writer's pace
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "END\n")

	got := h.waitText("END")
	wantTexts(t, got, cat(early, late, newer, []string{"END"}))
	checkOffsets(t, got)
	oldGen, newGen := got[0], got[len(early)+len(late)]
	for i, l := range got {
		want := oldGen
		if i >= len(early)+len(late) {
			want = newGen
		}
		if l.Dev != want.Dev || l.Ino != want.Ino {
			t.Fatalf("line %d (%q) from %d/%d, want %d/%d", i, l.Text, l.Dev, l.Ino, want.Dev, want.Ino)
		}
	}
	if oldGen.Ino == newGen.Ino || newGen.Offset != 0 {
		t.Fatalf("new generation: ino %d (old %d), first offset %d", newGen.Ino, oldGen.Ino, newGen.Offset)
	}
}

func TestTailer_RotateWhileRunning(t *testing.T) {
	tests := []struct {
		name string
		// rotate moves the file away; it returns the lines it wrote to
		// the old generation after that.
		rotate func(t *testing.T, path string, h *harness) []string
	}{
		{"rename and create", func(t *testing.T, path string, h *harness) []string {
			rename(t, path, path+".1")
			return nil
		}},
		{"dated rename", func(t *testing.T, path string, h *harness) []string {
			rename(t, path, path+"-20261126")
			return nil
		}},
		{"delete and create", func(t *testing.T, path string, h *harness) []string {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
		{"rename out of the directory", func(t *testing.T, path string, h *harness) []string {
			rename(t, path, filepath.Join(t.TempDir(), "elsewhere"))
			return nil
		}},
		{"path missing for a while", func(t *testing.T, path string, h *harness) []string {
			rename(t, path, path+".1")
			// Several checks see no file at the path. A read that hands
			// out a line ends at the end of the file, and the tailer
			// checks the path before it reads again: each line written
			// once the one before it has come out proves one more check
			// after the rename.
			var more []string
			for i := range 3 {
				l := fmt.Sprintf("a-missing-%d", i)
				appendTo(t, path+".1", l+"\n")
				h.waitText(l)
				more = append(more, l)
			}
			return more
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := logPath(t)
			seen := numbered("a", 0, 50)
			writeFile(t, path, joinLines(seen))
			cfg := testConfig(path)
			obs := &countObserver{}
			cfg.Observer = obs
			h := startTailer(t, cfg, nil)
			h.waitN(len(seen))
			unread := numbered("a", 50, 50)
			appendTo(t, path, joinLines(unread))
			more := tt.rotate(t, path, h)
			newer := numbered("b", 0, 50)
			writeFile(t, path, joinLines(newer))
			appendTo(t, path, "END\n")
			got := h.waitText("END")
			wantTexts(t, got, cat(seen, unread, more, newer, []string{"END"}))
			checkOffsets(t, got)
			if r, tr, l := obs.counts(); r != 1 || tr != 0 || l != 0 {
				t.Errorf("observer: %d rotations, %d truncations, %d losses; want 1, 0, 0", r, tr, l)
			}
		})
	}
}

// TestTailer_RotationsBetweenChecks rotates twice while the tailer is
// blocked handing out a line: the generation born and rotated away in
// between exists only as a sibling and must be read, in order; an older
// sibling that was there from the start must not.
func TestTailer_RotationsBetweenChecks(t *testing.T) {
	path := logPath(t)
	writeFile(t, path+".1", "ancient\n")
	setMtime(t, path+".1", time.Hour)
	a, b, c := numbered("a", 0, 20), numbered("b", 0, 20), numbered("c", 0, 20)
	writeFile(t, path, joinLines(a))

	recv := startManual(t, testConfig(path))
	got := []Line{recv()} // the tailer now blocks handing out a's second line

	rename(t, path+".1", path+".2")
	rename(t, path, path+".1")
	writeFile(t, path, joinLines(b))
	rename(t, path+".2", path+".3")
	rename(t, path+".1", path+".2")
	rename(t, path, path+".1")
	writeFile(t, path, joinLines(c)+"END\n")

	got = append(got, recvUntil(recv, "END")...)
	wantTexts(t, got, cat(a, b, c, []string{"END"}))
	checkOffsets(t, got)
}

func TestTailer_TruncateWhileRunning(t *testing.T) {
	tests := []struct {
		name string
		// waitSeen waits for the truncation to be noticed before rewriting.
		waitSeen bool
		newer    []string
	}{
		{"truncated, then rewritten shorter", true, numbered("b", 0, 3)},
		{"truncated and regrown past the old offset at once", false, numbered("bb", 0, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := logPath(t)
			a := numbered("a", 0, 50)
			writeFile(t, path, joinLines(a))
			cfg := testConfig(path)
			obs := &countObserver{}
			cfg.Observer = obs
			h := startTailer(t, cfg, nil)
			h.waitN(len(a))
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tt.waitSeen {
				h.waitLog("file truncated or rewritten, reading it again from the start")
			}
			if _, err := f.WriteString(joinLines(tt.newer) + "END\n"); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got := h.waitText("END")
			wantTexts(t, got, cat(a, tt.newer, []string{"END"}))
			if first := got[len(a)]; first.Offset != 0 {
				t.Errorf("first line after truncation at %d, want 0", first.Offset)
			}
			checkOffsets(t, got)
			if r, tr, _ := obs.counts(); r != 0 || tr != 1 {
				t.Errorf("observer: %d rotations, %d truncations; want 0, 1", r, tr)
			}
		})
	}
}

// TestTailer_RewrittenInPlaceWhileBlocked truncates and rewrites the file
// longer than before while the tailer is blocked on a send, so that its
// next look finds the file larger than its offset: only the changed first
// bytes tell the rewrite from growth.
func TestTailer_RewrittenInPlaceWhileBlocked(t *testing.T) {
	path := logPath(t)
	a, b := numbered("a", 0, 20), numbered("bb", 0, 100)
	writeFile(t, path, joinLines(a))
	recv := startManual(t, testConfig(path))
	got := []Line{recv()} // the tailer has read all of a and blocks on its second line
	writeFile(t, path, joinLines(b)+"END\n")
	got = append(got, recvUntil(recv, "END")...)
	wantTexts(t, got, cat(a, b, []string{"END"}))
	if first := got[len(a)]; first.Offset != 0 {
		t.Errorf("first line after the rewrite at %d, want 0", first.Offset)
	}
	checkOffsets(t, got)
}

// TestTailer_CopyTruncateThenRename: the copy made by copytruncate repeats
// lines already read; a later rename rotation must not read it as a
// generation born between checks.
func TestTailer_CopyTruncateThenRename(t *testing.T) {
	path := logPath(t)
	a := numbered("a", 0, 30)
	writeFile(t, path, joinLines(a))
	h := startTailer(t, testConfig(path), nil)
	h.waitN(len(a))

	writeFile(t, path+".1", joinLines(a)) // the copy
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	h.waitLog("file truncated or rewritten, reading it again from the start")
	b := numbered("b", 0, 30)
	appendTo(t, path, joinLines(b))
	h.waitN(len(a) + len(b))

	rename(t, path+".1", path+".2")
	rename(t, path, path+".1")
	c := numbered("c", 0, 30)
	writeFile(t, path, joinLines(c)+"END\n")
	got := h.waitText("END")
	wantTexts(t, got, cat(a, b, c, []string{"END"}))
	checkOffsets(t, got)
}

// countObserver counts what a tailer reports.
type countObserver struct {
	mu                                sync.Mutex
	rotated, truncated, lost, refused int
}

func (o *countObserver) Rotated()       { o.mu.Lock(); o.rotated++; o.mu.Unlock() }
func (o *countObserver) Truncated()     { o.mu.Lock(); o.truncated++; o.mu.Unlock() }
func (o *countObserver) Lost(int64)     { o.mu.Lock(); o.lost++; o.mu.Unlock() }
func (o *countObserver) Refused(string) { o.mu.Lock(); o.refused++; o.mu.Unlock() }
func (o *countObserver) counts() (int, int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rotated, o.truncated, o.lost
}

// The watched path is a symlink (as /var/log/containers/* links into
// /var/log/pods/...) that is swapped to a new target while the agent
// still writes the old one: the old target is drained, the new one read
// from its first byte.
func TestTailer_SymlinkSwapped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.log")
	target1, target2 := filepath.Join(dir, "pods", "0.log"), filepath.Join(dir, "pods", "1.log")
	if err := os.Mkdir(filepath.Join(dir, "pods"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := numbered("a", 0, 40)
	writeFile(t, target1, joinLines(a))
	if err := os.Symlink(target1, path); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(path)
	cfg.RotateDrain = 500 * time.Millisecond
	obs := &countObserver{}
	cfg.Observer = obs
	h := startTailer(t, cfg, nil)
	h.waitN(len(a))

	// Swap atomically: a new link renamed over the old one.
	b := numbered("b", 0, 40)
	writeFile(t, target2, joinLines(b))
	tmp := path + ".tmp"
	if err := os.Symlink(target2, tmp); err != nil {
		t.Fatal(err)
	}
	rename(t, tmp, path)
	late := numbered("a-late", 0, 5)
	appendTo(t, target1, joinLines(late)) // the old target is still written
	appendTo(t, target2, "END\n")

	got := h.waitText("END")
	wantTexts(t, got, cat(a, late, b, []string{"END"}))
	checkOffsets(t, got)
	if first := got[len(a)+len(late)]; first.Offset != 0 {
		t.Errorf("new target's first line at offset %d, want 0", first.Offset)
	}
	if r, _, _ := obs.counts(); r != 1 {
		t.Errorf("%d rotations seen, want 1", r)
	}
}

// Thousands of rotations (logrotate style, three siblings kept), at most
// two between reads: every line is read, in order, and open files and
// goroutines come back to where they were (each finished generation is
// closed).
func TestTailer_ManyRotations(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	path := logPath(t)
	writeFile(t, path, "")
	cfg := testConfig(path)
	cfg.RotateDrain = 5 * time.Millisecond
	obs := &countObserver{}
	cfg.Observer = obs
	h := startTailer(t, cfg, nil)
	h.waitLog("tailing")
	baseFDs, baseG := fds(), runtime.NumGoroutine()

	const rotations = 2000
	var want []string
	for r := range rotations {
		lines := numbered(fmt.Sprintf("r%03d", r), 0, 3)
		appendTo(t, path, joinLines(lines))
		want = append(want, lines...)
		// logrotate with rotate 3: .2 -> .3, .1 -> .2, path -> .1.
		for i := 2; i >= 1; i-- {
			if _, err := os.Stat(fmt.Sprintf("%s.%d", path, i)); err == nil {
				rename(t, fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
			}
		}
		rename(t, path, path+".1")
		writeFile(t, path, "")
		if r%2 == 1 {
			// A generation deleted before anyone opened it is gone for
			// every reader: keep within the three kept siblings.
			h.waitN(len(want))
		}
	}
	appendTo(t, path, "END\n")
	got := h.waitText("END")
	wantTexts(t, got, cat(want, []string{"END"}))
	// Generations still draining close once their drain ends.
	deadline := time.Now().Add(waitLimit)
	for fds() > baseFDs+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := fds(); n > baseFDs+2 {
		t.Errorf("%d open files after %d rotations, %d before", n, rotations, baseFDs)
	}
	if g := runtime.NumGoroutine(); g > baseG+2 {
		t.Errorf("%d goroutines after %d rotations, %d before", g, rotations, baseG)
	}
	if r, _, l := obs.counts(); r < rotations/2 || l != 0 {
		t.Errorf("observer: %d rotations, %d losses", r, l)
	}
}

// The kernel's inotify queue overflows (the tailer's instance is created
// with a queue of 8 events, then a burst of files is created beside the
// log): the overflow is noticed, polling carries on, and a rotation made
// while notifications were lost is still followed without loss.
func TestTailer_InotifyOverflow(t *testing.T) {
	const knob = "/proc/sys/fs/inotify/max_queued_events"
	old, err := os.ReadFile(knob)
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and " + knob)
	}
	if err := os.WriteFile(knob, []byte("8"), 0o644); err != nil {
		t.Skipf("cannot lower %s: %v", knob, err)
	}
	restore := func() { os.WriteFile(knob, old, 0o644) }
	t.Cleanup(restore)

	path := logPath(t)
	a := numbered("a", 0, 20)
	writeFile(t, path, joinLines(a))
	h := startTailer(t, testConfig(path), nil)
	h.waitN(len(a))
	restore() // the tailer's instance keeps its small queue

	overflowed := false
	for try := 0; try < 20 && !overflowed; try++ {
		for i := range 200 {
			writeFile(t, filepath.Join(filepath.Dir(path), fmt.Sprintf("noise-%d-%d", try, i)), "")
		}
		for _, e := range h.logs.All() {
			if e.Message == "file notification error, relying on polling" {
				overflowed = true
			}
		}
	}
	if !overflowed {
		t.Skip("the queue did not overflow")
	}
	b := numbered("b", 0, 20)
	appendTo(t, path, joinLines(b))
	rename(t, path, path+".1")
	c := numbered("c", 0, 20)
	writeFile(t, path, joinLines(c)+"END\n")
	got := h.waitText("END")
	wantTexts(t, got, cat(a, b, c, []string{"END"}))
	checkOffsets(t, got)
}

// copytruncate while the tailer lags: the lines it had not read yet when
// the file was copied and truncated are read from the copy, then the
// truncated file from its start; nothing is lost, nothing repeated.
func TestTailer_CopyTruncateWhileBehind(t *testing.T) {
	path := logPath(t)
	a := numbered("a", 0, 30)
	writeFile(t, path, joinLines(a))
	recv := startManual(t, testConfig(path))
	got := []Line{recv()} // a is read; the tailer blocks on its second line
	c := numbered("c", 0, 20)
	appendTo(t, path, joinLines(c)) // not read yet
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path+".1", string(raw)) // the copy
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	b := numbered("b", 0, 5)
	appendTo(t, path, joinLines(b)+"END\n")
	got = append(got, recvUntil(recv, "END")...)
	wantTexts(t, got, cat(a, c, b, []string{"END"}))
	checkOffsets(t, got)
}

package tailer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait for a condition. Tests never assert on how
// long something took; they only give up after this long.
const waitLimit = 15 * time.Second

// harness runs a Tailer and collects what it hands out.
type harness struct {
	t         *testing.T
	cancel    context.CancelFunc
	runErr    chan error
	collected chan struct{}
	logs      *observer.ObservedLogs
	checks    *atomic.Int64 // checks done (Config.checked)

	mu       sync.Mutex
	lines    []Line
	advances []Line   // Line.Advance, kept apart: most tests look at lines
	last     Position // the last position handed out (what a caller persists)
	stopped  bool
}

// testConfig is a config for path with fast polling and a short drain;
// tests that need the real drain set RotateDrain themselves.
func testConfig(path string) Config {
	return Config{Path: path, Poll: 20 * time.Millisecond, RotateDrain: 100 * time.Millisecond}
}

func startTailer(t *testing.T, cfg Config, resume *Position) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	cfg.Logger = zap.New(core)
	checks := countChecks(&cfg, "")
	tl, err := New(cfg, resume)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Line)
	h := &harness{t: t, cancel: cancel, runErr: make(chan error, 1), collected: make(chan struct{}), logs: logs, checks: checks}
	go func() { h.runErr <- tl.Run(ctx, out) }()
	go func() {
		defer close(h.collected)
		for {
			select {
			case l := <-out:
				h.mu.Lock()
				if !l.Next.IsZero() {
					h.last = l.Next
				}
				if l.Advance {
					h.advances = append(h.advances, l)
				} else {
					h.lines = append(h.lines, l)
				}
				h.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { h.stop() })
	return h
}

// startManual runs a Tailer whose lines are taken only by the returned
// recv, so that a test can hold the tailer blocked on a send while it
// changes the files.
func startManual(t *testing.T, cfg Config) (recv func() Line) {
	t.Helper()
	tl, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Line)
	errc := make(chan error, 1)
	go func() { errc <- tl.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return func() Line {
		t.Helper()
		for {
			select {
			case l := <-out:
				if l.Advance {
					continue
				}
				return l
			case <-time.After(waitLimit):
				t.Fatal("gave up waiting for a line")
				return Line{}
			}
		}
	}
}

// recvUntil takes lines until one whose text is s.
func recvUntil(recv func() Line, s string) []Line {
	var got []Line
	for len(got) == 0 || string(got[len(got)-1].Text) != s {
		got = append(got, recv())
	}
	return got
}

// lastAdvance waits for a position move (Line.Advance) and returns the
// last one.
func (h *harness) lastAdvance() Line {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		h.mu.Lock()
		n := len(h.advances)
		var l Line
		if n > 0 {
			l = h.advances[n-1]
		}
		h.mu.Unlock()
		if n > 0 {
			return l
		}
		if time.Now().After(deadline) {
			h.t.Fatal("gave up waiting for a position move")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) snapshot() []Line {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.lines)
}

// waitFor polls until cond holds on the lines so far, or fails the test.
func (h *harness) waitFor(what string, cond func([]Line) bool) []Line {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := h.snapshot()
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting for %s; got %d lines: %q", what, len(got), tail(texts(got), 20))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitN(n int) []Line {
	h.t.Helper()
	return h.waitFor(fmt.Sprintf("%d lines", n), func(l []Line) bool { return len(l) >= n })
}

// waitText waits for a line whose text is s: a sentinel written last, so
// that everything before it is known to have been handed out.
func (h *harness) waitText(s string) []Line {
	h.t.Helper()
	return h.waitFor(fmt.Sprintf("line %q", s), func(l []Line) bool {
		return slices.ContainsFunc(l, func(x Line) bool { return string(x.Text) == s })
	})
}

// countChecks makes cfg count the checks its tailers do of path
// (Config.checked; "" counts those of every path).
func countChecks(cfg *Config, path string) *atomic.Int64 {
	n := new(atomic.Int64)
	prev := cfg.checked
	cfg.checked = func(p string) {
		if prev != nil {
			prev(p)
		}
		if path == "" || p == path {
			n.Add(1)
		}
	}
	return n
}

// waitChecks waits until n checks that began after the call are done and
// what they found has been handed out: a check may be under way at the
// call (it counts for nothing), and what a check queues (a generation, a
// gap) is read before the next check ends, so n+2 more checks are waited
// for. A test that asserts something did not happen proves by this that
// the tailer looked n times, rather than trusting a duration.
func (h *harness) waitChecks(n int) {
	h.t.Helper()
	waitCount(h.t, h.checks, n)
}

// waitCount waits for n+2 more counts of c (see waitChecks). It gives up
// only when c stays still for waitLimit: a check of many files is slow on
// a loaded machine.
func waitCount(t *testing.T, c *atomic.Int64, n int) {
	t.Helper()
	want := c.Load() + int64(n) + 2
	last, deadline := c.Load(), time.Now().Add(waitLimit)
	for now := c.Load(); now < want; now = c.Load() {
		if now != last {
			last, deadline = now, time.Now().Add(waitLimit)
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %d checks (%d of %d done)", n, now, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLog waits for a log entry with the given message.
func (h *harness) waitLog(msg string) {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for h.logs.FilterMessage(msg).Len() == 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting for log %q", msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop cancels Run, checks it returned the cancellation, and returns every
// line collected.
func (h *harness) stop() []Line {
	h.mu.Lock()
	stopped := h.stopped
	h.stopped = true
	h.mu.Unlock()
	if !stopped {
		h.cancel()
		if err := <-h.runErr; !errors.Is(err, context.Canceled) {
			h.t.Errorf("Run returned %v, want context.Canceled", err)
		}
		<-h.collected
	}
	return h.snapshot()
}

func texts(lines []Line) []string {
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = string(l.Text)
	}
	return s
}

func tail(s []string, n int) []string { return s[max(0, len(s)-n):] }

// wantTexts fails unless got has exactly the texts want, in order.
func wantTexts(t *testing.T, got []Line, want []string) {
	t.Helper()
	g := texts(got)
	if slices.Equal(g, want) {
		return
	}
	for i := range min(len(g), len(want)) {
		if g[i] != want[i] {
			t.Fatalf("line %d = %q, want %q (got %d lines, want %d)", i, g[i], want[i], len(g), len(want))
		}
	}
	t.Fatalf("got %d lines, want %d; extra or missing around %q", len(g), len(want), tail(g, 5))
}

// checkOffsets checks what each Line says about where it came from: Next is
// just past the line in the same generation, and within a generation each
// line starts where the one before ended (or at 0, after a truncation).
func checkOffsets(t *testing.T, lines []Line) {
	t.Helper()
	last := map[inode]Line{}
	for i, l := range lines {
		n := l.Next
		if n.Dev != l.Dev || n.Ino != l.Ino || n.Path != l.Path {
			t.Fatalf("line %d: Next %+v names another file than the line (%s %d/%d)", i, n, l.Path, l.Dev, l.Ino)
		}
		if n.Offset != l.Offset+l.FullLen+1 {
			t.Fatalf("line %d: Next.Offset %d, want %d+%d+1", i, n.Offset, l.Offset, l.FullLen)
		}
		if !l.Truncated && l.FullLen != int64(len(l.Text)) {
			t.Fatalf("line %d: FullLen %d for %d bytes, not truncated", i, l.FullLen, len(l.Text))
		}
		key := inode{l.Dev, l.Ino}
		if p, ok := last[key]; ok && l.Offset != p.Next.Offset && l.Offset != 0 {
			t.Fatalf("line %d (%q) starts at %d, previous line of its file ended at %d", i, l.Text, l.Offset, p.Next.Offset)
		}
		last[key] = l
	}
}

// numbered returns n lines "prefix-NNNNN" starting at from.
func numbered(prefix string, from, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s-%05d", prefix, from+i)
	}
	return s
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

func cat(parts ...[]string) []string { return slices.Concat(parts...) }

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// setMtime sets a file's modification time age before now, to order
// rotated generations regardless of the clock's granularity.
func setMtime(t *testing.T, path string, age time.Duration) {
	t.Helper()
	ts := time.Now().Add(-age)
	if err := os.Chtimes(path, ts, ts); err != nil {
		t.Fatal(err)
	}
}

func logPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "agent.log")
}

// openID opens path without the source policy's restrictions on folders.
func openID(path string) (*os.File, FileID, os.FileInfo, error) {
	return (&opener{}).open(path)
}

package tailer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNew_RejectsInvalid(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		resume *Position
		want   error
		key    string
	}{
		{"no path", Config{}, nil, ErrInvalidConfig, "path: required"},
		{"bad start_at", Config{Path: "x", StartAt: "middle"}, nil, ErrInvalidConfig, "start_at"},
		{"negative poll", Config{Path: "x", Poll: -1}, nil, ErrInvalidConfig, "poll"},
		{"negative max line", Config{Path: "x", MaxLineBytes: -1}, nil, ErrInvalidConfig, "max_line_bytes"},
		{"negative drain", Config{Path: "x", RotateDrain: -1}, nil, ErrInvalidConfig, "rotate_drain"},
		{"negative offset", Config{Path: "x"}, &Position{Offset: -1}, ErrInvalidPosition, "offset"},
		{"head without length", Config{Path: "x"}, &Position{Head: strings.Repeat("a", 64)}, ErrInvalidPosition, "head"},
		{"head not hex", Config{Path: "x"}, &Position{Head: "zz", HeadLen: 3}, ErrInvalidPosition, "head"},
		{"head too long", Config{Path: "x"}, &Position{Head: strings.Repeat("a", 64), HeadLen: HeadSize + 1}, ErrInvalidPosition, "head_len"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, tt.resume)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("New: %v, want %v naming %q", err, tt.want, tt.key)
			}
		})
	}
}

func TestTailer_RunTwice(t *testing.T) {
	path := logPath(t)
	tl, err := New(testConfig(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tl.Run(ctx, make(chan Line)); !errors.Is(err, context.Canceled) {
		t.Fatalf("first Run: %v", err)
	}
	if err := tl.Run(ctx, make(chan Line)); !errors.Is(err, ErrAlreadyRun) {
		t.Fatalf("second Run: %v, want ErrAlreadyRun", err)
	}
}

// TestTailer_PartialLineAcrossWrites writes lines in pieces and reads the
// file to its end after each piece (the read loop driven by hand, so that
// every partial state is read, not only those a running tailer happens to
// see): a line is handed out once, whole, when its "\n" is read, never
// before.
func TestTailer_PartialLineAcrossWrites(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "")
	f, id, _, err := openID(path)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(testConfig(path).withDefaults())
	defer r.close()
	g := newGen(f, path, id, 0)
	r.gens = []*gen{g}
	out := make(chan Line, 16)
	var got []Line
	for _, step := range []struct {
		piece string
		lines []string // handed out by the read after the piece
	}{
		{`{"a":`, nil},
		{`1,"b"`, nil},
		{`:2}`, nil},
		{"\n", []string{`{"a":1,"b":2}`}},
		{"second\r", nil},
		{"\nthi", []string{"second\r"}},
		{"rd\n", []string{"third"}},
	} {
		appendTo(t, path, step.piece)
		eof, err := r.readAvailable(context.Background(), out, g, time.Hour)
		if err != nil || !eof {
			t.Fatalf("after %q: read to the end %v, %v", step.piece, eof, err)
		}
		var now []Line
		for len(out) > 0 {
			now = append(now, <-out)
		}
		if !slices.Equal(texts(now), step.lines) {
			t.Fatalf("after %q: handed out %q, want %q", step.piece, texts(now), step.lines)
		}
		got = append(got, now...)
	}
	for i, off := range []int64{0, 14, 22} {
		if got[i].Offset != off {
			t.Errorf("line %d offset %d, want %d", i, got[i].Offset, off)
		}
	}
	if got[2].Next.Offset != 28 {
		t.Errorf("last Next.Offset %d, want 28", got[2].Next.Offset)
	}
	checkOffsets(t, got)
}

// TestTailer_HeadGrowsWithFile: a file empty when opened gets a head
// fingerprint as soon as it has bytes, before lines are handed out with it.
func TestTailer_HeadGrowsWithFile(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "")
	h := startTailer(t, testConfig(path), nil)
	h.waitLog("tailing")
	content := "one\ntwo\nthree\n"
	appendTo(t, path, content)
	got := h.waitN(3)
	sum := sha256.Sum256([]byte(content))
	for i, l := range got {
		if l.Next.HeadLen != len(content) || l.Next.Head != hex.EncodeToString(sum[:]) {
			t.Errorf("line %d: head %q/%d, want the fingerprint of all %d bytes", i, l.Next.Head, l.Next.HeadLen, len(content))
		}
	}
}

func TestTailer_StartAt(t *testing.T) {
	tests := []struct {
		name     string
		startAt  string
		initial  string
		appended string
		want     []string
		firstOff int64
	}{
		{"beginning", StartBeginning, "a\nb\n", "c\n", []string{"a", "b", "c"}, 0},
		{"default is beginning", "", "a\nb\n", "c\n", []string{"a", "b", "c"}, 0},
		{"end", StartEnd, "a\nb\n", "c\nd\n", []string{"c", "d"}, 4},
		{"end of empty file", StartEnd, "", "c\n", []string{"c"}, 0},
		{"end with a line being written", StartEnd, "a\nb\npar", "tial\nd\n", []string{"partial", "d"}, 4},
		{"end of a file with no newline", StartEnd, "par", "tial\n", []string{"partial"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := logPath(t)
			writeFile(t, path, tt.initial)
			cfg := testConfig(path)
			cfg.StartAt = tt.startAt
			h := startTailer(t, cfg, nil)
			h.waitLog("tailing")
			appendTo(t, path, tt.appended+"END\n")
			got := h.waitText("END")
			wantTexts(t, got, append(tt.want, "END"))
			if got[0].Offset != tt.firstOff {
				t.Errorf("first offset %d, want %d", got[0].Offset, tt.firstOff)
			}
			checkOffsets(t, got)
		})
	}
}

func TestTailer_FileAppearsLater(t *testing.T) {
	for _, startAt := range []string{StartBeginning, StartEnd} {
		t.Run(startAt, func(t *testing.T) {
			path := logPath(t)
			cfg := testConfig(path)
			cfg.StartAt = startAt
			h := startTailer(t, cfg, nil)
			h.waitLog("waiting for file to appear")
			writeFile(t, path, "one\ntwo\n")
			appendTo(t, path, "END\n")
			got := h.waitText("END")
			wantTexts(t, got, []string{"one", "two", "END"})
			if got[0].Offset != 0 {
				t.Errorf("first offset %d, want 0", got[0].Offset)
			}
			checkOffsets(t, got)
		})
	}
}

func TestTailer_LongLine(t *testing.T) {
	const limit = 16
	tests := []struct {
		name   string
		length int
		pieces int // written in this many writes
	}{
		{"exactly the limit", limit, 1},
		{"one over", limit + 1, 1},
		{"far over, across reads", 3*readBufSize + 7, 1},
		{"far over, across writes", 200_000, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := logPath(t)
			writeFile(t, path, "before\n")
			cfg := testConfig(path)
			cfg.MaxLineBytes = limit
			h := startTailer(t, cfg, nil)
			long := make([]byte, tt.length)
			for i := range long {
				long[i] = 'a' + byte(i%26)
			}
			step := (len(long) + tt.pieces - 1) / tt.pieces
			for i := 0; i < len(long); i += step {
				appendTo(t, path, string(long[i:min(i+step, len(long))]))
			}
			appendTo(t, path, "\nafter\n")
			got := h.waitText("after")
			wantTexts(t, got, []string{"before", string(long[:min(limit, len(long))]), "after"})
			l := got[1]
			truncated := tt.length > limit
			if l.Truncated != truncated || l.FullLen != int64(tt.length) {
				t.Fatalf("Truncated %v FullLen %d, want %v %d", l.Truncated, l.FullLen, truncated, tt.length)
			}
			var wantSum [32]byte
			if truncated {
				wantSum = sha256.Sum256(long)
			}
			if l.FullSHA256 != wantSum {
				t.Errorf("FullSHA256 %x, want %x", l.FullSHA256, wantSum)
			}
			if want := int64(7 + tt.length + 1); got[2].Offset != want {
				t.Errorf("line after the long one at %d, want %d", got[2].Offset, want)
			}
			checkOffsets(t, got)
		})
	}
}

// TestTailer_Burst writes many lines as fast as possible, in writes that
// split lines at random places, while the tailer reads.
func TestTailer_Burst(t *testing.T) {
	const n = 10_000
	path := logPath(t)
	writeFile(t, path, "")
	h := startTailer(t, testConfig(path), nil)
	want := numbered(`{"action":"tool_call","n":`, 0, n)
	data := joinLines(want)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for rest := data; rest != ""; {
		k := min(len(rest), 1+rng.IntN(4096))
		if _, err := f.WriteString(rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	if _, err := f.WriteString("END\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got := h.waitText("END")
	wantTexts(t, got, append(want, "END"))
	var off int64
	for i, l := range got {
		if l.Offset != off {
			t.Fatalf("line %d at %d, want %d", i, l.Offset, off)
		}
		off = l.Next.Offset
	}
	if off != int64(len(data)+4) {
		t.Fatalf("last Next.Offset %d, want %d", off, len(data)+4)
	}
}

// A pattern's matches leave out the rotated generations and compressed
// copies of other matches: they belong to that match's own Tailer.
func TestMulti_Matches(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"0.log", "1.log", "0.log.20261127-101010", "1.log.1", "2.log.gz", "other.txt"} {
		writeFile(t, filepath.Join(dir, name), "x\n")
	}
	m, err := NewMulti(filepath.Join(dir, "*.log*"), Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.matches()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "0.log"), filepath.Join(dir, "1.log")}
	if !slices.Equal(got, want) {
		t.Errorf("matches %v, want %v", got, want)
	}
	if _, err := NewMulti(filepath.Join(dir, "[.log"), Config{}, nil); err == nil {
		t.Error("a malformed pattern was accepted")
	}
	if !IsPattern("/var/log/pods/*/agent/*.log") || IsPattern("/var/log/agent.log") {
		t.Error("IsPattern")
	}
}

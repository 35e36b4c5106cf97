package tailer

import (
	"os"
	"testing"
	"time"
)

// savedIn is the position a run that read all of path and was stopped
// would have saved in it, the generation opened at opened.
func savedIn(t *testing.T, path string, opened time.Time) Position {
	t.Helper()
	id := fileID(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return Position{Path: path, Dev: id.Dev, Ino: id.Ino, Head: id.Head, HeadLen: id.HeadLen,
		Offset: fi.Size(), MTime: fi.ModTime().UnixNano(), Opened: opened.UnixNano()}
}

// TestTailer_RestartReadsACopyOfBytesNeverRead: the generation a position
// is in (x, holding the a lines) had earlier held the c lines, which were
// copied by copytruncate and truncated before a byte of them was read;
// the copy was never found by a look before the sidecar was killed, so no
// committed position names it, and its time says it is older than x. A
// restart reads it, whatever became of x while stopped, and nothing
// else that merely looks like it: a plain copy of what was read, a
// generation older than x's opening, one read before, or any such file
// when the position does not say when x was opened (an older version).
func TestTailer_RestartReadsACopyOfBytesNeverRead(t *testing.T) {
	a, c, b := numbered("a", 0, 3), numbered("c", 0, 3), numbered("b", 0, 2)
	cases := []struct {
		name string
		// layout writes the files; x is already at path holding a, and
		// p is saved in it. It returns the lines the restart must read.
		layout func(t *testing.T, path string, p *Position) []string
	}{
		{"x still at the path", func(t *testing.T, path string, p *Position) []string {
			writeFile(t, path+".1", joinLines(c))
			setMtime(t, path+".1", 30*time.Second)
			return c
		}},
		{"x rotated away while stopped", func(t *testing.T, path string, p *Position) []string {
			writeFile(t, path+".2", joinLines(c))
			setMtime(t, path+".2", 30*time.Second)
			rename(t, path, path+".1")
			writeFile(t, path, joinLines(b))
			return cat(c, b)
		}},
		{"x deleted while stopped", func(t *testing.T, path string, p *Position) []string {
			writeFile(t, path+".1", joinLines(c))
			setMtime(t, path+".1", 30*time.Second)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, joinLines(b))
			return cat(c, b)
		}},
		{"a plain copy of what was read", func(t *testing.T, path string, p *Position) []string {
			writeFile(t, path+".1", joinLines(a))
			setMtime(t, path+".1", 30*time.Second)
			return nil
		}},
		{"a short copy of what was read", func(t *testing.T, path string, p *Position) []string {
			writeFile(t, path+".1", joinLines(a[:1]))
			setMtime(t, path+".1", 30*time.Second)
			return nil
		}},
		{"a generation older than x's opening", func(t *testing.T, path string, p *Position) []string {
			writeFile(t, path+".1", joinLines(c))
			setMtime(t, path+".1", 2*time.Minute)
			return nil
		}},
		{"a copy read before", func(t *testing.T, path string, p *Position) []string {
			writeFile(t, path+".1", joinLines(c))
			setMtime(t, path+".1", 30*time.Second)
			id := fileID(t, path+".1")
			p.Read = []ReadGen{readGenOf(id)}
			return nil
		}},
		{"a position without its opening time", func(t *testing.T, path string, p *Position) []string {
			writeFile(t, path+".1", joinLines(c))
			setMtime(t, path+".1", 30*time.Second)
			p.Opened = 0
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := logPath(t)
			writeFile(t, path, joinLines(a))
			p := savedIn(t, path, time.Now().Add(-time.Minute))
			want := tc.layout(t, path, &p)
			h := startTailer(t, testConfig(path), &p)
			h.waitChecks(2)
			appendTo(t, path, "END\n")
			got := h.waitText("END")
			wantTexts(t, linesOf(got), cat(want, []string{"END"}))
		})
	}
}

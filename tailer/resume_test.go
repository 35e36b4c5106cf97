package tailer

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

const (
	warnNotFound  = "saved file generation not found: its unread rest is lost; reading the newer generations still on disk"
	warnTruncated = "file truncated while stopped, reading it again from the start"
)

func padded(lines []string, pad int) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l + strings.Repeat("x", pad)
	}
	return out
}

// TestTailer_Resume stops a tailer after it handed out five lines, of which
// the first three count as committed, changes the files while it is
// stopped, and resumes from the committed position.
func TestTailer_Resume(t *testing.T) {
	a := func(pad int) []string { return padded(numbered("a", 0, 5), pad) }
	end := []string{"END"}
	c := numbered("c", 0, 2)
	tests := []struct {
		name    string
		pad     int                                // bytes added to each first-run line
		stopped func(t *testing.T, path string)    // what happens while stopped
		running func(t *testing.T, path string)    // what happens once resumed, if anything
		want    []string                           // lines after resuming
		warn    string                             // the one warning expected, if any
		check   func(t *testing.T, saved Position) // more checks on the saved position
	}{
		{
			name:    "appended while stopped, short head",
			stopped: func(t *testing.T, path string) { appendTo(t, path, joinLines(cat(c, end))) },
			want:    cat(a(0)[3:], c, end),
			check: func(t *testing.T, saved Position) {
				if saved.HeadLen == 0 || saved.HeadLen >= HeadSize {
					t.Errorf("saved HeadLen %d, want a prefix shorter than %d", saved.HeadLen, HeadSize)
				}
			},
		},
		{
			name:    "appended while stopped, full head",
			pad:     100,
			stopped: func(t *testing.T, path string) { appendTo(t, path, joinLines(cat(c, end))) },
			want:    cat(a(100)[3:], c, end),
			check: func(t *testing.T, saved Position) {
				if saved.HeadLen != HeadSize {
					t.Errorf("saved HeadLen %d, want %d", saved.HeadLen, HeadSize)
				}
			},
		},
		{
			name: "rotated once",
			stopped: func(t *testing.T, path string) {
				appendTo(t, path, "a-late\n")
				rename(t, path, path+".1")
				writeFile(t, path, joinLines(cat(c, end)))
			},
			want: cat(a(0)[3:], []string{"a-late"}, c, end),
		},
		{
			name: "rotated twice, older sibling left alone",
			stopped: func(t *testing.T, path string) {
				writeFile(t, path+".3", "ancient\n")
				setMtime(t, path+".3", 3*time.Minute)
				rename(t, path, path+".2")
				setMtime(t, path+".2", 2*time.Minute)
				writeFile(t, path+".1", "b-0\nb-1\n")
				setMtime(t, path+".1", time.Minute)
				writeFile(t, path, joinLines(cat(c, end)))
			},
			want: cat(a(0)[3:], []string{"b-0", "b-1"}, c, end),
		},
		{
			name: "rotated twice, same modification times",
			stopped: func(t *testing.T, path string) {
				rename(t, path, path+".2")
				writeFile(t, path+".1", "b-0\nb-1\n")
				writeFile(t, path, joinLines(cat(c, end)))
				ts := time.Now().Add(-time.Minute)
				for _, p := range []string{path + ".2", path + ".1"} {
					if err := os.Chtimes(p, ts, ts); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: cat(a(0)[3:], []string{"b-0", "b-1"}, c, end),
		},
		{
			name: "dated siblings",
			stopped: func(t *testing.T, path string) {
				rename(t, path, path+"-20261125")
				setMtime(t, path+"-20261125", 2*time.Minute)
				writeFile(t, path+"-20261126", "b-0\n")
				setMtime(t, path+"-20261126", time.Minute)
				writeFile(t, path, joinLines(cat(c, end)))
			},
			want: cat(a(0)[3:], []string{"b-0"}, c, end),
		},
		{
			name: "rotated, path recreated only after resuming",
			stopped: func(t *testing.T, path string) {
				appendTo(t, path, "a-late\n")
				rename(t, path, path+".1")
			},
			running: func(t *testing.T, path string) { writeFile(t, path, joinLines(cat(c, end))) },
			want:    cat(a(0)[3:], []string{"a-late"}, c, end),
		},
		{
			name: "saved generation deleted",
			stopped: func(t *testing.T, path string) {
				rename(t, path, path+".1")
				if err := os.Remove(path + ".1"); err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, joinLines(cat(c, end)))
			},
			want: cat(c, end),
			warn: warnNotFound,
		},
		{
			name: "saved generation only compressed",
			stopped: func(t *testing.T, path string) {
				rename(t, path, path+".1.gz")
				writeFile(t, path, joinLines(cat(c, end)))
			},
			want: cat(c, end),
			warn: warnNotFound,
		},
		{
			name: "deleted and recreated",
			stopped: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, joinLines(cat(padded(numbered("d", 0, 5), 3), end)))
			},
			want: cat(padded(numbered("d", 0, 5), 3), end),
			warn: warnNotFound,
		},
		{
			name: "rewritten in place past the saved offset",
			stopped: func(t *testing.T, path string) {
				writeFile(t, path, joinLines(cat(numbered("dd", 0, 10), end)))
			},
			want: cat(numbered("dd", 0, 10), end),
			warn: warnNotFound,
		},
		{
			name: "copytruncate while stopped",
			stopped: func(t *testing.T, path string) {
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, path+".1", string(raw))
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				appendTo(t, path, joinLines(cat(c, end)))
			},
			want: cat(a(0)[3:], c, end),
		},
		{
			name: "truncated below the saved offset, head intact",
			pad:  200,
			stopped: func(t *testing.T, path string) {
				if err := os.Truncate(path, 2*int64(len(a(200)[0])+1)); err != nil {
					t.Fatal(err)
				}
				appendTo(t, path, joinLines(cat(c, end)))
			},
			want: cat(a(200)[:2], c, end),
			warn: warnTruncated,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := logPath(t)
			first := a(tt.pad)
			writeFile(t, path, joinLines(first))
			h := startTailer(t, testConfig(path), nil)
			saved := h.waitN(len(first))[2].Next
			h.stop()
			if tt.check != nil {
				tt.check(t, saved)
			}

			tt.stopped(t, path)
			h = startTailer(t, testConfig(path), &saved)
			if tt.running != nil {
				h.waitLog("tailing")
				tt.running(t, path)
			}
			got := h.waitText("END")
			if tt.warn == warnNotFound {
				// The saved generation's unread rest is reported first, and
				// the position moves to where reading goes on.
				g := got[0].Gap
				if g == nil || g.Reason != GapDeleted || g.From != saved.Offset || g.To != -1 || got[0].Ino != saved.Ino {
					t.Fatalf("first line %+v (gap %+v), want the gap of the deleted generation from %d", got[0], g, saved.Offset)
				}
				if next := got[0].Next; next.Ino != got[1].Ino || next.Offset != 0 {
					t.Errorf("gap moves the position to %+v, want offset 0 of the next generation (ino %d)", next, got[1].Ino)
				}
				got = got[1:]
			}
			wantTexts(t, got, tt.want)
			checkOffsets(t, got)
			if tt.warn == "" && got[0].Offset != saved.Offset {
				t.Errorf("resumed at %d, want the saved %d", got[0].Offset, saved.Offset)
			}
			var warns []string
			for _, e := range h.logs.FilterLevelExact(zapcore.WarnLevel).All() {
				warns = append(warns, e.Message)
			}
			if tt.warn == "" && len(warns) > 0 || tt.warn != "" && (len(warns) != 1 || warns[0] != tt.warn) {
				t.Errorf("warnings %q, want %q", warns, tt.warn)
			}
		})
	}
}

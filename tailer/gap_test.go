package tailer

import (
	"os"
	"testing"

	"go.uber.org/zap"
)

// A truncation that finds bytes seen but not read reports them as a gap:
// all of them without a copy, only those past the copy's end with one.
func TestRewritten_ReportsLostBytes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		copySize int // 0: no copy
		want     *Gap
	}{
		{"no copy", 0, &Gap{From: 500, To: 1000, Reason: "truncated"}},
		{"copy short of what was seen", 800, &Gap{From: 800, To: 1000, Reason: "copied and truncated"}},
		{"copy holds all that was seen", 1000, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := logPath(t)
			content := make([]byte, 1000)
			for i := range content {
				content[i] = 'x'
				if i%50 == 49 {
					content[i] = '\n'
				}
			}
			writeFile(t, path, string(content))
			if tc.copySize > 0 {
				writeFile(t, path+".1", string(content[:tc.copySize]))
			}
			f, id, _, err := openID(path)
			if err != nil {
				t.Fatal(err)
			}
			r := newRun(Config{Path: path, Logger: zap.NewNop(), Observer: nopObserver{}})
			defer r.close()
			g := newGen(f, path, id, 500)
			g.seen = 1000
			r.gens = []*gen{g}
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			r.rewritten(g, nil, 0)
			switch {
			case tc.want == nil && len(r.gaps) != 0:
				t.Errorf("gaps %+v, want none", *r.gaps[0].Gap)
			case tc.want != nil && (len(r.gaps) != 1 || *r.gaps[0].Gap != *tc.want || r.gaps[0].Ino != id.Ino):
				t.Errorf("gaps %v, want %+v", r.gaps, *tc.want)
			}
			if wantGens := 1 + min(tc.copySize, 1); len(r.gens) != wantGens {
				t.Errorf("%d generations to read, want %d", len(r.gens), wantGens)
			}
		})
	}
}

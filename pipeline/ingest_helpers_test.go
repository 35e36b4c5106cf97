package pipeline

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// faultySpool puts faults in front of a spool's commits. fail, if set, is
// asked before the nth call (from 1) and returns the error to fail it
// with, the spool untouched (nil: the call goes to the spool); after, if
// set, sees each call's outcome. Both run on the ingest goroutine.
type faultySpool struct {
	sp    *spool.Spool
	calls int
	fail  func(n int) error
	after func(n int, err error)
}

func (f *faultySpool) AppendExtra(batch []record.Sealed, source []byte, x spool.Extra) error {
	f.calls++
	var err error
	if f.fail != nil {
		err = f.fail(f.calls)
	}
	if err == nil {
		err = f.sp.AppendExtra(batch, source, x)
	}
	if f.after != nil {
		f.after(f.calls, err)
	}
	return err
}

// newSpool opens a spool in a temporary folder, with the sink "s"
// registered; it is closed when the test ends.
func newSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	if err := sp.Register([]string{"s"}); err != nil {
		t.Fatal(err)
	}
	return sp
}

// keep is a sink that keeps every record it is given, MAC included.
type keep struct {
	mu  sync.Mutex
	got []record.Sealed
}

func (k *keep) Write(ctx context.Context, batch []record.Sealed) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.got = append(k.got, batch...)
	return nil
}

func (k *keep) Close() error { return nil }

// spooled delivers every record sp holds for its sink "s" and returns
// them as the spool gave them (seq, payload, MAC).
func spooled(t *testing.T, sp *spool.Spool) []record.Sealed {
	t.Helper()
	k := &keep{}
	drain := make(chan struct{})
	close(drain)
	if err := NewDeliverer("s", k, sp, nil, nil).Run(context.Background(), drain); err != nil {
		t.Fatal(err)
	}
	return k.got
}

// lineAt is line n of file (at byte n*100, 100 bytes long); watch is the
// name that matched, "" for a single-file source.
func lineAt(file, watch string, n int, text string) tailer.Line {
	return tailer.Line{Text: []byte(text), Watch: watch, Path: file, Dev: 1, Ino: 2, Offset: int64(n * 100),
		Next: tailer.Position{Path: file, Dev: 1, Ino: 2, Offset: int64(n*100 + 100)}}
}

// sourceLines are the lines 0..n-1 of the source the v0 fixtures were made
// from: one file, /log, or (multi) two files read in turn, /a and /b.
func sourceLines(n int, multi bool) []tailer.Line {
	var out []tailer.Line
	for i := range n {
		text := fmt.Sprintf(`{"action":"tool_call","arguments":{"n":%d}}`, i)
		if multi {
			f := []string{"/a", "/b"}[i%2]
			out = append(out, lineAt(f, f, i/2, text))
		} else {
			out = append(out, lineAt("/log", "", i, text))
		}
	}
	return out
}

// openFixture opens a copy of testdata/name.gz, a spool file.
func openFixture(t *testing.T, name string) (*spool.Spool, string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp, path
}

// copySpool copies the spool file at path as it is on disk now: what a
// kill -9 would leave. It must be called between commits; it may be
// called from the ingest goroutine ("" on error).
func copySpool(t *testing.T, path string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "copy.db")
	b, err := os.ReadFile(path)
	if err == nil {
		err = os.WriteFile(to, b, 0o600)
	}
	if err != nil {
		t.Error(err)
		return ""
	}
	return to
}

// lineKey names a source line by file and offset.
type lineKey struct {
	file   string
	offset int64
}

// sourced returns how many records each source line has in recs.
func sourced(t *testing.T, recs []record.Sealed) map[lineKey]int {
	t.Helper()
	got := map[lineKey]int{}
	for _, s := range recs {
		r, err := record.Parse(s.Payload)
		if err != nil {
			t.Fatalf("seq %d: %v", s.Seq, err)
		}
		if r.Source != nil {
			got[lineKey{r.Source.File, r.Source.Offset}]++
		}
	}
	return got
}

// checkExactlyOnce fails unless recs are a valid chain from seq 1 (each
// MAC as stored) holding one record of each line in want, and none of
// any other line.
func checkExactlyOnce(t *testing.T, recs []record.Sealed, key chain.Key, want []tailer.Line) {
	t.Helper()
	slices.SortFunc(recs, func(a, b record.Sealed) int { return int(a.Seq) - int(b.Seq) })
	var problems []string
	v := chain.NewVerifier("c", chain.Keyring{key.ID: key}, func(e *chain.VerifyError) { problems = append(problems, e.Error()) })
	for i, s := range recs {
		if s.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, s.Seq)
		}
		v.Add(s.Seq, s.Payload, s.MAC[:])
	}
	if sum := v.Finish(); sum.Invalid != 0 || len(problems) > 0 {
		t.Fatalf("chain invalid: %v", problems)
	}
	got := sourced(t, recs)
	for _, l := range want {
		k := lineKey{l.Path, l.Offset}
		if got[k] != 1 {
			t.Errorf("line %s@%d has %d records, want 1", l.Path, l.Offset, got[k])
		}
		delete(got, k)
	}
	for k, n := range got {
		t.Errorf("line %s@%d has %d records, want none", k.file, k.offset, n)
	}
}

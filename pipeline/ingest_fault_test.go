package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

var errDisk = errors.New("injected: input/output error")

// runLines runs in over all of lines (a buffered channel holding them),
// then stops it, and returns what Run returned.
func runLines(in *Ingester, lines chan tailer.Line) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, lines) }()
	for len(lines) > 0 { // all received: Run handles a line before it selects again
		select {
		case err := <-done:
			return err
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	return <-done
}

// feed is a buffered channel holding ls.
func feed(ls []tailer.Line) chan tailer.Line {
	c := make(chan tailer.Line, len(ls))
	for _, l := range ls {
		c <- l
	}
	return c
}

// A spool commit that fails is retried with the same batch: nothing is
// lost, nothing stored twice, and no line is read while it fails.
func TestIngest_FailedCommitKeepsTheBatch(t *testing.T) {
	sp := newSpool(t)
	key := testKey(t)
	reg := prometheus.NewRegistry()
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: key, Spool: sp, Redactor: upper{}, BatchRecords: 3, BatchWait: time.Hour,
		Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	all := sourceLines(10, false)
	lines := feed(all)
	queued := -1 // lines waiting when the first commit of lines failed
	fs := &faultySpool{sp: sp, fail: func(n int) error {
		switch n {
		case 2: // the first batch of lines (1 is the start's)
			queued = len(lines)
			return errDisk
		case 3, 4:
			if !in.CommitFailing() || len(lines) != queued {
				t.Errorf("retry %d: CommitFailing %v, %d lines waiting, %d when it failed", n-2, in.CommitFailing(), len(lines), queued)
			}
			return errDisk
		}
		return nil
	}}
	in.store = fs
	if err := runLines(in, lines); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, reg, "audit_spool_commit_errors_total"); got != 3 || in.CommitFailing() {
		t.Errorf("%v commit errors counted (want 3), failing %v", got, in.CommitFailing())
	}
	checkExactlyOnce(t, spooled(t, sp), key, all)
}

// The records of a batch and the source position after it are stored in
// one spool transaction: a crash right after any commit fails finds both
// or neither, and resumes with every line stored once.
func TestIngest_RecordsAndPositionCommitTogether(t *testing.T) {
	key := testKey(t)
	all := sourceLines(10, false)
	// Fault k fails the kth call to the spool: each of a clean run's, and
	// as many again (were a commit made of two transactions).
	calls := commitsOf(t, all)
	fired := 0
	for k := 1; k <= 2*calls; k++ {
		t.Run(fmt.Sprint("fault ", k), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spool.db")
			sp, err := spool.Open(path, spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			sp.Register([]string{"s"})
			cfg := IngestConfig{ChainID: "c", Key: key, Spool: sp, Redactor: upper{}, BatchRecords: 3, BatchWait: time.Hour}
			in, err := NewIngester(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var crashed string // the spool file as the fault left it
			in.store = &faultySpool{sp: sp, fail: func(n int) error {
				if n != k {
					return nil
				}
				crashed = copySpool(t, path)
				fired++
				return errDisk
			}}
			runErr := runLines(in, feed(all))
			if crashed != "" {
				checkCrashed(t, cfg, crashed, all)
			}
			if runErr != nil {
				t.Fatal(runErr)
			}
			checkExactlyOnce(t, spooled(t, sp), key, all) // the run itself retried
		})
	}
	if fired < calls {
		t.Errorf("%d faults injected, want at least one at each of the %d commits", fired, calls)
	}
}

// checkCrashed starts from the spool file crashed, a copy of what a kill -9
// at a failed commit leaves, and fails unless it holds records and source
// position of whole commits (both or neither of each), and a run from
// there stores every line of all once.
func checkCrashed(t *testing.T, cfg IngestConfig, crashed string, all []tailer.Line) {
	t.Helper()
	key := cfg.Key
	sp2, err := spool.Open(crashed, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	cfg.Spool = sp2
	in2, err := NewIngester(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := in2.Resume()
	if err != nil {
		t.Fatal(err)
	}
	var next int64 // the first line not committed
	if p != nil {
		next = p.Offset
	}
	durable := spooled(t, sp2)
	held := sourced(t, durable)
	for _, l := range all {
		if n := held[lineKey{l.Path, l.Offset}]; (l.Offset < next) != (n == 1) || n > 1 {
			t.Errorf("after the fault: position %d, line at %d has %d records", next, l.Offset, n)
		}
	}
	// And the restart goes on from there: with what it adds, every
	// line is stored once in one valid chain.
	var rest []tailer.Line
	for _, l := range all {
		if l.Offset >= next {
			rest = append(rest, l)
		}
	}
	if err := runLines(in2, feed(rest)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, append(durable, spooled(t, sp2)...), key, all)
}

// commitsOf is how many calls to the spool a run over ls makes.
func commitsOf(t *testing.T, ls []tailer.Line) int {
	sp := newSpool(t)
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, BatchRecords: 3, BatchWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fs := &faultySpool{sp: sp}
	in.store = fs
	if err := runLines(in, feed(ls)); err != nil {
		t.Fatal(err)
	}
	return fs.calls
}

// A commit the spool refuses for good ends the run with that error, even
// when the final commit fails otherwise (its error is joined, not put in
// the first one's place).
func TestIngest_FirstCommitErrorIsReturned(t *testing.T) {
	sp := newSpool(t)
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, BatchRecords: 1})
	if err != nil {
		t.Fatal(err)
	}
	in.store = &faultySpool{sp: sp, fail: func(n int) error {
		switch {
		case n == 2:
			return fmt.Errorf("injected: %w", spool.ErrNotContiguous)
		case n > 2:
			return fmt.Errorf("injected: %w", spool.ErrChainMismatch)
		}
		return nil
	}}
	lines := feed(sourceLines(3, false))
	// Closed, so that a run that goes on past the refused commit ends too,
	// and fails here instead of hanging.
	close(lines)
	err = in.Run(context.Background(), lines) // ends by itself
	if !errors.Is(err, spool.ErrNotContiguous) || !errors.Is(err, spool.ErrChainMismatch) {
		t.Fatalf("Run: %v; want the failed commit's error and the final commit's", err)
	}
}

// Stopped while a failed commit is retried, the run still commits it all
// with sidecar_stop and ends clean.
func TestIngest_StopWhileCommitRetried(t *testing.T) {
	sp := newSpool(t)
	key := testKey(t)
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: key, Spool: sp, Redactor: upper{}, BatchRecords: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in.store = &faultySpool{sp: sp, fail: func(n int) error {
		if n == 2 {
			cancel()
			return errDisk
		}
		return nil
	}}
	all := sourceLines(1, false)
	if err := in.Run(ctx, feed(all)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, spooled(t, sp), key, all)
}

// counterValue is the value of the counter name in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

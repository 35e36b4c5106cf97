package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
)

// A SQLite file deleted under a running deliverer is found (by the idle
// check, or at the next write): the deliverer counts it, reports the sink
// down until the sidecar restarts, and delivers the later records to a
// new file at the path. The records delivered to the deleted file are not
// sent again (the spool no longer holds them): the new file begins after
// them, where verify sees them missing.
func TestDeliver_SQLiteFileDeletedWhileRunning(t *testing.T) {
	for _, tc := range []struct {
		name string
		idle bool // wait for the idle check before more records come
	}{{"found while idle", true}, {"found at the next write or check", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if err := sp.Register([]string{"local"}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "data", "audit.db")
			db, err := sink.OpenSQLite(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			sealer := chain.NewSealer("c", testKey(t), chain.Head{})
			appendN := func(n int) {
				t.Helper()
				var batch []record.Sealed
				for range n {
					batch = append(batch, sealer.Seal(&record.Record{TS: time.Unix(0, 0), IngestedAt: time.Unix(0, 0), Action: record.ActionDecision}))
				}
				if err := sp.Append(batch, nil); err != nil {
					t.Fatal(err)
				}
			}
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			d := NewDeliverer("local", db, sp, m, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx, nil) }()
			defer func() {
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("run: %v", err)
				}
			}()

			appendN(10)
			waitCursor(t, sp, "local", 10)
			// The cursor moves before the deliverer marks the sink up.
			waitUntil(t, "audit_sink_up 1 after the first delivery", func() bool {
				v, ok := metricSample(t, reg, "audit_sink_up")
				return ok && v == 1
			})
			if d.LostRecords() != nil {
				t.Fatalf("before the deletion: lost %v", d.LostRecords())
			}
			for _, suf := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(path + suf); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
			if tc.idle {
				waitUntil(t, "the idle check to find the deletion", func() bool { return d.LostRecords() != nil })
			}
			appendN(10)
			waitCursor(t, sp, "local", 20)

			if !errors.Is(d.LostRecords(), sink.ErrReplaced) {
				t.Errorf("LostRecords = %v, want an error wrapping sink.ErrReplaced", d.LostRecords())
			}
			if n := metricValue(t, reg, "audit_sink_replaced_total"); n != 1 {
				t.Errorf("audit_sink_replaced_total = %v, want 1", n)
			}
			if up := metricValue(t, reg, "audit_sink_up"); up != 0 {
				t.Errorf("audit_sink_up = %v after the loss and later writes, want 0", up)
			}
			var seqs []uint64
			if err := db.Scan(ctx, "c", func(r sink.Row) error { seqs = append(seqs, r.Seq); return nil }); err != nil {
				t.Fatal(err)
			}
			if want := []uint64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}; !slices.Equal(seqs, want) {
				t.Errorf("the file at the path holds %v, want %v", seqs, want)
			}
		})
	}
}

func waitCursor(t *testing.T, sp *spool.Spool, name string, want uint64) {
	t.Helper()
	waitUntil(t, "the sink's cursor to reach the head", func() bool { c, _ := sp.Cursor(name); return c == want })
}

// waitUntil polls cond for up to a minute: a condition, never a duration,
// is what the test waits for.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// metricValue reads the one sample of the gauge or counter name in reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	v, ok := metricSample(t, reg, name)
	if !ok {
		t.Fatalf("no single sample of %s", name)
	}
	return v
}

// metricSample is the value of the one sample of the metric name, if
// there is exactly one.
func metricSample(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		if c := mf.GetMetric()[0].GetCounter(); c != nil {
			return c.GetValue(), true
		}
		return mf.GetMetric()[0].GetGauge().GetValue(), true
	}
	return 0, false
}

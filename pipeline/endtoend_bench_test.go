package pipeline

import (
	"bufio"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// benchEvents returns the lines of testdata/events-1000.jsonl.gz: 1 000
// agent events of the bench workload generator (bench/cmd/gen -n 1000
// -seed 7), every type in its share, 30 % with PII.
func benchEvents(b *testing.B) [][]byte {
	f, err := os.Open(filepath.Join("testdata", "events-1000.jsonl.gz"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(z)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil || len(out) != 1000 {
		b.Fatalf("read %d events: %v", len(out), err)
	}
	return out
}

// BenchmarkEndToEnd runs the whole path of a line, as `audit-sidecar run`
// wires it, on the bench workload's events: the ingester (parse, redact
// with the core pack, seal, spool commits of 1000 records with fsync)
// and a deliverer into a sink, until the sink holds every record. Lines
// come from memory (the tailer is not measured). It reports per event the
// wall time, the bytes and objects allocated by the whole process
// (runtime.MemStats over the run: every goroutine, the sink's included),
// and the garbage collections per 1000 events. Run with a fixed count:
// -benchtime=200000x.
func BenchmarkEndToEnd(b *testing.B) {
	events := benchEvents(b)
	for _, target := range []string{"sqlite", "null"} {
		b.Run(target, func(b *testing.B) {
			dir := b.TempDir()
			sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer sp.Close()
			if err := sp.Register([]string{"local"}); err != nil {
				b.Fatal(err)
			}
			var s sink.Sink = sink.Null{}
			if target == "sqlite" {
				db, err := sink.OpenSQLite(filepath.Join(dir, "audit.db"), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				s = db
			}
			red, err := redact.New(redact.Config{Packs: []string{"core"}})
			if err != nil {
				b.Fatal(err)
			}
			in, err := NewIngester(IngestConfig{ChainID: "bench", Key: testKey(&testing.T{}), Spool: sp,
				Redactor: red, BatchWait: 200 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			d := NewDeliverer("local", s, sp, nil, nil)
			lines := make(chan tailer.Line, 1024)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ingested := make(chan error, 1)
			delivered := make(chan error, 1)
			drain := make(chan struct{})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			go func() { ingested <- in.Run(ctx, lines) }()
			go func() { delivered <- d.Run(ctx, drain) }()
			for i := range b.N {
				text := events[i%len(events)]
				lines <- tailer.Line{Text: text, Path: "/log", Offset: int64(i) * 600,
					Next: tailer.Position{Path: "/log", Offset: int64(i+1) * 600}}
			}
			close(lines)
			if err := <-ingested; err != nil {
				b.Fatal(err)
			}
			close(drain) // the deliverer returns once the sink has everything
			if err := <-delivered; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			// chain_start, sidecar_start and sidecar_stop besides the events.
			if c, _ := sp.Cursor("local"); c != uint64(b.N)+3 {
				b.Fatalf("delivered through %d of %d (spool head %d)", c, b.N+3, sp.State().HeadSeq)
			}
			n := float64(b.N)
			b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/event")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
			b.ReportMetric(float64(after.NumGC-before.NumGC)/n*1000, "GCs/1k-events")
		})
	}
}

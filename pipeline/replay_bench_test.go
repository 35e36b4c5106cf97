package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
)

// BenchmarkReplay_SQLite measures the replay after a sink outage: b.N
// sealed records of about 600 bytes wait in the spool, and one Deliverer
// moves them all into a new SQLite file (batches of DeliverBatch, one
// fsync each, acknowledged in the spool). Compare records/s with the
// steady ingest rate of the end-to-end benchmark. Run with a fixed count,
// e.g. -benchtime=200000x.
func BenchmarkReplay_SQLite(b *testing.B) {
	dir := b.TempDir()
	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	if err := sp.Register([]string{"local"}); err != nil {
		b.Fatal(err)
	}
	key, err := chain.NewKey("", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	sealer := chain.NewSealer("replay", key, chain.Head{})
	detail, _ := json.Marshal(map[string]any{"body": fmt.Sprintf("%0400d", 0)})
	for done := 0; done < b.N; {
		batch := make([]record.Sealed, 0, 1000)
		for ; len(batch) < 1000 && done < b.N; done++ {
			now := time.Now()
			r := &record.Record{TS: now, IngestedAt: now, Action: record.ActionToolCall, Tool: "search",
				User: fmt.Sprintf("u-%d", done%1000), Session: fmt.Sprintf("s-%d", done%10000), Tenant: "acme", Detail: detail}
			if done == 0 {
				r.Action = record.ActionChainStart
			}
			batch = append(batch, sealer.Seal(r))
		}
		if err := sp.Append(batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	db, err := sink.OpenSQLite(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	d := NewDeliverer("local", db, sp, nil, nil)
	drain := make(chan struct{})
	close(drain) // return once the sink has everything
	b.ResetTimer()
	if err := d.Run(context.Background(), drain); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if c, _ := sp.Cursor("local"); c != uint64(b.N) {
		b.Fatalf("delivered through %d of %d", c, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

package sink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"

	"github.com/fips-agents/audit-sidecar/record"
	"testing"
)

// BenchmarkPostgres_Write measures committed, idempotent deliveries into
// PostgreSQL (COPY into the staging table, INSERT … ON CONFLICT DO
// NOTHING, the fork check) in batches of 1000 records of one chain, and a
// replay of batches already stored. Run with a fixed count, e.g.
// -benchtime=200x for 200 000 records.
func BenchmarkPostgres_Write(b *testing.B) {
	batchSize := 1000
	if n, err := strconv.Atoi(os.Getenv("BENCH_BATCH")); err == nil {
		batchSize = n
	}
	variants := []struct {
		name   string
		replay bool
		setup  []string
	}{
		{"new", false, nil},
		{"replay", true, nil},
		{"new_without_rare_value_indexes", false, []string{`DROP INDEX audit_records_rare_action`, `DROP INDEX audit_records_rare_outcome`, `DROP INDEX audit_records_tenant_rare_action`}},
		{"new_without_tool_index", false, []string{`DROP INDEX audit_records_tool`}},
		{"new_without_user_session_indexes", false, []string{`DROP INDEX audit_records_user`, `DROP INDEX audit_records_session`}},
		{"new_without_query_indexes", false, []string{`DROP INDEX audit_records_user`, `DROP INDEX audit_records_session`, `DROP INDEX audit_records_tenant`, `DROP INDEX audit_records_ts`, `DROP INDEX audit_records_tool`, `DROP INDEX audit_records_rare_action`, `DROP INDEX audit_records_rare_outcome`, `DROP INDEX audit_records_tenant_rare_action`}},
	}
	for _, v := range variants {
		replay := v.replay
		b.Run(v.name, func(b *testing.B) {
			p := openTestPostgres(b)
			c := pgAdmin(b, pgDSNOf(b, p))
			for _, stmt := range v.setup {
				if _, err := c.Exec(context.Background(), stmt); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for n := range b.N {
				b.StopTimer()
				batch := benchBatch(rng, n, batchSize)
				if replay {
					if err := p.Write(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if err := p.Write(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkPostgres_WriteParallel measures the aggregate rate of several
// sidecars (one chain each) delivering into one table at once, batches of
// 1000. b.N batches in all.
func BenchmarkPostgres_WriteParallel(b *testing.B) {
	for _, writers := range []int{2, 4} {
		b.Run(strconv.Itoa(writers), func(b *testing.B) {
			p := openTestPostgres(b)
			const batchSize = 1000
			batches := make([][][]record.Sealed, writers)
			for w := range writers {
				rng := rand.New(rand.NewPCG(uint64(w), 2))
				for n := w; n < b.N; n += writers {
					batch := benchBatch(rng, n/writers, batchSize)
					batches[w] = append(batches[w], rechain(batch, fmt.Sprintf("bench-%d", w)))
				}
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, batch := range batches[w] {
						if err := p.Write(context.Background(), batch); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// rechain re-encodes batch as records of chain id.
func rechain(batch []record.Sealed, id string) []record.Sealed {
	out := make([]record.Sealed, len(batch))
	for i := range batch {
		r, err := record.Parse(batch[i].Payload)
		if err != nil {
			panic(err)
		}
		r.Chain = id
		out[i] = seal(r)
	}
	return out
}

// BenchmarkPostgres_InFlight measures one chain's delivery as the
// deliverer does it for a Pipeliner, with 1 or 2 batches in flight: the
// next batch prepared while the previous one commits, commits in order.
// b.N batches of BENCH_BATCH records (default 5000, the size a backlog is
// sent in).
func BenchmarkPostgres_InFlight(b *testing.B) {
	batchSize := pgMaxBatch
	if n, err := strconv.Atoi(os.Getenv("BENCH_BATCH")); err == nil {
		batchSize = n
	}
	for _, depth := range []int{1, pgInFlight} {
		b.Run(strconv.Itoa(depth), func(b *testing.B) {
			p := openTestPostgres(b)
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(1, 2))
			batches := make([][]record.Sealed, b.N)
			for n := range batches {
				batches[n] = benchBatch(rng, n, batchSize)
			}
			type prepared struct {
				b   Prepared
				err error
			}
			var queue []chan prepared
			next := 0
			b.ResetTimer()
			for range b.N {
				for ; len(queue) < depth && next < b.N; next++ {
					ch := make(chan prepared, 1)
					go func(batch []record.Sealed) {
						pb, err := p.Prepare(ctx, batch)
						ch <- prepared{pb, err}
					}(batches[next])
					queue = append(queue, ch)
				}
				r := <-queue[0]
				queue = queue[1:]
				if r.err != nil {
					b.Fatal(r.err)
				}
				if err := r.b.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

package sink

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkPostgres_Write measures committed, idempotent deliveries into
// PostgreSQL (COPY into the staging table, INSERT … ON CONFLICT DO
// NOTHING, the fork check) in batches of 1000 records of one chain, and a
// replay of batches already stored. Run with a fixed count, e.g.
// -benchtime=200x for 200 000 records.
func BenchmarkPostgres_Write(b *testing.B) {
	const batchSize = 1000
	variants := []struct {
		name   string
		replay bool
		setup  []string
	}{
		{"new", false, nil},
		{"replay", true, nil},
		{"new_without_user_session_indexes", false, []string{`DROP INDEX audit_records_user`, `DROP INDEX audit_records_session`}},
		{"new_without_query_indexes", false, []string{`DROP INDEX audit_records_user`, `DROP INDEX audit_records_session`, `DROP INDEX audit_records_tenant`, `DROP INDEX audit_records_ts`}},
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

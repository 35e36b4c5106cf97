package sink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/fips-agents/audit-sidecar/record"
)

// benchBatch returns batch number n (from 0) of size records of one chain,
// with payloads of about 600 bytes and users, sessions and tools spread
// the way many agents' traffic would be, so index inserts land at random
// places instead of always at the end.
func benchBatch(rng *rand.Rand, n, size int) []record.Sealed {
	out := make([]record.Sealed, size)
	for i := range out {
		seq := uint64(n*size + i + 1)
		r := newRecord("bench", seq, baseTS.Add(time.Duration(seq)*time.Millisecond))
		r.User = fmt.Sprintf("u-%d", rng.IntN(1000))
		r.Session = fmt.Sprintf("s-%d", rng.IntN(10000))
		r.Tool = fmt.Sprintf("tool-%d", rng.IntN(50))
		r.Action, r.Outcome = benchAction(rng)
		out[i] = seal(r)
	}
	return out
}

// benchAction draws an action and outcome in the proportions of agent
// traffic (as in bench/pgquery): mostly model and tool calls, a few
// approvals, rare errors.
func benchAction(rng *rand.Rand) (action, outcome string) {
	switch n := rng.IntN(1000); {
	case n < 120:
		return record.ActionDecision, "success"
	case n < 420:
		return record.ActionModelCall, "success"
	case n < 660:
		return record.ActionToolCall, "pending"
	case n < 900:
		if n < 880 {
			return record.ActionToolResult, "success"
		}
		return record.ActionToolResult, "failure"
	case n < 950:
		return record.ActionApprovalRequested, "pending"
	case n < 990:
		return record.ActionApprovalGranted, "approved"
	case n < 998:
		return record.ActionApprovalDenied, "denied"
	default:
		return record.ActionError, "failure"
	}
}

// BenchmarkSQLite_Write measures committed inserts (synchronous=FULL, one
// fsync per batch) in batches of 1000 records, with the schema's indexes
// and triggers and with some of them removed or added, to show what each
// costs. Run with a fixed count so that each variant grows the table to
// the same size, e.g. -benchtime=100x for 100 000 records.
func BenchmarkSQLite_Write(b *testing.B) {
	const batchSize = 1000
	variants := []struct {
		name  string
		setup []string
	}{
		{"schema", nil},
		{"plus_user_session_indexes", []string{
			`CREATE INDEX audit_records_user ON audit_records (user, ts, chain, seq)`,
			`CREATE INDEX audit_records_session ON audit_records (session, ts, chain, seq)`,
		}},
		{"plus_user_session_action_tool_indexes", []string{
			`CREATE INDEX audit_records_user ON audit_records (user, ts, chain, seq)`,
			`CREATE INDEX audit_records_session ON audit_records (session, ts, chain, seq)`,
			`CREATE INDEX audit_records_action ON audit_records (action, ts, chain, seq)`,
			`CREATE INDEX audit_records_tool ON audit_records (tool, ts, chain, seq)`,
		}},
		{"with_insert_guard_triggers", []string{
			`CREATE TRIGGER audit_records_no_replace_key BEFORE INSERT ON audit_records
			WHEN EXISTS (SELECT 1 FROM audit_records WHERE chain = NEW.chain AND seq = NEW.seq)
			BEGIN SELECT RAISE(IGNORE); END`,
			`CREATE TRIGGER audit_records_no_replace_rowid BEFORE INSERT ON audit_records
			WHEN EXISTS (SELECT 1 FROM audit_records WHERE rowid = NEW.rowid)
			BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END`,
		}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			s, _ := openTestSQLite(b)
			// One connection, so that its page-write counter sees every
			// insert (Write uses one connection per batch anyway).
			s.db.SetMaxOpenConns(1)
			for _, stmt := range v.setup {
				if _, err := s.db.Exec(stmt); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var bytes int64
			b.ResetTimer()
			for n := range b.N {
				b.StopTimer()
				batch := benchBatch(rng, n, batchSize)
				for i := range batch {
					bytes += int64(len(batch[i].Payload))
				}
				b.StartTimer()
				if err := s.Write(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "records/s")
			// Pages written per record do not depend on the machine's load,
			// unlike the rate: each is 4 KiB appended to the WAL and fsynced.
			b.ReportMetric(float64(pagesWritten(b, s))/float64(b.N*batchSize), "pages/record")
			b.ReportMetric(float64(bytes)/float64(b.N*batchSize), "payload_B/record")
		})
	}
}

// pagesWritten returns how many pages the pool's connection has written.
func pagesWritten(b *testing.B, s *SQLite) int {
	conn, err := s.db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var n int
	err = conn.Raw(func(dc any) error {
		st, ok := dc.(sqlite.DBStatus)
		if !ok {
			return fmt.Errorf("driver connection %T has no DBStatus", dc)
		}
		n, _, err = st.Status(sqlite.DBStatusCacheWrite, false)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

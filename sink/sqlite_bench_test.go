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
// places instead of always at the end: the pessimistic case of the user
// and session indexes (a batch of 1000 touches ~630 users and ~950
// sessions).
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

// podWorkload is the traffic of one agent pod, which a sidecar serves:
// a few to some tens of sessions at once (64 here, interleaved, as the
// bench workload generator runs them), each of one user and about 50
// records, replaced by a new session of a user drawn from 5000 when it
// ends, so the users and sessions a batch touches drift over time.
type podWorkload struct {
	rng      *rand.Rand
	sessions []podSession
	next     int
}

type podSession struct {
	id, user string
	left     int
}

func newPodWorkload(rng *rand.Rand) *podWorkload {
	w := &podWorkload{rng: rng, sessions: make([]podSession, 64)}
	for i := range w.sessions {
		w.sessions[i] = w.session()
	}
	return w
}

func (w *podWorkload) session() podSession {
	w.next++
	return podSession{id: fmt.Sprintf("s-%d", w.next), user: fmt.Sprintf("u-%d", w.rng.IntN(5000)),
		left: 1 + int(w.rng.ExpFloat64()*49)}
}

// batch is benchBatch for the pod's traffic.
func (w *podWorkload) batch(n, size int) []record.Sealed {
	out := make([]record.Sealed, size)
	for i := range out {
		seq := uint64(n*size + i + 1)
		r := newRecord("bench", seq, baseTS.Add(time.Duration(seq)*time.Millisecond))
		slot := w.rng.IntN(len(w.sessions))
		r.User, r.Session = w.sessions[slot].user, w.sessions[slot].id
		if w.sessions[slot].left--; w.sessions[slot].left <= 0 {
			w.sessions[slot] = w.session()
		}
		r.Tool = fmt.Sprintf("tool-%d", w.rng.IntN(50))
		r.Action, r.Outcome = benchAction(w.rng)
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
// and triggers and with some added (the query indexes among them), to show what each
// costs, for two spreads of users and sessions: random (each batch
// touches ~630 users and ~950 sessions: the pessimistic case of their
// indexes) and pod (64 sessions at once, see podWorkload: what a sidecar
// sees). Run with a fixed count so that each variant grows the table to
// the same size, e.g. -benchtime=100x for 100 000 records.
func BenchmarkSQLite_Write(b *testing.B) {
	const batchSize = 1000
	variants := []struct {
		name  string
		setup []string
	}{
		{"schema", nil},
		{"plus_user_session_query_indexes", []string{QueryIndexes["user"], QueryIndexes["session"]}},
		{"plus_user_session_action_tool_indexes", []string{
			QueryIndexes["user"], QueryIndexes["session"],
			`CREATE INDEX audit_records_action ON audit_records (action, ts, chain, seq)`,
			`CREATE INDEX audit_records_tool ON audit_records (tool, ts, chain, seq) WHERE tool <> ''`,
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
	spreads := []struct {
		name string
		gen  func(rng *rand.Rand) func(n, size int) []record.Sealed
	}{
		{"random", func(rng *rand.Rand) func(n, size int) []record.Sealed {
			return func(n, size int) []record.Sealed { return benchBatch(rng, n, size) }
		}},
		{"pod", func(rng *rand.Rand) func(n, size int) []record.Sealed { return newPodWorkload(rng).batch }},
	}
	for _, sp := range spreads {
		for _, v := range variants {
			b.Run(sp.name+"/"+v.name, func(b *testing.B) {
				s, _ := openTestSQLite(b)
				// One connection, so that its page-write counter sees every
				// insert (Write uses one connection per batch anyway).
				s.db.SetMaxOpenConns(2) // hold, and one
				for _, stmt := range v.setup {
					if _, err := s.db.Exec(stmt); err != nil {
						b.Fatal(err)
					}
				}
				next := sp.gen(rand.New(rand.NewPCG(1, 2)))
				var bytes int64
				b.ResetTimer()
				for n := range b.N {
					b.StopTimer()
					batch := next(n, batchSize)
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

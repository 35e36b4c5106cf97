package query

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// The sinks that production wires in are Stores.
var (
	_ Store = (*sink.SQLite)(nil)
	_ Store = (*sink.Postgres)(nil)
)

// fakeStore is an in-memory Store with the semantics of sink.SQLite.Search:
// every set field filters with AND, From inclusive, To exclusive, keyset
// paging strictly after f.After in (ts, chain, seq) order, Limit 1..1000.
type fakeStore struct {
	rows []sink.Row // sorted by (ts, chain, seq)
	err  error      // returned by every Search when set

	mu    sync.Mutex
	calls []sink.Filter
}

func newFakeStore(recs []*record.Record) *fakeStore {
	s := &fakeStore{}
	for _, r := range recs {
		s.rows = append(s.rows, rowOf(r))
	}
	slices.SortFunc(s.rows, func(a, b sink.Row) int {
		return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.Chain, b.Chain), cmp.Compare(a.Seq, b.Seq))
	})
	return s
}

// rowOf builds the row a sink stores for r; the fake MAC is the SHA-256 of
// the payload, which is enough to check that MACs are served intact.
func rowOf(r *record.Record) sink.Row {
	payload := record.AppendCanonical(nil, r)
	mac := sha256.Sum256(payload)
	prev, _ := hex.DecodeString(r.Prev)
	return sink.Row{Chain: r.Chain, Seq: r.Seq, Columns: record.ColumnsOf(r), Prev: prev, MAC: mac[:], Payload: payload}
}

func (s *fakeStore) Search(ctx context.Context, f sink.Filter) ([]sink.Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Limit < 1 || f.Limit > MaxLimit {
		return nil, fmt.Errorf("limit %d out of range", f.Limit)
	}
	call := f
	if f.After != nil {
		after := *f.After
		call.After = &after
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	// What the stores refuse (a seq past int64), the fake refuses too.
	if _, _, err := sink.PostgresSearchSQL(f, nil); err != nil {
		return nil, err
	}
	var out []sink.Row
	for _, r := range s.rows {
		if len(out) == f.Limit {
			break
		}
		if matchRow(&r, &f) {
			out = append(out, r)
		}
	}
	return out, nil
}

// SearchEach yields what Search returns, row by row.
func (s *fakeStore) SearchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error {
	rows, err := s.Search(ctx, f)
	if err != nil {
		return err
	}
	for i := range rows {
		if err := fn(&rows[i]); err != nil {
			return err
		}
	}
	return nil
}

// Chains and Scan make the fake a verify.Store, for the export.
func (s *fakeStore) Chains(ctx context.Context) ([]string, error) {
	if s.err != nil {
		return nil, s.err
	}
	var out []string
	for _, r := range s.rows {
		if !slices.Contains(out, r.Chain) {
			out = append(out, r.Chain)
		}
	}
	slices.Sort(out)
	return out, ctx.Err()
}

func (s *fakeStore) Scan(ctx context.Context, chain string, fn func(sink.Row) error) error {
	if s.err != nil {
		return s.err
	}
	rows := slices.Clone(s.rows)
	slices.SortFunc(rows, func(a, b sink.Row) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, r := range rows {
		if r.Chain != chain {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) lastCall() sink.Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		return sink.Filter{}
	}
	return s.calls[len(s.calls)-1]
}

func matchRow(r *sink.Row, f *sink.Filter) bool {
	eq := func(filter, v string) bool { return filter == "" || filter == v }
	if !eq(f.Tenant, r.Tenant) || !eq(f.User, r.User) || !eq(f.Action, r.Action) ||
		!eq(f.Tool, r.Tool) || !eq(f.Outcome, r.Outcome) || !eq(f.Model, r.Model) ||
		!eq(f.Session, r.Session) || !eq(f.Chain, r.Chain) || !eq(f.Trace, r.Trace) {
		return false
	}
	if f.CallID != "" {
		var p struct {
			Detail struct {
				CallID string `json:"call_id"`
			} `json:"detail"`
		}
		if json.Unmarshal(r.Payload, &p) != nil || p.Detail.CallID != f.CallID {
			return false
		}
	}
	if !f.From.IsZero() && r.TS < record.FormatTime(f.From) {
		return false
	}
	if !f.To.IsZero() && r.TS >= record.FormatTime(f.To) {
		return false
	}
	if k := f.After; k != nil {
		c := cmp.Or(cmp.Compare(r.TS, record.FormatTime(k.TS)), cmp.Compare(r.Chain, k.Chain), cmp.Compare(r.Seq, k.Seq))
		if c <= 0 {
			return false
		}
	}
	return true
}

var errDiskOnFire = errors.New("open /var/lib/audit/secret.db: disk on fire")

var testBase = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// genRecords returns n records spread over three chains and two tenants,
// several sharing each timestamp so that order ties are broken by chain
// and seq.
func genRecords(n int) []*record.Record {
	chains := []string{"chain-a", "chain-b", "chain-c"}
	tenants := []string{"acme", "globex"}
	actions := []string{record.ActionToolCall, record.ActionModelCall, record.ActionDecision, record.ActionToolResult}
	seqs := map[string]uint64{}
	recs := make([]*record.Record, 0, n)
	for i := range n {
		chain := chains[i%len(chains)]
		seqs[chain]++
		recs = append(recs, &record.Record{
			V: record.Version, Chain: chain, Seq: seqs[chain],
			TS:         testBase.Add(time.Duration(i/5) * time.Millisecond).Add(time.Duration(i%2) * time.Nanosecond),
			IngestedAt: testBase.Add(time.Hour),
			Action:     actions[i%len(actions)],
			User:       fmt.Sprintf("u-%d", i%7),
			Tenant:     tenants[i%len(tenants)],
			Session:    fmt.Sprintf("s-%d", i%11),
			Trace:      []string{"", "t-1", "t-2", "t-3", "t-4"}[i%5],
			Model:      []string{"granite-3.3-8b", "llama-4"}[i%2],
			Tool:       []string{"payments.refund", "search", "mail.send"}[i%3],
			Outcome:    record.Outcomes[i%len(record.Outcomes)],
			Arguments:  []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Detail:     []byte(fmt.Sprintf(`{"call_id":"c-%d"}`, i%13)),
			Kid:        "k1",
			Prev:       fmt.Sprintf("%064x", i),
		})
	}
	return recs
}

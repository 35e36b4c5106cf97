package sink

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// A purge may delete the newest rows of the table: a chain's records
// stored after its retention_purge record (the store takes a chain's
// records in any order: a gap filled later). SQLite then gives the next
// rows rowids at or below the trace table's watermark, and a trace
// search must still find them.
func TestAdvTrace_PurgeOfTheNewestRows(t *testing.T) {
	defer func(n int64) { traceIndexEvery = n }(traceIndexEvery)
	traceIndexEvery = 3
	s, _ := openTestSQLite(t)
	ctx := context.Background()
	recs := chainRecords("c", 1, 8)
	for _, r := range recs {
		r.Trace = "t"
	}
	writeOK(t, s, sealAll(recs[:5]))
	writeOK(t, s, sealAll([]*record.Record{purgeRecord("c", 10, 8, baseTS.Add(time.Hour))}))
	writeOK(t, s, sealAll(recs[5:8]))
	if err := s.Purge(ctx, Purge{Chain: "c", Seq: 10, Through: 8, Cutoff: baseTS.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	later := chainRecords("d", 1, 5)
	var want []string
	for _, r := range later {
		r.Trace = "t"
		want = append(want, fmt.Sprintf("d/%d", r.Seq))
	}
	for i := range later {
		writeOK(t, s, sealAll(later[i:i+1]))
		got, err := s.Search(ctx, Filter{Trace: "t", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(positions(got), want[:i+1]) {
			t.Fatalf("after d/%d: trace t holds %v, want %v", i+1, positions(got), want[:i+1])
		}
	}
}

// advStore is what the differential test writes and searches.
type advStore interface {
	Write(context.Context, []record.Sealed) error
	SearchEach(context.Context, Filter, func(*Row) error) error
}

// advSearchAll reads every record f selects, page after page by keyset
// (After) and resuming after a *SearchBoundError, checking that every
// page but the last is full.
func advSearchAll(t *testing.T, s advStore, f Filter) []string {
	t.Helper()
	var got []string
	for q, pages := f, 0; ; pages++ {
		if pages > 100000 {
			t.Fatalf("%+v: no end of pages", f)
		}
		var page []Row
		err := s.SearchEach(context.Background(), q, func(r *Row) error {
			page = append(page, Row{Chain: r.Chain, Seq: r.Seq, Columns: r.Columns})
			return nil
		})
		got = append(got, positions(page)...)
		if be, ok := err.(*SearchBoundError); ok {
			q.After = &be.Resume
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if len(page) < q.Limit {
			return got
		}
		last := page[len(page)-1]
		ts, err := time.Parse(time.RFC3339Nano, last.TS)
		if err != nil {
			t.Fatal(err)
		}
		q.After = &Key{TS: ts, Chain: last.Chain, Seq: last.Seq}
	}
}

func advMatch(r *record.Record, f *Filter) bool {
	eq := func(want, v string) bool { return want == "" || want == v }
	callID := ""
	if len(r.Detail) > 0 {
		var d struct {
			CallID string `json:"call_id"`
		}
		_ = json.Unmarshal(r.Detail, &d)
		callID = d.CallID
	}
	return eq(f.Trace, r.Trace) && eq(f.Tenant, r.Tenant) && eq(f.User, r.User) && eq(f.Session, r.Session) &&
		eq(f.Action, r.Action) && eq(f.Tool, r.Tool) && eq(f.Outcome, r.Outcome) && eq(f.Model, r.Model) &&
		eq(f.Chain, r.Chain) && eq(f.CallID, callID) &&
		(f.From.IsZero() || !r.TS.Before(f.From)) && (f.To.IsZero() || r.TS.Before(f.To))
}

func advWant(all map[string]*record.Record, f *Filter) []string {
	var sorted []*record.Record
	for _, r := range all {
		if advMatch(r, f) {
			sorted = append(sorted, r)
		}
	}
	slices.SortFunc(sorted, func(a, b *record.Record) int {
		if c := a.TS.Compare(b.TS); c != 0 {
			return c
		}
		if c := strings.Compare(a.Chain, b.Chain); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	want := []string{}
	for _, r := range sorted {
		want = append(want, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
	}
	return want
}

// Every search by trace, with every other filter, time bounds and pages
// of every size, finds what a filter of everything written finds, as the
// store takes batches (out of time order, with equal times across chains,
// replays, a batch that fails, purges) across many watermarks of the
// trace table.
func TestAdvTrace_Differential(t *testing.T) {
	for _, idx := range [][]string{nil, {"user"}, {"session"}, {"user", "session"}} {
		t.Run(fmt.Sprint(idx), func(t *testing.T) { advDifferential(t, idx) })
	}
}

func advDifferential(t *testing.T, idx []string) {
	defer func(n int64) { traceIndexEvery = n }(traceIndexEvery)
	traceIndexEvery = 29
	defer func(n, b int) { searchWindow, searchBudget = n, b }(searchWindow, searchBudget)
	searchWindow, searchBudget = 7, 40
	s, _ := openTestSQLiteWith(t, SQLiteOptions{QueryIndexes: idx})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(42, uint64(len(idx))))
	traces := []string{"big", "t'1", "t%", "_", strings.Repeat("L", 3000), "u-1", "acme", "x\x00y", "t\"q", "small"}
	chains := []string{"a", "b", "c", "a'", "d%", "e"}
	all := map[string]*record.Record{}
	seqs := map[string]uint64{}
	pick := func(v []string) string { return v[rng.IntN(len(v))] }
	mk := func(ch string) *record.Record {
		seqs[ch]++
		r := newRecord(ch, seqs[ch], baseTS.Add(time.Duration(rng.IntN(60))*time.Millisecond))
		if rng.IntN(2) == 0 {
			r.Trace = "big"
		} else {
			r.Trace = pick(append(traces, ""))
		}
		r.Tenant = pick([]string{"acme", "globex", ""})
		r.User = pick([]string{"u-1", "u-2", "big"})
		r.Session = pick([]string{"s-1", "s-2", ""})
		r.Action = pick([]string{record.ActionToolCall, record.ActionDecision, record.ActionModelCall})
		r.Tool = pick([]string{"t1", "t2", ""})
		r.Outcome = pick([]string{"success", "denied"})
		r.Model = pick([]string{"m1", "m2"})
		r.Detail = json.RawMessage(fmt.Sprintf(`{"call_id":"c%d"}`, rng.IntN(4)))
		return r
	}
	check := func(step int) {
		t.Helper()
		for range 12 {
			f := Filter{Trace: pick(traces), Limit: 1 + rng.IntN(1000)}
			if rng.IntN(2) == 0 {
				f.Limit = 1 + rng.IntN(12)
			}
			opt := func(v []string) string {
				if rng.IntN(4) == 0 {
					return pick(v)
				}
				return ""
			}
			f.Tenant = opt([]string{"acme", "globex"})
			f.User = opt([]string{"u-1", "u-2", "big"})
			f.Session = opt([]string{"s-1", "s-2"})
			f.Action = opt([]string{record.ActionToolCall, record.ActionDecision})
			f.Tool = opt([]string{"t1", "t2"})
			f.Outcome = opt([]string{"success", "denied"})
			f.Model = opt([]string{"m1"})
			f.Chain = opt(chains)
			f.CallID = opt([]string{"c1", "c2"})
			if rng.IntN(3) == 0 {
				f.From = baseTS.Add(time.Duration(rng.IntN(60)) * time.Millisecond)
			}
			if rng.IntN(3) == 0 {
				f.To = baseTS.Add(time.Duration(rng.IntN(70)) * time.Millisecond)
			}
			if rng.IntN(5) == 0 {
				// a first page that starts after a position (an equal ts)
				k := Key{TS: baseTS.Add(time.Duration(rng.IntN(60)) * time.Millisecond), Chain: pick(chains), Seq: uint64(rng.IntN(40))}
				f.After = &k
			}
			want := advWant(all, &f)
			if f.After != nil {
				var cut []string
				for _, p := range want {
					r := all[p]
					if c := r.TS.Compare(f.After.TS); c > 0 || c == 0 && (r.Chain > f.After.Chain || r.Chain == f.After.Chain && r.Seq > f.After.Seq) {
						cut = append(cut, p)
					}
				}
				want = cut
			}
			got := advSearchAll(t, s, f)
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("step %d, filter %+v:\n got %d %v\nwant %d %v", step, f, len(got), got, len(want), want)
			}
		}
	}
	for step := range 60 {
		var batch []*record.Record
		for range 1 + rng.IntN(25) {
			batch = append(batch, mk(pick(chains)))
		}
		switch rng.IntN(6) {
		case 0: // replayed with what is already there
			var old []*record.Record
			for _, r := range all {
				old = append(old, r)
				if len(old) == 5 {
					break
				}
			}
			batch = append(old, batch...)
		case 1: // a conflict at the end: the batch fails whole
			bad := *batch[0]
			if len(all) > 0 {
				for _, r := range all {
					bad = *r
					break
				}
			}
			bad.Tool = "conflict"
			if _, ok := all[fmt.Sprintf("%s/%d", bad.Chain, bad.Seq)]; ok {
				err := s.Write(ctx, sealAll(append(batch, &bad)))
				if err == nil {
					t.Fatalf("step %d: a conflicting batch was written", step)
				}
				for _, r := range batch {
					seqs[r.Chain]--
				}
				// seqs were taken in order per chain: give them back
				seqs = map[string]uint64{}
				for _, r := range all {
					seqs[r.Chain] = max(seqs[r.Chain], r.Seq)
				}
				check(step)
				continue
			}
		}
		writeOK(t, s, sealAll(batch))
		for _, r := range batch {
			all[fmt.Sprintf("%s/%d", r.Chain, r.Seq)] = r
		}
		if step%15 == 14 {
			// a purge of a chain's first records
			ch := pick(chains)
			if seqs[ch] > 4 {
				through := seqs[ch] / 2
				seqs[ch]++
				pr := purgeRecord(ch, seqs[ch], through, baseTS.Add(time.Hour))
				pr.Trace = "big"
				writeOK(t, s, sealAll([]*record.Record{pr}))
				all[fmt.Sprintf("%s/%d", ch, seqs[ch])] = pr
				if err := s.Purge(ctx, Purge{Chain: ch, Seq: seqs[ch], Through: through, Cutoff: baseTS.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				for seq := uint64(1); seq <= through; seq++ {
					delete(all, fmt.Sprintf("%s/%d", ch, seq))
				}
			}
		}
		check(step)
	}
	// Empty trace: not a trace search.
	if got, want := advSearchAll(t, s, Filter{Limit: 1000, Chain: "a"}), advWant(all, &Filter{Chain: "a"}); !slices.Equal(got, want) {
		t.Fatalf("chain a: %d, want %d", len(got), len(want))
	}
	var listed, stale, through, missing int
	if err := s.db.QueryRow(`SELECT (SELECT count(*) FROM audit_trace_index),
		(SELECT count(*) FROM audit_trace_index WHERE NOT EXISTS (SELECT 1 FROM audit_records WHERE chain = t_chain AND seq = t_seq AND trace = t_trace AND ts = t_ts)),
		(SELECT through FROM audit_trace_indexed),
		(SELECT count(*) FROM audit_records r WHERE trace <> '' AND rowid <= (SELECT through FROM audit_trace_indexed)
			AND NOT EXISTS (SELECT 1 FROM audit_trace_index WHERE t_trace = r.trace AND t_ts = r.ts AND t_chain = r.chain AND t_seq = r.seq))`).Scan(&listed, &stale, &through, &missing); err != nil {
		t.Fatal(err)
	}
	if listed == 0 || stale != 0 || missing != 0 {
		t.Fatalf("trace table: %d listed, %d stale, %d rows below watermark %d not listed", listed, stale, missing, through)
	}
}

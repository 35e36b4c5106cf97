package sink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// A trace's records are found whole and in order wherever they are: in
// the trace table, past its watermark, or some in each, with records whose
// times do not follow their order of arrival, across pages, with the
// other filters (tenant, an unindexed action: read window by window) and
// time bounds. Every page of every search is compared with the records a
// scan of everything written selects.
func TestSQLite_TraceTableAndTheRowsPastIt(t *testing.T) {
	defer func(n int64) { traceIndexEvery = n }(traceIndexEvery)
	traceIndexEvery = 23
	defer func(n int) { searchWindow = n }(searchWindow)
	searchWindow = 5
	s, _ := openTestSQLite(t)
	rng := rand.New(rand.NewPCG(7, 11))
	traces := []string{"t0", "t1", "t2", "", "t3"}
	var all []*record.Record
	seqs := map[string]uint64{}
	check := func(step int) {
		t.Helper()
		for range 30 {
			f := Filter{Trace: traces[rng.IntN(len(traces))], Limit: 1 + rng.IntN(9)}
			if f.Trace == "" {
				f.Trace = "t1"
			}
			if rng.IntN(3) == 0 {
				f.Tenant = []string{"acme", "globex"}[rng.IntN(2)]
			}
			if rng.IntN(3) == 0 {
				f.Action = []string{record.ActionToolCall, record.ActionDecision}[rng.IntN(2)]
			}
			if rng.IntN(3) == 0 {
				f.From = baseTS.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
			}
			if rng.IntN(3) == 0 {
				f.To = baseTS.Add(time.Duration(200+rng.IntN(300)) * time.Millisecond)
			}
			var want []string
			var sorted []*record.Record
			for _, r := range all {
				if r.Trace == f.Trace && (f.Tenant == "" || r.Tenant == f.Tenant) && (f.Action == "" || r.Action == f.Action) &&
					(f.From.IsZero() || !r.TS.Before(f.From)) && (f.To.IsZero() || r.TS.Before(f.To)) {
					sorted = append(sorted, r)
				}
			}
			slices.SortFunc(sorted, func(a, b *record.Record) int {
				if c := a.TS.Compare(b.TS); c != 0 {
					return c
				}
				if a.Chain != b.Chain {
					if a.Chain < b.Chain {
						return -1
					}
					return 1
				}
				return int(a.Seq) - int(b.Seq)
			})
			for _, r := range sorted {
				want = append(want, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
			}
			var got []string
			for q := f; ; {
				page, err := s.Search(context.Background(), q)
				if err != nil {
					if be, ok := err.(*SearchBoundError); ok {
						q.After = &be.Resume
						continue
					}
					t.Fatalf("step %d, %+v: %v", step, q, err)
				}
				got = append(got, positions(page)...)
				if len(page) < q.Limit {
					break
				}
				last := page[len(page)-1]
				ts, _ := time.Parse(time.RFC3339Nano, last.TS)
				q.After = &Key{TS: ts, Chain: last.Chain, Seq: last.Seq}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("step %d, filter %+v:\n got %v\nwant %v", step, f, got, want)
			}
		}
	}
	for step := range 40 {
		ch := []string{"a", "b"}[rng.IntN(2)]
		var batch []*record.Record
		for range 1 + rng.IntN(12) {
			seqs[ch]++
			r := newRecord(ch, seqs[ch], baseTS.Add(time.Duration(rng.IntN(500))*time.Millisecond))
			r.Trace = traces[rng.IntN(len(traces))]
			r.Tenant = []string{"acme", "globex"}[rng.IntN(2)]
			r.Action = []string{record.ActionToolCall, record.ActionDecision}[rng.IntN(2)]
			batch = append(batch, r)
		}
		writeOK(t, s, sealAll(batch))
		all = append(all, batch...)
		check(step)
	}
	var listed, through int
	if err := s.db.QueryRow(`SELECT (SELECT count(*) FROM audit_trace_index), (SELECT through FROM audit_trace_indexed)`).Scan(&listed, &through); err != nil {
		t.Fatal(err)
	}
	if listed == 0 || through == 0 || through == len(all) {
		t.Fatalf("%d positions listed, watermark %d of %d rows: the test did not search across the watermark", listed, through, len(all))
	}
}

// A purge takes the positions of the records it deletes out of the trace
// table with them: none is left pointing at a record that is gone, and a
// trace's search finds the records kept, listed or past the watermark.
func TestSQLite_PurgeTakesItsRecordsOutOfTheTraceTable(t *testing.T) {
	defer func(n int64) { traceIndexEvery = n }(traceIndexEvery)
	traceIndexEvery = 10
	s, _ := openTestSQLite(t)
	recs := chainRecords("c", 1, 95)
	for i, r := range recs {
		r.Trace = []string{"t-a", "t-b", ""}[i%3]
	}
	recs = append(recs, purgeRecord("c", 96, 60, baseTS.Add(time.Hour)))
	writeOK(t, s, sealAll(recs[:50]))
	writeOK(t, s, sealAll(recs[50:]))
	if err := s.Purge(context.Background(), Purge{Chain: "c", Seq: 96, Through: 60, Cutoff: baseTS.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var dangling, listed int
	if err := s.db.QueryRow(`SELECT
		(SELECT count(*) FROM audit_trace_index WHERE NOT EXISTS (SELECT 1 FROM audit_records WHERE chain = t_chain AND seq = t_seq)),
		(SELECT count(*) FROM audit_trace_index)`).Scan(&dangling, &listed); err != nil {
		t.Fatal(err)
	}
	if dangling != 0 || listed == 0 {
		t.Fatalf("%d positions of purged records left in the trace table (of %d)", dangling, listed)
	}
	got, err := s.Search(context.Background(), Filter{Trace: "t-a", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range recs[60:95] {
		if r.Trace == "t-a" {
			want = append(want, fmt.Sprintf("c/%d", r.Seq))
		}
	}
	if !slices.Equal(positions(got), want) {
		t.Fatalf("trace t-a after the purge: %v, want %v", positions(got), want)
	}
}

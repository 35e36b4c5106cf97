package sink

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// searchFixture returns 600 records over chains a, b and c whose fields
// cycle independently, with event times shared within and across chains.
func searchFixture() []*record.Record {
	actions := []string{record.ActionToolCall, record.ActionModelCall, record.ActionApprovalDenied, record.ActionDecision}
	tools := []string{"payments.refund", "crm.lookup", ""}
	outcomes := []string{"success", "failure", "pending", "denied", "unknown"}
	var out []*record.Record
	for ci, chain := range []string{"a", "b", "c"} {
		for seq := uint64(1); seq <= 200; seq++ {
			i := int(seq) + ci
			r := newRecord(chain, seq, baseTS.Add(time.Duration(seq/3)*time.Millisecond))
			r.Tenant = []string{"acme", "globex"}[i%2]
			r.User = fmt.Sprintf("u-%d", i%5)
			r.Action = actions[i%len(actions)]
			r.Tool = tools[i%len(tools)]
			r.Outcome = outcomes[i%len(outcomes)]
			r.Model = []string{"granite-3.3-8b", "llama-3.1-70b"}[(i/2)%2]
			r.Session = fmt.Sprintf("s-%d", i%7)
			r.Trace = "" // a trace on two records of three, across chains
			if i%3 != 2 {
				r.Trace = fmt.Sprintf("t-%d", i%11)
			}
			switch i % 3 { // a call id as a string, as a number, or none
			case 0:
				r.Detail = json.RawMessage(fmt.Sprintf(`{"call_id":"c-%d","latency_ms":42}`, i%13))
			case 1:
				r.Detail = json.RawMessage(fmt.Sprintf(`{"call_id":%d}`, i%13))
				// Call ids that are JSON other than a string or an
				// integer: matched as their JSON text, as written.
				if odd := []string{`1e3`, `1.50`, `true`, `"q\"e"`, `-0.0`}; i%13 < len(odd) {
					r.Detail = json.RawMessage(`{"call_id":` + odd[i%13] + `}`)
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// expectSearch is the reference semantics of Search over recs.
func expectSearch(recs []*record.Record, f Filter) []string {
	var hit []*record.Record
	for _, r := range recs {
		ts := record.FormatTime(r.TS)
		ok := (f.From.IsZero() || ts >= record.FormatTime(f.From)) &&
			(f.To.IsZero() || ts < record.FormatTime(f.To))
		var d struct {
			CallID json.RawMessage `json:"call_id"`
		}
		json.Unmarshal(r.Detail, &d)
		// A string's value; any other JSON, its text.
		callID := string(d.CallID)
		if json.Unmarshal(d.CallID, &callID) != nil {
			callID = string(d.CallID)
		}
		for _, c := range [][2]string{
			{f.Tenant, r.Tenant}, {f.User, r.User}, {f.Action, r.Action}, {f.Tool, r.Tool},
			{f.Outcome, r.Outcome}, {f.Model, r.Model}, {f.Session, r.Session}, {f.Chain, r.Chain},
			{f.CallID, callID}, {f.Trace, r.Trace},
		} {
			ok = ok && (c[0] == "" || c[0] == c[1])
		}
		if ok {
			hit = append(hit, r)
		}
	}
	slices.SortFunc(hit, func(x, y *record.Record) int {
		return cmp.Or(x.TS.Compare(y.TS), strings.Compare(x.Chain, y.Chain), cmp.Compare(x.Seq, y.Seq))
	})
	var out []string
	for _, r := range hit[:min(len(hit), f.Limit)] {
		out = append(out, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
	}
	return out
}

func positions(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
	}
	return out
}

// searchFilters covers every filter alone and in combination.
func searchFilters() []struct {
	name string
	f    Filter
} {
	at := func(ms int) time.Time { return baseTS.Add(time.Duration(ms) * time.Millisecond) }
	return []struct {
		name string
		f    Filter
	}{
		{"none", Filter{}},
		{"tenant", Filter{Tenant: "globex"}},
		{"user", Filter{User: "u-3"}},
		{"action", Filter{Action: record.ActionApprovalDenied}},
		{"tool", Filter{Tool: "crm.lookup"}},
		{"outcome", Filter{Outcome: "failure"}},
		{"model", Filter{Model: "llama-3.1-70b"}},
		{"session", Filter{Session: "s-5"}},
		{"chain", Filter{Chain: "b"}},
		{"from", Filter{From: at(20)}},
		{"to", Filter{To: at(20)}},
		{"from and to", Filter{From: at(10), To: at(30)}},
		{"from between records", Filter{From: at(10).Add(time.Nanosecond), To: at(30).Add(-time.Nanosecond)}},
		{"tenant action time", Filter{Tenant: "acme", Action: record.ActionToolCall, From: at(5), To: at(50)}},
		{"chain user outcome", Filter{Chain: "c", User: "u-1", Outcome: "failure"}},
		{"tenant session model", Filter{Tenant: "globex", Session: "s-2", Model: "granite-3.3-8b"}},
		{"tool and chain", Filter{Tool: "payments.refund", Chain: "a", To: at(40)}},
		{"call id", Filter{CallID: "c-4"}},
		{"call id as a number", Filter{CallID: "7"}},
		{"call id as a number with an exponent", Filter{CallID: "1e3"}},
		{"call id as a number with a trailing zero", Filter{CallID: "1.50"}},
		{"call id true", Filter{CallID: "true"}},
		{"call id with a quote", Filter{CallID: `q"e`}},
		{"call id minus zero", Filter{CallID: "-0.0"}},
		{"call id and action", Filter{CallID: "c-4", Action: record.ActionApprovalDenied, Chain: "b"}},
		{"trace", Filter{Trace: "t-4"}},
		{"tenant trace", Filter{Tenant: "acme", Trace: "t-3"}},
		{"trace and time", Filter{Trace: "t-5", From: at(10), To: at(40)}},
		{"trace and user", Filter{Trace: "t-4", User: "u-2"}},
		{"tenant trace action", Filter{Tenant: "globex", Trace: "t-6", Action: record.ActionModelCall}},
		{"tenant user", Filter{Tenant: "acme", User: "u-2"}},
		{"user session", Filter{User: "u-1", Session: "s-3"}},
		{"user and time", Filter{User: "u-4", From: at(10), To: at(40)}},
		{"session and time", Filter{Session: "s-6", From: at(10), To: at(40)}},
		{"user action", Filter{User: "u-3", Action: record.ActionToolCall}},
		{"session tool from", Filter{Session: "s-1", Tool: "crm.lookup", From: at(20)}},
		{"no match", Filter{Tenant: "nobody"}},
		{"empty range", Filter{From: at(30), To: at(30)}},
		{"quote in value", Filter{Tenant: `acme' OR '1'='1`}},
	}
}

func TestSearch_Filters(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		recs := searchFixture()
		writeOK(t, s, sealAll(recs))
		for _, tt := range searchFilters() {
			for _, limit := range []int{1000, 7} {
				t.Run(fmt.Sprintf("%s/limit=%d", tt.name, limit), func(t *testing.T) {
					f := tt.f
					f.Limit = limit
					got, err := s.Search(context.Background(), f)
					if err != nil {
						t.Fatal(err)
					}
					want := expectSearch(recs, f)
					if !slices.Equal(positions(got), want) {
						t.Errorf("got %d rows %v\nwant %d rows %v", len(got), positions(got), len(want), want)
					}
					if limit == 1000 && tt.name != "no match" && tt.name != "empty range" &&
						tt.name != "quote in value" && len(want) == 0 {
						t.Error("fixture has no match for this filter; the case tests nothing")
					}
				})
			}
		}
	})
}

func TestSearch_TimeBounds(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		t0 := baseTS
		recs := []*record.Record{newRecord("a", 1, t0), newRecord("a", 2, t0.Add(time.Nanosecond)), newRecord("a", 3, t0.Add(2*time.Nanosecond))}
		writeOK(t, s, sealAll(recs))
		tests := []struct {
			name string
			f    Filter
			want []string
		}{
			{"from is inclusive", Filter{From: t0.Add(time.Nanosecond)}, []string{"a/2", "a/3"}},
			{"to is exclusive", Filter{To: t0.Add(time.Nanosecond)}, []string{"a/1"}},
			{"non-UTC bounds", Filter{From: t0.In(time.FixedZone("x", 3600)), To: t0.Add(time.Nanosecond).In(time.FixedZone("y", -7200))}, []string{"a/1"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.f.Limit = 10
				got, err := s.Search(context.Background(), tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(positions(got), tt.want) {
					t.Errorf("got %v, want %v", positions(got), tt.want)
				}
			})
		}
	})
}

func TestSearch_SameTimeOrdersByChainThenSeq(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		var recs []*record.Record
		for _, chain := range []string{"zeta", "alpha"} {
			for seq := uint64(3); seq >= 1; seq-- {
				recs = append(recs, newRecord(chain, seq, baseTS))
			}
		}
		recs = append(recs, newRecord("alpha", 4, baseTS.Add(-time.Nanosecond)))
		writeOK(t, s, sealAll(recs))
		got, err := s.Search(context.Background(), Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"alpha/4", "alpha/1", "alpha/2", "alpha/3", "zeta/1", "zeta/2", "zeta/3"}
		if !slices.Equal(positions(got), want) {
			t.Errorf("got %v, want %v", positions(got), want)
		}
	})
}

func TestSearch_Paging(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		var recs []*record.Record
		for ci, chain := range []string{"north", "south"} {
			for seq := uint64(1); seq <= 1250; seq++ {
				// Four records per millisecond per chain: many ties on ts.
				r := newRecord(chain, seq, baseTS.Add(time.Duration(seq/4)*time.Millisecond))
				r.Tenant = []string{"acme", "globex"}[(int(seq)+ci)%2]
				recs = append(recs, r)
			}
		}
		batch := sealAll(recs)
		for i := 0; i < len(batch); i += 500 {
			writeOK(t, s, batch[i:i+500])
		}
		at := func(ms int) time.Time { return baseTS.Add(time.Duration(ms) * time.Millisecond) }
		tests := []struct {
			name  string
			f     Filter
			pages int
		}{
			{"all", Filter{}, 25},
			{"from and to", Filter{From: at(40), To: at(290)}, 20},
			{"tenant from", Filter{Tenant: "globex", From: at(100)}, 9},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want := expectSearch(recs, Filter{From: tt.f.From, To: tt.f.To, Tenant: tt.f.Tenant, Limit: len(recs)})
				var got []string
				f := tt.f
				f.Limit = 100
				pages := 0
				for {
					rows, err := s.Search(context.Background(), f)
					if err != nil {
						t.Fatal(err)
					}
					if len(rows) == 0 {
						break
					}
					if pages++; pages > 30 {
						t.Fatal("paging does not end")
					}
					got = append(got, positions(rows)...)
					last := rows[len(rows)-1]
					ts, err := time.Parse(time.RFC3339Nano, last.TS)
					if err != nil {
						t.Fatal(err)
					}
					f.After = &Key{TS: ts, Chain: last.Chain, Seq: last.Seq}
				}
				if pages != tt.pages {
					t.Errorf("pages = %d, want %d", pages, tt.pages)
				}
				if !slices.Equal(got, want) {
					t.Errorf("paged %d positions, want %d in order", len(got), len(want))
				}
				seen := map[string]bool{}
				for _, p := range got {
					if seen[p] {
						t.Errorf("%s returned twice", p)
					}
					seen[p] = true
				}
			})
		}
	})
}

func TestSearch_InvalidFilter(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		for _, f := range []Filter{
			{Limit: 0}, {Limit: -1}, {Limit: 1001},
			{Limit: 10, After: &Key{TS: baseTS, Chain: "a", Seq: 1 << 63}},
		} {
			if _, err := s.Search(context.Background(), f); !errors.Is(err, ErrInvalidFilter) {
				t.Errorf("Search(%+v) err = %v, want ErrInvalidFilter", f, err)
			}
		}
	})
}

// Every filter must be served by an index that yields the query order, so
// LIMIT stops early and no query sorts the matching rows.
func TestSQLite_Search_PlansDoNotSort(t *testing.T) {
	s, _ := openTestSQLiteIndexed(t)
	writeOK(t, s, sealAll(searchFixture()))
	for _, tt := range searchFilters() {
		// Whichever of From and After is later must be the index seek.
		for _, after := range []*Key{nil, {TS: baseTS.Add(25 * time.Millisecond), Chain: "b", Seq: 77}, {TS: baseTS, Chain: "b", Seq: 5}} {
			f := tt.f
			f.Limit, f.After = 100, after
			q, args, err := searchQuery(&f, sqliteDialect)
			if err != nil {
				t.Fatal(err)
			}
			p := queryPlan(t, s.db, q, args)
			t.Logf("%s (after=%v): %s", tt.name, after != nil, p)
			if f.Trace != "" {
				// The trace's table (traceSQL), sought to the later of
				// From and After, and to To.
				if !traceTablePlan(p) {
					t.Errorf("%s (after=%v): plan %q does not walk the trace's table and the rows past its watermark", tt.name, after != nil, p)
				}
				seeksAfter := strings.Contains(p, "(t_ts,t_chain,t_seq)>(?,?,?)")
				if wantAfter := after != nil && !after.TS.Before(f.From); seeksAfter != wantAfter {
					t.Errorf("%s (after=%v): plan %q: seeks to After = %v, want %v", tt.name, after != nil, p, seeksAfter, wantAfter)
				}
				if f.After == nil && (!f.From.IsZero() && !strings.Contains(p, "t_ts>?") || !f.To.IsZero() && !strings.Contains(p, "t_ts<?")) {
					t.Errorf("%s: plan %q does not seek the trace's table to the time bounds", tt.name, p)
				}
				continue
			}
			if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "INDEX audit_records_") {
				t.Errorf("%s (after=%v): plan %q sorts or uses no query index", tt.name, after != nil, p)
			}
			if ix := sqliteLeadIndex(&f); ix != "" && !strings.Contains(p, "INDEX "+ix+" (") {
				t.Errorf("%s (after=%v): plan %q does not read %s", tt.name, after != nil, p, ix)
			}
			// The lead's index is sought to the time bounds, not read
			// from the lead's first record.
			if ix := sqliteLeadIndex(&f); ix != "" && ix != "audit_records_tenant" && f.After == nil &&
				(!f.From.IsZero() && !strings.Contains(p, "ts>?") || !f.To.IsZero() && !strings.Contains(p, "ts<?")) {
				t.Errorf("%s: plan %q does not seek %s to the time bounds", tt.name, p, ix)
			}
			seeksAfter := strings.Contains(p, "(ts,chain,seq)>(?,?,?)")
			if wantAfter := after != nil && !after.TS.Before(f.From); seeksAfter != wantAfter {
				t.Errorf("%s (after=%v): plan %q: seeks to After = %v, want %v", tt.name, after != nil, p, seeksAfter, wantAfter)
			}
		}
	}
}

// sqliteLeadIndex is the index a SQLite search of f must walk: that of
// the most selective column named that has one (dialect.leads), "" for
// the time index.
func sqliteLeadIndex(f *Filter) string { return sqliteLeadIndexOf(f, sqliteDialect) }

// sqliteLeadIndexOf is sqliteLeadIndex for a store of dialect d.
func sqliteLeadIndexOf(f *Filter, d dialect) string {
	for _, col := range d.leads {
		if filterValue(f, col) != "" {
			return "audit_records_" + col
		}
	}
	return ""
}

// The searches auditors run most, a user's records and a session's,
// read those rows by the user's and the session's index, with and
// without time bounds: a change that loses the index (a condition the
// partial index's WHERE does not prove, another index preferred) turns
// them into full scans of the table, so it must fail here.
func TestSQLite_Search_UserAndSessionUseTheirIndexes(t *testing.T) {
	s, _ := openTestSQLiteIndexed(t)
	writeOK(t, s, sealAll(searchFixture()))
	from, to := baseTS.Add(10*time.Millisecond), baseTS.Add(40*time.Millisecond)
	tests := []struct {
		f    Filter
		want string // in the plan
	}{
		{Filter{User: "u-3"}, "SEARCH audit_records USING INDEX audit_records_user (user=?)"},
		{Filter{User: "u-3", From: from}, "SEARCH audit_records USING INDEX audit_records_user (user=? AND ts>?)"},
		{Filter{User: "u-3", From: from, To: to}, "SEARCH audit_records USING INDEX audit_records_user (user=? AND ts>? AND ts<?)"},
		{Filter{User: "u-3", Tenant: "acme", To: to}, "SEARCH audit_records USING INDEX audit_records_user (user=? AND ts<?)"},
		{Filter{Session: "s-5"}, "SEARCH audit_records USING INDEX audit_records_session (session=?)"},
		{Filter{Session: "s-5", From: from, To: to}, "SEARCH audit_records USING INDEX audit_records_session (session=? AND ts>? AND ts<?)"},
		{Filter{Session: "s-5", User: "u-3", Tenant: "acme"}, "SEARCH audit_records USING INDEX audit_records_session (session=?)"},
	}
	for _, tt := range tests {
		f := tt.f
		f.Limit = 100
		q, args, err := SQLiteSearchSQL(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p := queryPlan(t, s.db, q, args); p != tt.want {
			t.Errorf("%+v: plan %q, want %q", tt.f, p, tt.want)
		}
	}
}

func TestScan(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		// More than two chunks in one chain, written newest batch first.
		main := sealAll(chainRecords("main", 1, uint64(2*scanChunk.rows+17)))
		writeOK(t, s, main[scanChunk.rows:])
		writeOK(t, s, main[:scanChunk.rows])
		writeOK(t, s, sealAll(chainRecords("other", 1, 5)))

		tests := []struct {
			chain string
			want  int
		}{{"main", len(main)}, {"other", 5}, {"missing", 0}}
		for _, tt := range tests {
			t.Run(tt.chain, func(t *testing.T) {
				var n int
				err := s.Scan(context.Background(), tt.chain, func(r Row) error {
					n++
					if r.Chain != tt.chain || r.Seq != uint64(n) {
						return fmt.Errorf("row %d is %s/%d", n, r.Chain, r.Seq)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if n != tt.want {
					t.Errorf("scanned %d rows, want %d", n, tt.want)
				}
			})
		}

		t.Run("stops at fn error", func(t *testing.T) {
			stop := errors.New("stop")
			var n int
			err := s.Scan(context.Background(), "main", func(Row) error {
				if n++; n == scanChunk.rows+3 {
					return stop
				}
				return nil
			})
			if err != stop || n != scanChunk.rows+3 {
				t.Errorf("err = %v after %d rows, want stop after %d", err, n, scanChunk.rows+3)
			}
		})

		t.Run("fn may call the sink", func(t *testing.T) {
			err := s.Scan(context.Background(), "other", func(r Row) error {
				_, err := s.Search(context.Background(), Filter{Chain: r.Chain, Limit: 1})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	})
}

func TestChains(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		got, err := s.Chains(context.Background())
		if err != nil || len(got) != 0 {
			t.Fatalf("empty database: Chains = %v, %v", got, err)
		}
		for _, c := range []string{"zeta", "alpha", "mid", "alpha"} {
			writeOK(t, s, sealAll(chainRecords(c, 1, 3)))
		}
		got, err = s.Chains(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"alpha", "mid", "zeta"}; !slices.Equal(got, want) {
			t.Errorf("Chains = %v, want %v", got, want)
		}
	})
}

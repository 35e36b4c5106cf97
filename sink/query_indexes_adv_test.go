package sink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
)

// qiFixture is a store's records for the query index tests: users and
// sessions shared across tenants and chains, some empty, equal times
// across chains.
func qiFixture() []*record.Record {
	var out []*record.Record
	for ci, chain := range []string{"a", "b", "c"} {
		for seq := uint64(1); seq <= 80; seq++ {
			i := int(seq)*7 + ci
			r := newRecord(chain, seq, baseTS.Add(time.Duration(seq/2)*time.Millisecond))
			r.Tenant = []string{"acme", "globex", ""}[i%3]
			r.User = []string{"u-1", "u-2", "", "u-3"}[i%4]
			r.Session = []string{"s-1", "", "s-2", "s-3", "s-4"}[i%5]
			r.Trace = []string{"t-1", "", "t-2"}[(i/2)%3]
			r.Tool = []string{"crm.lookup", "payments.refund"}[(i/3)%2]
			out = append(out, r)
		}
	}
	return out
}

// expectPage is the reference semantics of Search over recs, After
// included.
func expectPage(recs []*record.Record, f Filter) []string {
	var hit []*record.Record
	for _, r := range recs {
		ts := record.FormatTime(r.TS)
		ok := (f.From.IsZero() || ts >= record.FormatTime(f.From)) &&
			(f.To.IsZero() || ts < record.FormatTime(f.To))
		if f.After != nil {
			a := f.After
			ok = ok && cmp.Or(strings.Compare(ts, record.FormatTime(a.TS)), strings.Compare(r.Chain, a.Chain), cmp.Compare(r.Seq, a.Seq)) > 0
		}
		for _, c := range [][2]string{
			{f.Tenant, r.Tenant}, {f.User, r.User}, {f.Tool, r.Tool},
			{f.Session, r.Session}, {f.Chain, r.Chain}, {f.Trace, r.Trace},
		} {
			ok = ok && (c[0] == "" || c[0] == c[1])
		}
		if ok {
			hit = append(hit, r)
		}
	}
	slices.SortFunc(hit, func(x, y *record.Record) int {
		return cmp.Or(strings.Compare(record.FormatTime(x.TS), record.FormatTime(y.TS)), strings.Compare(x.Chain, y.Chain), cmp.Compare(x.Seq, y.Seq))
	})
	var out []string
	for _, r := range hit[:min(len(hit), f.Limit)] {
		out = append(out, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
	}
	return out
}

// qiFilters are filters over qiFixture: every combination of tenant,
// user, session and trace, with a tool, time bounds, and values that
// match nothing.
func qiFilters() []Filter {
	at := func(ms int) time.Time { return baseTS.Add(time.Duration(ms) * time.Millisecond) }
	var out []Filter
	for _, tenant := range []string{"", "acme", "globex", "nobody"} {
		for _, user := range []string{"", "u-2", "nobody"} {
			for _, session := range []string{"", "s-3", "nobody"} {
				for _, trace := range []string{"", "t-2"} {
					out = append(out, Filter{Tenant: tenant, User: user, Session: session, Trace: trace})
				}
			}
		}
	}
	out = append(out,
		Filter{User: "u-1", From: at(10), To: at(60)},
		Filter{Session: "s-1", From: at(10).Add(time.Nanosecond), To: at(60)},
		Filter{Tenant: "acme", User: "u-3", Session: "s-4", From: at(5)},
		Filter{Tenant: "globex", Session: "s-2", To: at(40)},
		Filter{User: "u-2", Tool: "crm.lookup"},
		Filter{Session: "s-3", Tool: "payments.refund", Tenant: "acme"},
		Filter{Trace: "t-1", Session: "s-1", Tenant: "globex"},
		Filter{User: "u-1", Chain: "b"},
	)
	return out
}

// pageAll reads f page by page (f.Limit a page) as a client does, each
// page after the last row of the one before, resuming where a call stops
// at its budget; each page is checked against the reference.
func pageAll(t *testing.T, s store, recs []*record.Record, f Filter) []string {
	t.Helper()
	var all []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%+v: no end", f)
		}
		var page []string
		var last *Row
		err := s.SearchEach(context.Background(), f, func(r *Row) error {
			page = append(page, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
			c := *r
			last = &c
			return nil
		})
		var be *SearchBoundError
		switch {
		case errors.As(err, &be):
			want := expectPage(recs, f)
			if !slices.Equal(page, want[:min(len(want), len(page))]) {
				t.Fatalf("%+v after %+v: stopped page %v, want a prefix of %v", f, f.After, page, want)
			}
			all = append(all, page...)
			if last != nil && keyCmp(keyOf(t, last), be.Resume) > 0 {
				t.Fatalf("%+v: resume %+v before the last row yielded %v", f, be.Resume, *last)
			}
			f.Limit -= len(page)
			resume := be.Resume
			f.After = &resume
			if f.Limit == 0 {
				t.Fatalf("%+v: a full page stopped at the budget", f)
			}
			continue
		case err != nil:
			t.Fatalf("%+v: %v", f, err)
		}
		if want := expectPage(recs, f); !slices.Equal(page, want) {
			t.Fatalf("%+v after %+v: page %v, want %v", f, f.After, page, want)
		}
		all = append(all, page...)
		if last == nil || len(page) < f.Limit {
			return all
		}
		f.After = keyOfPtr(t, last)
	}
}

func keyOfPtr(t *testing.T, r *Row) *Key {
	k := keyOf(t, r)
	return &k
}

func keyOf(t *testing.T, r *Row) Key {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, r.TS)
	if err != nil {
		t.Fatal(err)
	}
	return Key{TS: ts, Chain: r.Chain, Seq: r.Seq}
}

// keyCmp orders keys as the query does.
func keyCmp(k, o Key) int {
	return cmp.Or(strings.Compare(record.FormatTime(k.TS), record.FormatTime(o.TS)), strings.Compare(k.Chain, o.Chain), cmp.Compare(k.Seq, o.Seq))
}

// With each combination of query indexes, written and read-only, every
// filter over tenant, user, session and trace (with time bounds, a tool,
// a chain) returns what the reference does, a page at a time (1, 3, all)
// and from arbitrary positions, windowed or not; a tenant's search never
// returns another tenant's row.
func TestSQLite_QueryIndexes_SearchMatchesReference(t *testing.T) {
	setSearchBounds(t, 5, 20)
	recs := qiFixture()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ix := range [][]string{nil, {"user"}, {"session"}, {"user", "session"}} {
		t.Run(fmt.Sprint(ix), func(t *testing.T) {
			w, path := storeOf(t, recs, ix)
			ro, err := OpenSQLiteReader(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			for _, s := range []*SQLite{w, ro} {
				for _, f := range qiFilters() {
					for _, limit := range []int{1, 1000} {
						f := f
						f.Limit = limit
						got := pageAll(t, s, recs, f)
						all := f
						all.Limit = 1000
						if want := expectPage(recs, all); !slices.Equal(got, want) {
							t.Fatalf("read-only %v, %+v: %v, want %v", s.readOnly, f, got, want)
						}
					}
					// From arbitrary positions: a row's, and between rows.
					for range 2 {
						r := recs[rng.IntN(len(recs))]
						a := Key{TS: r.TS, Chain: r.Chain, Seq: r.Seq}
						if rng.IntN(2) == 0 {
							a.TS = a.TS.Add(-time.Nanosecond)
						}
						f := f
						f.After, f.Limit = &a, 3
						pageAll(t, s, recs, f)
					}
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}

// indexWriter opens path as a second writer would, to change its query
// indexes as a sidecar opened with other options does.
func indexWriter(t *testing.T, path string) func(ix ...string) {
	t.Helper()
	db := rawDB(t, path)
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`PRAGMA busy_timeout = 10000`); err != nil {
		t.Fatal(err)
	}
	return func(ix ...string) {
		t.Helper()
		if err := applyQueryIndexes(context.Background(), db, ix, zap.NewNop()); err != nil {
			t.Error(err)
		}
	}
}

// A reader open beside a store whose query indexes change (a sidecar
// restarted with other options) returns the same records: between two
// searches, between two chunks of one search, and while its searches run
// against a writer that keeps changing them.
func TestSQLite_QueryIndexes_ChangeUnderAReader(t *testing.T) {
	setSearchBounds(t, 5, 20)
	recs := qiFixture()
	_, path := storeOf(t, recs, []string{"user", "session"})
	set := indexWriter(t, path)
	combos := [][]string{nil, {"user"}, {"session"}, {"user", "session"}}
	for _, open := range []func(string) (*SQLite, error){OpenSQLiteReader, OpenSQLiteReadOnly} {
		ro, err := open(path)
		if err != nil {
			t.Fatal(err)
		}
		filters := []Filter{
			{User: "u-2", Limit: 1000}, {Session: "s-3", Limit: 1000}, {Tenant: "acme", User: "u-1", Limit: 1000},
			{Tenant: "globex", Session: "s-1", Limit: 1000}, {User: "u-3", Session: "s-4", Trace: "t-1", Limit: 1000},
			{User: "nobody", Limit: 1000},
		}
		// Between searches and between chunks.
		for i, f := range filters {
			for j, from := range combos {
				to := combos[(j+i+1)%len(combos)]
				set(from...)
				var got []string
				n := 0
				err := ro.searchEach(context.Background(), f, chunkSize{rows: 2, bytes: 1 << 20}, func(r *Row) error {
					if n++; n == 2 {
						set(to...)
					}
					got = append(got, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
					return nil
				})
				var be *SearchBoundError
				if errors.As(err, &be) {
					continue // a prefix; pageAll checks resumption
				}
				if err != nil {
					t.Fatalf("%+v, indexes %v then %v: %v", f, from, to, err)
				}
				if want := expectPage(recs, f); !slices.Equal(got, want) {
					t.Errorf("%+v, indexes %v then %v: %v, want %v", f, from, to, got, want)
				}
				set(to...)
				pageAll(t, ro, recs, f)
			}
		}
		// Concurrently.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ctx.Err() == nil; i++ {
				set(combos[i%len(combos)]...)
			}
		}()
		for range 20 {
			for _, f := range filters {
				f.Limit = 7
				pageAll(t, ro, recs, f)
			}
		}
		cancel()
		<-done
		ro.Close()
	}
}

// A query of a reader that runs while a writer drops the index it walks
// reads on, from its snapshot, to its end.
func TestSQLite_QueryIndexes_DroppedUnderARunningQuery(t *testing.T) {
	recs := qiFixture()
	w, path := storeOf(t, recs, []string{"user", "session"})
	ro, err := OpenSQLiteReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	set := indexWriter(t, path)
	for _, f := range []Filter{{User: "u-2", Limit: 1000}, {Session: "s-3", Limit: 1000}, {Tenant: "acme", Session: "s-1", User: "u-1", Limit: 1000}} {
		set("user", "session")
		d, err := ro.dialect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		q, args, err := searchSQL(&f, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := ro.rdb.Query(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i := 0; rows.Next(); i++ {
			r, err := scanRow(rows)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
			if i == 0 {
				set() // drops both while the statement is open
				writeOK(t, w, sealAll(chainRecords("z", 1, 50)))
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		rows.Close()
		if want := expectPage(recs, f); !slices.Equal(got, want) {
			t.Errorf("%+v: %v, want %v", f, got, want)
		}
		if names := indexNames(t, path); len(names) != 0 {
			t.Fatalf("indexes %v after the drop", names)
		}
		all := append(slices.Clone(recs), chainRecords("z", 1, 50)...)
		pageAll(t, ro, all, f)
	}
}

// An index made by hand under a query index's name, with another
// definition, is kept by a writer that names it (CREATE INDEX IF NOT
// EXISTS) and taken by searches for the query index: whatever it holds,
// searches return the same records, since SQLite uses an index only where
// it gives the query's answer (a partial index only when the query
// implies its condition, a collation only for its own comparisons).
func TestSQLite_QueryIndexes_HandMadeUnderTheName(t *testing.T) {
	recs := qiFixture()
	for _, def := range []string{
		`CREATE INDEX audit_records_user ON audit_records (user)`,
		`CREATE INDEX audit_records_user ON audit_records (tool, ts)`,
		`CREATE INDEX audit_records_user ON audit_records (user COLLATE NOCASE, ts, chain, seq)`,
		`CREATE INDEX audit_records_user ON audit_records (user, ts, chain, seq) WHERE tenant = 'acme'`,
		`CREATE INDEX audit_records_user ON audit_records (user DESC, ts DESC, chain, seq) WHERE user <> '' AND user <> 'u-1'`,
		`CREATE INDEX audit_records_user ON audit_records (lower(user), ts)`,
		`CREATE INDEX audit_records_session ON audit_records (session, seq)`,
		`CREATE INDEX audit_records_session ON audit_records (user, ts, chain, seq) WHERE user <> ''`,
		`CREATE INDEX audit_records_session ON audit_records (session, ts, chain, seq) WHERE session = 's-1'`,
		`CREATE TABLE other (user TEXT); CREATE INDEX audit_records_user ON other (user)`,
	} {
		t.Run(def, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			w, err := OpenSQLite(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			writeOK(t, w, sealAll(recs))
			w.Close()
			db := rawDB(t, path)
			if _, err := db.Exec(def); err != nil {
				t.Fatal(err)
			}
			db.Close()
			w, err = OpenSQLiteWith(path, nil, SQLiteOptions{QueryIndexes: []string{"user", "session"}})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ro, err := OpenSQLiteReader(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			for _, s := range []*SQLite{w, ro} {
				for _, f := range qiFilters() {
					f.Limit = 1000
					pageAll(t, s, recs, f)
					f.Limit = 3
					pageAll(t, s, recs, f)
				}
			}
		})
	}
}

// A store reopened at its path after the file was deleted or replaced
// has the query indexes of the options it was opened with: built in the
// new file, dropped from a replacing database that had others, and its
// searches find the new file's records.
func TestSQLite_QueryIndexes_KeptOnReopen(t *testing.T) {
	for _, tc := range []struct {
		ix, other []string
	}{
		{[]string{"user"}, []string{"session"}},
		{[]string{"session"}, nil},
		{[]string{"user", "session"}, []string{"user"}},
		{nil, []string{"user", "session"}},
	} {
		t.Run(fmt.Sprint(tc.ix, tc.other), func(t *testing.T) {
			s, path := openTestSQLiteWith(t, SQLiteOptions{QueryIndexes: tc.ix})
			writeOK(t, s, sealAll(chainRecords("c1", 1, 10)))
			other := filepath.Join(filepath.Dir(path), "other.db")
			o, err := OpenSQLiteWith(other, nil, SQLiteOptions{QueryIndexes: tc.other})
			if err != nil {
				t.Fatal(err)
			}
			recs := qiFixture()
			writeOK(t, o, sealAll(recs))
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			removeStore(t, path, "", "-wal", "-shm")
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
			var re *ReplacedError
			if err := s.CheckStore(); !errors.As(err, &re) || re.Err != nil {
				t.Fatalf("CheckStore: %v", err)
			}
			var want []string
			for _, n := range tc.ix {
				want = append(want, "audit_records_"+n)
			}
			slices.Sort(want)
			if got := indexNames(t, path); !slices.Equal(got, want) {
				t.Errorf("indexes %v after the reopen, want %v", got, want)
			}
			for _, f := range []Filter{{User: "u-2", Limit: 4}, {Session: "s-3", Tenant: "acme", Limit: 4}} {
				pageAll(t, s, recs, f)
			}
		})
	}
}

// storeOf is a new SQLite store holding recs, opened to write with the
// query indexes ix; it is closed when the test ends.
func storeOf(t *testing.T, recs []*record.Record, ix []string) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	w, err := OpenSQLiteWith(path, nil, SQLiteOptions{QueryIndexes: ix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	writeOK(t, w, sealAll(recs))
	return w, path
}

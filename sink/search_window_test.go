package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// setSearchBounds sets the window and the budget of a windowed search
// for the test.
func setSearchBounds(t *testing.T, window, budget int) {
	t.Helper()
	w, b := searchWindow, searchBudget
	searchWindow, searchBudget = window, budget
	t.Cleanup(func() { searchWindow, searchBudget = w, b })
}

// walkSearch reads what f selects (up to f.Limit rows) as a client does
// with its pages: when a call stops at its budget, the next one resumes
// from the position it gives. It returns the positions read and how many
// calls stopped at the budget.
func walkSearch(t *testing.T, s store, f Filter) (got []string, stops int) {
	t.Helper()
	want := f.Limit
	for len(got) < want {
		f.Limit = want - len(got)
		err := s.SearchEach(context.Background(), f, func(r *Row) error {
			got = append(got, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
			return nil
		})
		var be *SearchBoundError
		if !errors.As(err, &be) {
			if err != nil {
				t.Fatalf("%+v: %v", f, err)
			}
			return got, stops
		}
		stops++
		if stops > 10000 {
			t.Fatalf("%+v: no end after %d resumptions", f, stops)
		}
		if be.Examined < searchBudget {
			t.Fatalf("%+v: stopped after examining %d rows, budget %d", f, be.Examined, searchBudget)
		}
		resume := be.Resume
		f.After = &resume
	}
	return got, stops
}

// TestSearchEach_Windows: a filter that no index serves is read in
// windows of the walked index, and a call stops once it has examined its
// budget of rows, saying where to resume; resuming from there, every
// filter returns what one unbounded query would, in order, each row once.
// A filter the indexes serve never stops early.
func TestSearchEach_Windows(t *testing.T) {
	setSearchBounds(t, 7, 30)
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		recs := searchFixture()
		writeOK(t, s, sealAll(recs))
		var d dialect
		switch x := s.(type) {
		case *Postgres:
			d = postgresDialect
		case *SQLite:
			d = x.indexed
		}
		filters := append(searchFilters(), struct {
			name string
			f    Filter
		}{"model nobody has", Filter{Model: "nobody"}}, struct {
			name string
			f    Filter
		}{"call id of no record", Filter{Tenant: "acme", CallID: "no-such-call"}})
		stopped := 0
		for _, tt := range filters {
			for _, limit := range []int{1000, 7, 1} {
				f := tt.f
				f.Limit = limit
				got, stops := walkSearch(t, s, f)
				if want := expectSearch(recs, f); !slices.Equal(got, want) {
					t.Errorf("%s, limit %d: got %d rows %.80v\nwant %d rows %.80v", tt.name, limit, len(got), got, len(want), want)
				}
				if stops > 0 && !d.residual(&f) {
					t.Errorf("%s, limit %d: an indexed filter stopped at the budget %d times", tt.name, limit, stops)
				}
				stopped += stops
			}
		}
		if stopped == 0 {
			t.Error("no search stopped at its budget: the bound is not exercised")
		}
		// A filter matching nothing stops at the budget at each call, each
		// time further on.
		f := Filter{Model: "nobody", Limit: 10}
		err := s.SearchEach(context.Background(), f, func(*Row) error { return errors.New("no row expected") })
		var be *SearchBoundError
		if !errors.As(err, &be) || be.Resume.Seq == 0 {
			t.Fatalf("model nobody has: %v, want a *SearchBoundError with a position", err)
		}
		f.After = &be.Resume
		var be2 *SearchBoundError
		if err := s.SearchEach(context.Background(), f, func(*Row) error { return nil }); !errors.As(err, &be2) {
			t.Fatalf("resumed: %v", err)
		}
		if k1, k2 := be.Resume, be2.Resume; record.FormatTime(k2.TS)+k2.Chain <= record.FormatTime(k1.TS)+k1.Chain && k2.Seq <= k1.Seq {
			t.Errorf("resumed at %+v, then stopped at %+v: no progress", k1, k2)
		}
	})
}

// TestSearch_QueriesHaveTheirOwnPool: with every connection the queries
// may use taken (as by as many slow queries), the writer still writes: it
// never waits for a query's connection. A query meanwhile waits for its
// own pool.
func TestSearch_QueriesHaveTheirOwnPool(t *testing.T) {
	run := func(t *testing.T, s store, hold func(ctx context.Context) (release func())) {
		writeOK(t, s, sealAll(chainRecords("a", 1, 10)))
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		release := hold(ctx)
		defer release()
		if err := s.Write(ctx, sealAll(chainRecords("a", 11, 20))); err != nil {
			t.Fatalf("write while the queries' connections are all held: %v", err)
		}
		qctx, qcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer qcancel()
		if err := s.SearchEach(qctx, Filter{Limit: 5}, func(*Row) error { return nil }); err == nil {
			t.Error("a query was served with every connection of the queries' pool held: it used another pool")
		}
		release()
		rows, err := s.Search(ctx, Filter{Limit: 100})
		if err != nil || len(rows) != 20 {
			t.Fatalf("after: %d rows, %v", len(rows), err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		s, _ := openTestSQLite(t)
		run(t, s, func(ctx context.Context) func() {
			var release []func()
			for range sqliteMaxConns {
				c, err := s.rdb.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				release = append(release, func() { c.Close() })
			}
			return func() {
				for _, r := range release {
					r()
				}
				release = nil
			}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		p := openTestPostgres(t)
		run(t, p, func(ctx context.Context) func() {
			var release []func()
			for range pgReadConns {
				c, err := p.rpool.Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				release = append(release, c.Release)
			}
			return func() {
				for _, r := range release {
					r()
				}
				release = nil
			}
		})
	})
}

// TestSearch_StatementDeadline: a search statement that runs past its
// deadline is interrupted (it would never end here) and reported as
// ErrSearchTimeout, and the pool serves the next query.
func TestSearch_StatementDeadline(t *testing.T) {
	old := searchChunkTimeout
	searchChunkTimeout = 100 * time.Millisecond
	t.Cleanup(func() { searchChunkTimeout = old })
	endless := func(t *testing.T, s store, run func(ctx context.Context) error) {
		done := make(chan error, 1)
		go func() {
			_, err := withDeadline(context.Background(), func(ctx context.Context) (struct{}, error) { return struct{}{}, run(ctx) })
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrSearchTimeout) {
				t.Fatalf("endless statement: %v, want ErrSearchTimeout", err)
			}
		case <-time.After(waitLong):
			t.Fatal("an endless statement was not interrupted at its deadline")
		}
		if _, err := s.Search(context.Background(), Filter{Limit: 1}); err != nil {
			t.Fatalf("a search after: %v", err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		s, _ := openTestSQLite(t)
		endless(t, s, func(ctx context.Context) error {
			var n int64
			return s.rdb.QueryRowContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c`).Scan(&n)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		p := openTestPostgres(t)
		endless(t, p, func(ctx context.Context) error {
			_, err := p.rpool.Exec(ctx, `SELECT pg_sleep(3600)`)
			return err
		})
	})
}

// The probe of a window reads the walked index only, and a windowed read
// sorts nothing, whatever the filter.
func TestSQLite_Search_WindowPlans(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		t.Run(fmt.Sprintf("query_indexes=%v", indexed), func(t *testing.T) { testWindowPlans(t, indexed) })
	}
}

func testWindowPlans(t *testing.T, indexed bool) {
	s, _ := openTestSQLite(t)
	d := sqliteDialectIndexed(false, false)
	if indexed {
		s, _ = openTestSQLiteIndexed(t)
		d = sqliteDialect
	}
	writeOK(t, s, sealAll(searchFixture()))
	plan := func(q string, args []any) string { return queryPlan(t, s.db, q, args) }
	upto := &Key{TS: baseTS.Add(40 * time.Millisecond), Chain: "b", Seq: 120}
	for _, tt := range searchFilters() {
		for _, after := range []*Key{nil, {TS: baseTS.Add(25 * time.Millisecond), Chain: "b", Seq: 77}} {
			f := tt.f
			f.Limit, f.After = 100, after
			q, args, err := searchProbe(&f, d, searchWindow-1)
			if err != nil {
				t.Fatal(err)
			}
			p := plan(q, args)
			if d.traceTable && f.Trace != "" {
				// The trace's table is walked from the position on and
				// its rows fetched by (chain, seq); the rows past its
				// watermark by rowid; the two, at most a page and a
				// batch, sorted.
				q2, args2, err := searchSQL(&f, d, upto)
				if err != nil {
					t.Fatal(err)
				}
				for what, p := range map[string]string{"probe": p, "windowed": plan(q2, args2)} {
					if !traceTablePlan(p) {
						t.Errorf("%s: %s plan %q does not walk the trace's table and the rows past its watermark", tt.name, what, p)
					}
				}
				continue
			}
			leads := 0
			for _, col := range d.leads {
				if filterValue(&f, col) != "" {
					leads++
				}
			}
			switch {
			case leads > 1:
				// The most selective lead's index is walked (a trace's or
				// a session's rows are few), and the table read for the
				// others' values.
				if ix := sqliteLeadIndexOf(&f, d); strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "INDEX "+ix+" (") {
					t.Errorf("%s: probe plan %q sorts or does not walk %s", tt.name, p, ix)
				}
			case strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "COVERING INDEX audit_records_"):
				t.Errorf("%s: probe plan %q sorts or reads more than an index", tt.name, p)
			}
			q, args, err = searchSQL(&f, d, upto)
			if err != nil {
				t.Fatal(err)
			}
			if p := plan(q, args); strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "INDEX audit_records_") {
				t.Errorf("%s: windowed plan %q sorts or uses no query index", tt.name, p)
			}
		}
	}
}

// traceTablePlan reports whether p is the plan of traceSQL: the trace's
// table searched by its key, its rows by (chain, seq), the rows past the
// watermark by rowid, and one sort, of what those found.
func traceTablePlan(p string) bool {
	return strings.Contains(p, "SEARCH audit_trace_index USING PRIMARY KEY (t_trace=?") &&
		strings.Contains(p, "SEARCH audit_records USING INDEX sqlite_autoindex_audit_records_1 (chain=? AND seq=?)") &&
		strings.Contains(p, "UNION ALL; SEARCH audit_records USING INTEGER PRIMARY KEY (rowid>?)") &&
		strings.Count(p, "TEMP B-TREE") == 1 && strings.HasSuffix(p, "USE TEMP B-TREE FOR ORDER BY")
}

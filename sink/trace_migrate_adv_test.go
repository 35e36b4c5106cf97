package sink

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// A store of schema 2 or 3 (with its trace index, or with it dropped by
// an operator), holding records, is migrated by a writer while a reader
// (the console) has it open; both find every record of a trace, before
// and after the writer stores more across several watermarks.
func TestAdvTrace_MigrationWithAReaderOpen(t *testing.T) {
	defer func(n int64) { traceIndexEvery = n }(traceIndexEvery)
	traceIndexEvery = 7
	for _, c := range []struct {
		name    string
		version int
		drop    bool
	}{{"schema 2", 2, false}, {"schema 3", 3, false}, {"schema 3 without its index", 3, true}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "audit.db")
			db := rawDB(t, path)
			for _, step := range migrations[:c.version] {
				for _, stmt := range step {
					if _, err := db.Exec(stmt); err != nil {
						t.Fatal(err)
					}
				}
			}
			if c.drop {
				if _, err := db.Exec(`DROP INDEX audit_records_trace`); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, c.version)); err != nil {
				t.Fatal(err)
			}
			recs := chainRecords("c", 1, 30)
			for i, r := range recs {
				r.Trace = []string{"m'a", "m%", "", "m'a"}[i%4]
			}
			for _, sealed := range sealAll(recs) {
				r, err := rowOf(&sealed)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`INSERT INTO audit_records (`+rowColumns+`) VALUES (?`+strings.Repeat(",?", len(pgColumns)-1)+`)`, rowArgs(nil, &r)...); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Exec(`PRAGMA journal_mode = WAL`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			want := func(trace string) []string {
				var out []string
				for _, r := range recs {
					if r.Trace == trace {
						out = append(out, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
					}
				}
				return out
			}
			rd, err := OpenSQLiteReader(path)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			checkBoth := func(what string, stores ...*SQLite) {
				t.Helper()
				for i, s := range stores {
					for _, tr := range []string{"m'a", "m%", "m_"} {
						got, err := s.Search(ctx, Filter{Trace: tr, Limit: 1000})
						if err != nil {
							t.Fatalf("%s, store %d, trace %q: %v", what, i, tr, err)
						}
						if w := want(tr); !slices.Equal(positions(got), w) {
							t.Fatalf("%s, store %d, trace %q: %v, want %v", what, i, tr, positions(got), w)
						}
					}
				}
			}
			checkBoth("before the migration", rd)
			s, err := OpenSQLite(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkBoth("after the migration", rd, s)
			for i := range 5 {
				more := chainRecords("c", uint64(31+i*5), uint64(35+i*5))
				for j, r := range more {
					r.Trace = []string{"m'a", "m%", "", "m'a"}[j%4]
				}
				writeOK(t, s, sealAll(more))
				recs = append(recs, more...)
				checkBoth(fmt.Sprintf("after batch %d", i), rd, s)
			}
			var through int
			if err := s.db.QueryRow(`SELECT through FROM audit_trace_indexed`).Scan(&through); err != nil || through <= 30 {
				t.Fatalf("watermark %d (%v): the test did not cross one", through, err)
			}
		})
	}
}

// Searches by trace while batches are written (and cross watermarks of
// the trace table) return, page after page, every record stored before
// the search began, each once, in order.
func TestAdvTrace_SearchWhileWriting(t *testing.T) {
	defer func(n int64) { traceIndexEvery = n }(traceIndexEvery)
	traceIndexEvery = 11
	s, _ := openTestSQLite(t)
	ctx := context.Background()
	var mu sync.Mutex
	written := 0
	done := make(chan error, 1)
	go func() {
		for i := range 80 {
			batch := chainRecords("w", uint64(i*7+1), uint64(i*7+7))
			for j, r := range batch {
				r.Trace = []string{"tw", "", "tw", "other"}[j%4]
				r.TS = baseTS.Add(time.Duration((i*7+j)%50) * time.Millisecond)
			}
			if err := s.Write(ctx, sealAll(batch)); err != nil {
				done <- err
				return
			}
			mu.Lock()
			written = (i + 1) * 7
			mu.Unlock()
		}
		done <- nil
	}()
	for round := 0; ; round++ {
		mu.Lock()
		before := written
		mu.Unlock()
		var got []string
		var keys []Key
		for q := (Filter{Trace: "tw", Limit: 1 + round%9}); ; {
			page, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				ts, _ := time.Parse(time.RFC3339Nano, r.TS)
				keys = append(keys, Key{TS: ts, Chain: r.Chain, Seq: r.Seq})
			}
			got = append(got, positions(page)...)
			if len(page) < q.Limit {
				break
			}
			q.After = &keys[len(keys)-1]
		}
		for i := 1; i < len(keys); i++ {
			a, b := keys[i-1], keys[i]
			if c := a.TS.Compare(b.TS); c > 0 || c == 0 && (a.Chain > b.Chain || a.Chain == b.Chain && a.Seq >= b.Seq) {
				t.Fatalf("round %d: %v then %v", round, a, b)
			}
		}
		have := map[string]bool{}
		for _, p := range got {
			have[p] = true
		}
		for seq := 1; seq <= before; seq++ {
			if (seq-1)%7%4 != 1 && (seq-1)%7%4 != 3 && !have[fmt.Sprintf("w/%d", seq)] {
				t.Fatalf("round %d: w/%d, written before the search, not found", round, seq)
			}
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
	}
}

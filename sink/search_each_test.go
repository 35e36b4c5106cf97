package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// TestSearchEach_Chunks reads every filter of the Search suite in chunks
// of every shape (one row, a few rows, one row per chunk for the bytes,
// a few rows for the bytes, over records of varied sizes) and requires
// the rows one query would return, in order, each once.
func TestSearchEach_Chunks(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		recs := searchFixture()
		for i, r := range recs {
			r.Arguments = json.RawMessage(fmt.Sprintf(`{"text":%q}`, strings.Repeat("x", (i*37)%2000)))
		}
		writeOK(t, s, sealAll(recs))
		for _, c := range []chunkSize{
			{rows: 1, bytes: math.MaxInt},
			{rows: 3, bytes: math.MaxInt},
			{rows: 100, bytes: 1},
			{rows: 7, bytes: 4000},
			searchChunk,
		} {
			for _, tt := range searchFilters() {
				for _, limit := range []int{1000, 7} {
					f := tt.f
					f.Limit = limit
					var got []string
					err := s.searchEach(context.Background(), f, c, func(r *Row) error {
						got = append(got, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
						return nil
					})
					if err != nil {
						t.Fatalf("%+v %s limit %d: %v", c, tt.name, limit, err)
					}
					if want := expectSearch(recs, f); !slices.Equal(got, want) {
						t.Errorf("chunks %+v, %s, limit %d: got %d rows %.80v\nwant %d rows %.80v", c, tt.name, limit, len(got), got, len(want), want)
					}
				}
			}
		}
	})
}

func TestSearchEach_StopsAtFnError(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		writeOK(t, s, sealAll(chainRecords("a", 1, 250)))
		stop := errors.New("stop")
		n := 0
		err := s.SearchEach(context.Background(), Filter{Limit: 1000}, func(*Row) error {
			if n++; n == 150 {
				return stop
			}
			return nil
		})
		if err != stop || n != 150 {
			t.Fatalf("err %v after %d rows, want stop after 150", err, n)
		}
		err = s.SearchEach(context.Background(), Filter{Limit: 10, After: &Key{TS: baseTS, Chain: "a", Seq: 1 << 63}}, func(*Row) error { return nil })
		if !errors.Is(err, ErrInvalidFilter) {
			t.Fatalf("seq past int64: err %v, want ErrInvalidFilter", err)
		}
	})
}

// TestSearchEach_ReaderHoldsNoConnection gives each store one database
// connection and writes a record from inside fn for every row read: a
// reader that held its connection (or SQLite's read snapshot) while the
// rows are handed out would keep the writer waiting until its context
// ends, as a slow HTTP client would keep ingestion waiting.
func TestSearchEach_ReaderHoldsNoConnection(t *testing.T) {
	run := func(t *testing.T, s store) {
		writeOK(t, s, sealAll(chainRecords("a", 1, 40)))
		n := 0
		err := s.searchEach(context.Background(), Filter{Chain: "a", Limit: 40}, chunkSize{rows: 6, bytes: math.MaxInt}, func(r *Row) error {
			n++
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			return s.Write(ctx, sealAll([]*record.Record{newRecord("w", uint64(n), baseTS.Add(time.Hour))}))
		})
		if err != nil || n != 40 {
			t.Fatalf("read %d rows, writing from fn: %v", n, err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		s, _ := openTestSQLite(t)
		s.db.SetMaxOpenConns(2) // hold, and one
		run(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgTestSchema(t) + "&pool_max_conns=1"
		p, err := OpenPostgres(context.Background(), dsn, PostgresOptions{Now: testClock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		run(t, p)
	})
}

// waitLong bounds a wait that only a bug makes long.
const waitLong = 30 * time.Second

func TestReadChunk_StopsAtTheBudget(t *testing.T) {
	sizes := []int{100, 5000, 100, 100, 300000, 100}
	tests := []struct {
		c    chunkSize
		want int
		cut  bool
	}{
		{chunkSize{rows: 10, bytes: math.MaxInt}, 6, false},
		{chunkSize{rows: 10, bytes: 1}, 1, true},
		{chunkSize{rows: 10, bytes: 5000}, 2, true},
		{chunkSize{rows: 10, bytes: 6500}, 5, true}, // the large row is read whole
		{chunkSize{rows: 10, bytes: 400000}, 6, false},
	}
	for _, tt := range tests {
		i := -1
		rows, cut, err := readChunk(tt.c, func() bool { i++; return i < len(sizes) }, func(r *Row) error {
			r.Payload = make([]byte, sizes[i])
			return nil
		})
		if err != nil || len(rows) != tt.want || cut != tt.cut {
			t.Errorf("%+v: %d rows, cut %v, %v; want %d, %v", tt.c, len(rows), cut, err, tt.want, tt.cut)
		}
	}
}

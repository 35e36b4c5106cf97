package sink

import (
	"context"
	"testing"
)

// store is what both queryable sinks offer. The tests written against it
// form one conformance suite that runs against SQLite and PostgreSQL, so
// writes, filters and paging behave identically on both.
type store interface {
	Sink
	Search(ctx context.Context, f Filter) ([]Row, error)
	SearchEach(ctx context.Context, f Filter, fn func(*Row) error) error
	searchEach(ctx context.Context, f Filter, c chunkSize, fn func(*Row) error) error
	Chains(ctx context.Context) ([]string, error)
	Scan(ctx context.Context, chain string, fn func(Row) error) error
	TailReader
}

// forEachStore runs fn once per sink type; open returns a new, empty
// store that is closed and checked when the test ends. The PostgreSQL
// run skips without AUDIT_TEST_PG_DSN (and fails if AUDIT_TEST_REQUIRE_PG
// is set).
func forEachStore(t *testing.T, fn func(t *testing.T, open func(testing.TB) store)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(tb testing.TB) store { s, _ := openTestSQLite(tb); return s })
	})
	t.Run("postgres", func(t *testing.T) {
		pgDSN(t)
		fn(t, func(tb testing.TB) store { return openTestPostgres(tb) })
	})
}

// countStored counts the records of every chain of s.
func countStored(t testing.TB, s store) int {
	t.Helper()
	chains, err := s.Chains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range chains {
		if err := s.Scan(context.Background(), c, func(Row) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// storedPayload returns the payload stored at (chain, seq), nil if none.
func storedPayload(t testing.TB, s store, chain string, seq uint64) []byte {
	t.Helper()
	var out []byte
	err := s.Scan(context.Background(), chain, func(r Row) error {
		if r.Seq == seq {
			out = r.Payload
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestChainTail(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		if _, ok, err := s.ChainTail(context.Background(), "c1"); ok || err != nil {
			t.Fatalf("empty store: ok %v, err %v", ok, err)
		}
		recs := chainRecords("c1", 1, 6)
		recs[5].Source = nil // the sidecar's own record, as sidecar_stop
		batch := sealAll(recs)
		writeOK(t, s, batch)
		writeOK(t, s, sealAll(chainRecords("c2", 1, 9)))
		tail, ok, err := s.ChainTail(context.Background(), "c1")
		if err != nil || !ok {
			t.Fatalf("ChainTail: %v %v", ok, err)
		}
		if tail.Seq != 6 || tail.MAC != batch[5].MAC || tail.Kid != recs[5].Kid || tail.Source == nil || *tail.Source != *recs[4].Source {
			t.Errorf("tail %+v, want seq 6, its mac, and seq 5's source %+v", tail, recs[4].Source)
		}
	})
}

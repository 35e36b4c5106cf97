package query

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// outOfRangeTimes are RFC 3339 times whose instant is outside the years
// 0001 to 9999 in UTC: the stores compare times as fixed-width text, so
// each would select by the order of its digits.
var outOfRangeTimes = []string{
	"9999-12-31T23:59:59-23:59",           // year 10000 in UTC
	"9999-12-31T23:00:00-01:00",           // year 10000 in UTC
	"0001-01-01T00:00:00+01:00",           // year 0 in UTC
	"0001-01-01T00:59:59.999999999+01:00", // year 0 in UTC
	"0000-06-01T00:00:00Z",                // year 0
}

// inRangeEdges are the first and last instants of the allowed range,
// written in other zones.
var inRangeEdges = []string{
	"0001-01-01T00:00:00Z",
	"0001-01-01T01:00:00+01:00",
	"9999-12-31T23:59:59.999999999Z",
	"9999-12-31T00:59:59-23:00",
}

func TestAudit_TimeOutsideYears1To9999(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(20))})
	for _, name := range []string{"from", "to"} {
		for _, v := range outOfRangeTimes {
			t.Run(name+"="+v, func(t *testing.T) {
				rec := get(h, "/v1/audit?"+url.Values{name: {v}}.Encode(), adminToken)
				msg := wantError(t, rec, http.StatusBadRequest)
				if want := name + ": must be a time in the years 0001 to 9999 UTC"; msg != want {
					t.Fatalf("error %q, want %q", msg, want)
				}
			})
		}
	}
	// The other bound in range does not make the bad one acceptable.
	rec := get(h, "/v1/audit?from=2026-01-01T00:00:00Z&to=9999-12-31T23:59:59-23:59", adminToken)
	wantError(t, rec, http.StatusBadRequest)
}

func TestAudit_TimeAtTheEdgesOfTheRange(t *testing.T) {
	recs := genRecords(20)
	h := newTestHandler(t, Config{Store: newFakeStore(recs)})
	for _, v := range inRangeEdges {
		t.Run(v, func(t *testing.T) {
			for _, name := range []string{"from", "to"} {
				_, got := decodePage(t, get(h, "/v1/audit?"+url.Values{name: {v}}.Encode(), adminToken))
				// Every record is after 0001 and before 9999.
				want := len(recs)
				if name == "from" && strings.HasPrefix(v, "9999") || name == "to" && strings.HasPrefix(v, "0001") {
					want = 0
				}
				if len(got) != want {
					t.Errorf("%s=%s: %d records, want %d", name, v, len(got), want)
				}
			}
		})
	}
}

func TestExport_TimeOutsideYears1To9999(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(20))})
	for _, name := range []string{"from", "to"} {
		for _, v := range outOfRangeTimes {
			t.Run(name+"="+v, func(t *testing.T) {
				rec := get(h, "/v1/audit?"+url.Values{"format": {"ndjson"}, name: {v}}.Encode(), adminToken)
				msg := wantError(t, rec, http.StatusBadRequest)
				if want := name + ": must be a time in the years 0001 to 9999 UTC"; msg != want {
					t.Fatalf("error %q, want %q", msg, want)
				}
			})
		}
	}
}

// cursorFor returns a cursor with a correct binding to the filter of a
// query without parameters, at position (ts, chain, seq).
func cursorFor(ts, chain string, seq uint64) string {
	b := filterBinding(&sink.Filter{})
	data, _ := json.Marshal(cursor{V: cursorVersion, TS: ts, Chain: chain, Seq: seq, Filter: hex.EncodeToString(b[:])})
	return base64.RawURLEncoding.EncodeToString(data)
}

// TestAudit_CursorExtremes sends cursors that decode and carry the right
// filter binding but hold positions no store can take: a seq past the
// largest the stores keep (int64), a time outside the years 0001 to 9999.
// Each is a 400, never a 500; the largest seq a store keeps is accepted.
func TestAudit_CursorExtremes(t *testing.T) {
	stores := map[string]Store{"fake": newFakeStore(genRecords(20)), "sqlite": openSQLiteStore(t, genRecords(20))}
	tests := []struct {
		name   string
		cursor string
		status int
	}{
		{"seq 2^63", cursorFor("2026-11-26T10:00:00.000000000Z", "chain-a", 1<<63), http.StatusBadRequest},
		{"seq 2^64-1", cursorFor("2026-11-26T10:00:00.000000000Z", "chain-a", math.MaxUint64), http.StatusBadRequest},
		{"seq 2^63-1", cursorFor("2026-11-26T10:00:00.000000000Z", "chain-a", math.MaxInt64), http.StatusOK},
		{"ts in year 10000 UTC", cursorFor("9999-12-31T23:59:59-23:59", "chain-a", 1), http.StatusBadRequest},
		{"ts in year 0 UTC", cursorFor("0001-01-01T00:00:00+01:00", "chain-a", 1), http.StatusBadRequest},
		{"ts in another zone", cursorFor("2026-11-26T11:00:00+01:00", "chain-a", 1), http.StatusOK},
		{"ts first instant", cursorFor("0001-01-01T00:00:00.000000000Z", "chain-a", 1), http.StatusOK},
		{"ts last instant", cursorFor("9999-12-31T23:59:59.999999999Z", "chain-a", 1), http.StatusOK},
	}
	for name, store := range stores {
		h := newTestHandler(t, Config{Store: store})
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				rec := get(h, "/v1/audit?cursor="+tt.cursor, adminToken)
				if tt.status == http.StatusOK {
					decodePage(t, rec)
					return
				}
				if msg := wantError(t, rec, tt.status); msg != "cursor: malformed" {
					t.Fatalf("error %q, want cursor: malformed", msg)
				}
			})
		}
	}
}

// openSQLiteStore opens a real SQLite sink in a temp dir holding recs.
func openSQLiteStore(t testing.TB, recs []*record.Record) *sink.SQLite {
	t.Helper()
	s, err := sink.OpenSQLite(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	batch := make([]record.Sealed, len(recs))
	for i, r := range recs {
		row := rowOf(r)
		batch[i] = record.Sealed{Chain: r.Chain, Seq: r.Seq, Payload: row.Payload, MAC: [32]byte(row.MAC)}
	}
	for len(batch) > 0 {
		n := min(len(batch), 500)
		if err := s.Write(context.Background(), batch[:n]); err != nil {
			t.Fatal(fmt.Errorf("write: %w", err))
		}
		batch = batch[n:]
	}
	return s
}

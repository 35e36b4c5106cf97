package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fips-agents/audit-sidecar/record"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// baseTS is the event time of the first test record.
var baseTS = time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)

// newRecord returns a filled record at chain position (chain, seq). Its
// prev is a fake: the sink stores chain fields but does not check them.
func newRecord(chain string, seq uint64, ts time.Time) *record.Record {
	prev := sha256.Sum256(fmt.Appendf(nil, "%s/%d", chain, seq-1))
	return &record.Record{
		V:          record.Version,
		Chain:      chain,
		Seq:        seq,
		TS:         ts,
		IngestedAt: ts.Add(1500 * time.Millisecond),
		Action:     record.ActionToolCall,
		User:       "u-17",
		Tenant:     "acme",
		Agent:      "refund-bot",
		Session:    "s-9",
		Trace:      "4bf92f3577b34da6a3ce929d0e0e4736",
		Model:      "granite-3.3-8b",
		Tool:       "payments.refund",
		Arguments:  json.RawMessage(`{"amount":249,"card":"[REDACTED:card]","email":"[REDACTED:email]"}`),
		Outcome:    "success",
		Detail:     json.RawMessage(`{"latency_ms":42}`),
		Manifest: &record.Manifest{Policy: "rp1-0123456789abcdef", Rules: []record.RuleHits{
			{Rule: "builtin:CARD", Type: "CARD", Count: 1, Paths: []string{"arguments.card"}},
			{Rule: "builtin:EMAIL", Type: "EMAIL", Count: 1, Paths: []string{"arguments.email"}},
		}},
		Source: &record.Source{File: "/var/log/agent/events.jsonl", Dev: 64769, Ino: 1234567, Offset: int64(seq) * 300},
		Kid:    "k-2026-11",
		Prev:   hex.EncodeToString(prev[:]),
	}
}

// seal encodes r as a sink receives it. The MAC is a fake too (SHA-256 of
// the payload), so a different payload gets a different MAC.
func seal(r *record.Record) record.Sealed {
	payload := record.AppendCanonical(nil, r)
	return record.Sealed{Chain: r.Chain, Seq: r.Seq, Payload: payload, MAC: sha256.Sum256(payload)}
}

// sealAll seals recs in order.
func sealAll(recs []*record.Record) []record.Sealed {
	out := make([]record.Sealed, len(recs))
	for i, r := range recs {
		out[i] = seal(r)
	}
	return out
}

// chainRecords returns records seq from..to of chain, one millisecond
// apart from baseTS (seq 1 at baseTS).
func chainRecords(chain string, from, to uint64) []*record.Record {
	var out []*record.Record
	for seq := from; seq <= to; seq++ {
		out = append(out, newRecord(chain, seq, baseTS.Add(time.Duration(seq-1)*time.Millisecond)))
	}
	return out
}

// openTestSQLite opens a new database in a fresh folder below a temp dir
// (so OpenSQLite must create it) and, when the test ends, closes it and
// checks the file: SQLite's integrity check, and every row's columns equal
// what its payload says.
func openTestSQLite(t testing.TB) (*SQLite, string) {
	t.Helper()
	return openTestSQLiteWith(t, SQLiteOptions{})
}

// openTestSQLiteIndexed is openTestSQLite with both query indexes.
func openTestSQLiteIndexed(t testing.TB) (*SQLite, string) {
	t.Helper()
	return openTestSQLiteWith(t, SQLiteOptions{QueryIndexes: []string{"user", "session"}})
}

func openTestSQLiteWith(t testing.TB, opts SQLiteOptions) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "audit.db")
	s, err := OpenSQLiteWith(path, nil, opts)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkSQLiteFile(t, path)
	})
	return s, path
}

// rawDB opens path with database/sql alone, the way another tool would.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", rawDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawDSN names path as a file: URI with no settings. A plain path would
// do but for '?', where the driver cuts it.
func rawDSN(path string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	return u.String()
}

func checkSQLiteFile(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", rawDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check = %q, %v", ok, err)
	}
	rows, err := db.Query(`SELECT ` + rowColumns + ` FROM audit_records`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		got, err := scanRow(rows)
		if err != nil {
			t.Fatal(err)
		}
		var mac [32]byte
		copy(mac[:], got.MAC)
		want, err := rowOf(&record.Sealed{Chain: got.Chain, Seq: got.Seq, Payload: got.Payload, MAC: mac})
		if err != nil {
			t.Errorf("stored chain %q seq %d: %v", got.Chain, got.Seq, err)
			continue
		}
		if d := diffRow(got, want); d != "" {
			t.Errorf("stored chain %q seq %d: columns differ from payload: %s", got.Chain, got.Seq, d)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// diffRow names the first field where a and b differ, or returns "".
func diffRow(a, b Row) string {
	if a.Chain != b.Chain || a.Seq != b.Seq {
		return fmt.Sprintf("position: %s/%d != %s/%d", a.Chain, a.Seq, b.Chain, b.Seq)
	}
	for _, c := range record.IndexColumns {
		if x, y := *c.In(&a.Columns), *c.In(&b.Columns); x != y {
			return fmt.Sprintf("%s: %v != %v", c.Name, x, y)
		}
	}
	for _, f := range []struct {
		name string
		x, y []byte
	}{{"prev", a.Prev, b.Prev}, {"mac", a.MAC, b.MAC}, {"payload", a.Payload, b.Payload}} {
		if !bytes.Equal(f.x, f.y) {
			return f.name + " differs"
		}
	}
	return ""
}

// countRows returns how many records the file holds.
func countRows(t testing.TB, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM audit_records`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// writeOK writes batch and fails the test on error.
func writeOK(t testing.TB, s Sink, batch []record.Sealed) {
	t.Helper()
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q, its steps joined by
// "; ".
func queryPlan(t testing.TB, db *sql.DB, q string, args []any) string {
	t.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	return strings.Join(out, "; ")
}

package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// purgeRecord returns chain's retention_purge record at seq, through
// through.
func purgeRecord(chain string, seq, through uint64, ingested time.Time) *record.Record {
	r := newRecord(chain, seq, ingested)
	r.IngestedAt = ingested
	r.Action = record.ActionRetentionPurge
	r.User, r.Tool, r.Arguments = "", "", nil
	r.Detail = []byte(fmt.Sprintf(`{"cutoff":"x","policy":{"max_age":"1h"},"through_seq":%d,"through_mac":"00"}`, through))
	return r
}

func TestSQLite_Purge(t *testing.T) {
	ctx := context.Background()
	s, path := openTestSQLite(t)
	recs := chainRecords("c1", 1, 30)
	recs = append(recs, purgeRecord("c1", 31, 20, baseTS.Add(time.Minute)))
	writeOK(t, s, sealAll(recs))
	writeOK(t, s, sealAll(chainRecords("other", 1, 5)))
	db := rawDB(t, path)

	// Deleting without a guard, or with a guard that names no purge
	// record, a record of another kind, or another through_seq, fails.
	for _, guard := range []string{
		``,
		`INSERT INTO audit_purge_guard VALUES ('c1', 20, 99)`,
		`INSERT INTO audit_purge_guard VALUES ('c1', 20, 25)`,
		`INSERT INTO audit_purge_guard VALUES ('c1', 25, 31)`,
	} {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if guard != "" {
			if _, err := tx.Exec(guard); err != nil {
				t.Fatal(err)
			}
		}
		_, err = tx.Exec(`DELETE FROM audit_records WHERE chain = 'c1' AND seq = 3`)
		tx.Rollback()
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("guard %q: delete err = %v, want append-only", guard, err)
		}
	}
	// A guard covers only its range.
	tx, _ := db.Begin()
	tx.Exec(`INSERT INTO audit_purge_guard VALUES ('c1', 20, 31)`)
	_, err := tx.Exec(`DELETE FROM audit_records WHERE chain = 'c1' AND seq = 21`)
	tx.Rollback()
	if err == nil {
		t.Error("a guard through 20 let seq 21 be deleted")
	}

	if err := s.Purge(ctx, Purge{Chain: "c1", Seq: 31, Through: 20}); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, Purge{Chain: "c1", Seq: 31, Through: 20}); err != nil { // idempotent
		t.Fatal(err)
	}
	var seqs []uint64
	s.Scan(ctx, "c1", func(r Row) error { seqs = append(seqs, r.Seq); return nil })
	if len(seqs) != 11 || seqs[0] != 21 || seqs[10] != 31 {
		t.Errorf("c1 after purge: %v, want 21..31", seqs)
	}
	if n := countStored(t, s); n != 16 {
		t.Errorf("stored %d, want 16 (other chain untouched)", n)
	}
	var guards int
	db.QueryRow(`SELECT count(*) FROM audit_purge_guard`).Scan(&guards)
	if guards != 0 {
		t.Errorf("%d guard rows left", guards)
	}
	// A purge that names a record that is not a purge fails and removes nothing.
	if err := s.Purge(ctx, Purge{Chain: "c1", Seq: 30, Through: 25}); err == nil {
		t.Error("purge naming a non-purge record succeeded")
	}
	if n := countStored(t, s); n != 16 {
		t.Errorf("stored %d after a refused purge, want 16", n)
	}
}

func TestSQLite_PurgeInChunks(t *testing.T) {
	s, _ := openTestSQLite(t)
	recs := chainRecords("c1", 1, purgeChunk+500)
	recs = append(recs, purgeRecord("c1", purgeChunk+501, purgeChunk+400, baseTS.Add(time.Hour)))
	writeOK(t, s, sealAll(recs))
	if err := s.Purge(context.Background(), Purge{Chain: "c1", Seq: purgeChunk + 501, Through: purgeChunk + 400}); err != nil {
		t.Fatal(err)
	}
	if n := countStored(t, s); n != 101 {
		t.Errorf("stored %d, want 101", n)
	}
}

// PostgreSQL drops a whole monthly partition once every chain in it is
// covered by its own retention_purge record, and never deletes rows.
func TestPostgres_PurgeDropsCoveredPartitions(t *testing.T) {
	ctx := context.Background()
	dsn := pgTestSchema(t)
	now := time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)
	p, err := OpenPostgres(ctx, dsn, PostgresOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	jan := time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)
	feb := time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC)
	at := func(chain string, from, to uint64, ts time.Time) []*record.Record {
		rs := chainRecords(chain, from, to)
		for _, r := range rs {
			r.IngestedAt = ts
		}
		return rs
	}
	// a: 1..10 in January, 11..15 in February; b: 1..5 in January, 6..8 in February.
	writeOK(t, p, sealAll(append(at("a", 1, 10, jan), at("a", 11, 15, feb)...)))
	writeOK(t, p, sealAll(append(at("b", 1, 5, jan), at("b", 6, 8, feb)...)))
	drop := func() {
		t.Helper()
		if err := p.Purge(ctx, Purge{Chain: "a", Through: 10, Cutoff: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
	}
	// a purges through 10 (all of its January); b has not purged.
	writeOK(t, p, sealAll([]*record.Record{purgeRecord("a", 16, 10, feb)}))
	drop()
	if n := countStored(t, p); n != 16+8 {
		t.Fatalf("stored %d, want 24: January holds b's unpurged records", n)
	}
	// b purges only through 4: seq 5 is in January, still not covered.
	writeOK(t, p, sealAll([]*record.Record{purgeRecord("b", 9, 4, feb)}))
	drop()
	if n := countStored(t, p); n != 25 {
		t.Fatalf("stored %d, want 25", n)
	}
	// b purges through 5: January is covered for both and is dropped;
	// February stays, whatever its records.
	writeOK(t, p, sealAll([]*record.Record{purgeRecord("b", 10, 5, feb)}))
	drop()
	var first []uint64
	for _, c := range []string{"a", "b"} {
		var seqs []uint64
		p.Scan(ctx, c, func(r Row) error { seqs = append(seqs, r.Seq); return nil })
		first = append(first, seqs[0])
	}
	if first[0] != 11 || first[1] != 6 {
		t.Errorf("first stored seqs after the drop: %v, want [11 6]", first)
	}
	c := pgAdmin(t, dsn)
	var exists bool
	c.QueryRow(ctx, `SELECT to_regclass('audit_records_2027_01') IS NOT NULL`).Scan(&exists)
	if exists {
		t.Error("January's partition still exists")
	}
	// The current month is never dropped, even when covered.
	if err := p.Purge(ctx, Purge{Chain: "a", Through: 15, Cutoff: feb}); err != nil {
		t.Fatal(err)
	}
	c.QueryRow(ctx, `SELECT to_regclass('audit_records_2027_02') IS NOT NULL`).Scan(&exists)
	if !exists {
		t.Error("February's partition was dropped before its month ended")
	}
}

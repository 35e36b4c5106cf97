package sink

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSQLite_MigratesTraceIndex: a store of schema 2 (no trace index)
// gets the trace table of schema 4 on open (the index of schema 3, also
// one an operator built by hand first, dropped), and its records are then
// found by trace.
func TestSQLite_MigratesTraceIndex(t *testing.T) {
	for _, byHand := range []bool{false, true} {
		t.Run(fmt.Sprintf("built_by_hand=%v", byHand), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			db := rawDB(t, path)
			for _, step := range migrations[:2] {
				for _, stmt := range step {
					if _, err := db.Exec(stmt); err != nil {
						t.Fatal(err)
					}
				}
			}
			stmts := []string{`PRAGMA user_version = 2`}
			if byHand {
				stmts = append(stmts, `CREATE INDEX audit_records_trace ON audit_records (trace, ts, chain, seq) WHERE trace <> ''`)
			}
			for _, stmt := range stmts {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			s, err := OpenSQLite(path, nil)
			if err != nil {
				t.Fatalf("open a schema 2 store: %v", err)
			}
			defer s.Close()
			var version, n int
			if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != schemaVersion {
				t.Fatalf("user_version %d (%v), want %d", version, err, schemaVersion)
			}
			if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('audit_records_trace', 'audit_trace_index', 'audit_trace_indexed')`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("trace index and tables: %d (%v), want the two tables", n, err)
			}
			checkTraceSearch(t, s)
		})
	}
}

// TestSQLite_MigratesTraceIndexToItsTable: a store of schema 3, with
// records, gets their traces' positions in the table of schema 4 and a
// watermark past its last row; its records are found by trace before and
// after more are written, and the index of schema 3 is gone.
func TestSQLite_MigratesTraceIndexToItsTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	db := rawDB(t, path)
	for _, step := range migrations[:3] {
		for _, stmt := range step {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.Exec(`PRAGMA user_version = 3`); err != nil {
		t.Fatal(err)
	}
	recs := chainRecords("c", 1, 40)
	for i, r := range recs {
		r.Trace = []string{"m-a", "m-b", "", "m-a"}[i%4]
	}
	for _, sealed := range sealAll(recs) {
		r, err := rowOf(&sealed)
		if err != nil {
			t.Fatal(err)
		}
		args := rowArgs(nil, &r)
		if _, err := db.Exec(`INSERT INTO audit_records (`+rowColumns+`) VALUES (?`+strings.Repeat(",?", len(pgColumns)-1)+`)`, args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	// Read-only (verify, the console on a copy): no migration, and the
	// trace is found by the index of schema 3.
	ro, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ro.Search(context.Background(), Filter{Trace: "m-a", Limit: 100}); err != nil || len(got) != 20 {
		t.Fatalf("trace m-a in the schema 3 store, read-only: %d records, %v; want 20", len(got), err)
	}
	ro.Close()
	s, err := OpenSQLite(path, nil)
	if err != nil {
		t.Fatalf("open a schema 3 store: %v", err)
	}
	defer s.Close()
	var listed, through, index int
	if err := s.db.QueryRow(`SELECT (SELECT count(*) FROM audit_trace_index), (SELECT through FROM audit_trace_indexed),
		(SELECT count(*) FROM sqlite_master WHERE name = 'audit_records_trace')`).Scan(&listed, &through, &index); err != nil {
		t.Fatal(err)
	}
	if listed != 30 || through != 40 || index != 0 {
		t.Fatalf("after the step: %d positions listed (want 30), watermark %d (want 40), %d old index (want 0)", listed, through, index)
	}
	got, err := s.Search(context.Background(), Filter{Trace: "m-a", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 {
		t.Fatalf("trace m-a: %d records, want 20", len(got))
	}
	checkTraceSearch(t, s)
}

// TestPostgres_MigratesTraceIndex: a database of schema 5 gets the trace
// index, also when it was built by hand before the upgrade.
func TestPostgres_MigratesTraceIndex(t *testing.T) {
	for _, byHand := range []bool{false, true} {
		t.Run(fmt.Sprintf("built_by_hand=%v", byHand), func(t *testing.T) {
			dsn := pgTestSchema(t)
			ctx := context.Background()
			p, err := OpenPostgres(ctx, dsn, PostgresOptions{Now: testClock})
			if err != nil {
				t.Fatal(err)
			}
			p.Close()
			c := pgAdmin(t, dsn)
			stmts := []string{`DELETE FROM audit_schema_migrations WHERE version = 6`}
			if !byHand {
				stmts = append(stmts, `DROP INDEX audit_records_trace`)
			}
			for _, stmt := range stmts {
				if _, err := c.Exec(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			p, err = OpenPostgres(ctx, dsn, PostgresOptions{Now: testClock})
			if err != nil {
				t.Fatalf("open a schema 5 database: %v", err)
			}
			defer p.Close()
			var v, n int
			if err := c.QueryRow(ctx, `SELECT max(version) FROM audit_schema_migrations`).Scan(&v); err != nil || v != pgSchemaVersion {
				t.Fatalf("schema version %d (%v), want %d", v, err, pgSchemaVersion)
			}
			if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = 'audit_records' AND indexname = 'audit_records_trace' AND schemaname = current_schema()`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("trace indexes: %d (%v), want 1", n, err)
			}
			checkTraceSearch(t, p)
		})
	}
}

// checkTraceSearch writes records of two traces (and some of none) and
// searches one.
func checkTraceSearch(t *testing.T, s store) {
	t.Helper()
	recs := chainRecords("c1", 1, 30)
	var want []string
	for i, r := range recs {
		r.Trace = []string{"t-a", "t-b", ""}[i%3]
		if r.Trace == "t-b" {
			want = append(want, fmt.Sprintf("c1/%d", r.Seq))
		}
	}
	writeOK(t, s, sealAll(recs))
	got, err := s.Search(context.Background(), Filter{Trace: "t-b", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(positions(got), want) {
		t.Fatalf("trace t-b: %v, want %v", positions(got), want)
	}
	if got, err := s.Search(context.Background(), Filter{Trace: "t-none", Limit: 100}); err != nil || len(got) != 0 {
		t.Fatalf("a trace of no record: %d rows, %v", len(got), err)
	}
}

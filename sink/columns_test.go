package sink

import (
	"context"
	"slices"
	"testing"
)

// TestSchema_ColumnsAreTheList: the audit_records table a new store
// creates has exactly the columns of pgColumns (chain, seq,
// record.IndexColumns, prev, mac, payload), in that order, in SQLite and
// in PostgreSQL: the DDL is written out in the schemas, and a column
// added to the list without it (or the reverse) fails here.
func TestSchema_ColumnsAreTheList(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		_, path := openTestSQLite(t)
		rows, err := rawDB(t, path).Query(`SELECT name FROM pragma_table_info('audit_records') ORDER BY cid`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, pgColumns) {
			t.Fatalf("columns %v, want %v", got, pgColumns)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		p := openTestPostgres(t)
		rows, err := p.pool.Query(context.Background(), `SELECT attname::text FROM pg_attribute
			WHERE attrelid = 'audit_records'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, pgColumns) {
			t.Fatalf("columns %v, want %v", got, pgColumns)
		}
	})
}

package sink

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// dirState is every file of a folder with the SHA-256 of its bytes.
func dirState(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func sameDir(a, b map[string][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// readAll reads every record of every chain of s.
func readAll(t *testing.T, s interface {
	Chains(context.Context) ([]string, error)
	Scan(context.Context, string, func(Row) error) error
}) int {
	t.Helper()
	ids, err := s.Chains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		if err := s.Scan(context.Background(), id, func(Row) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// stoppedStore writes 30 records of two chains to a new store and closes
// it (a stopped sidecar's store: no -wal file); it returns its path.
func stoppedStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeOK(t, s, sealAll(chainRecords("a", 1, 20)))
	writeOK(t, s, sealAll(chainRecords("b", 1, 10)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// OpenSQLiteReadOnly reads a store, whatever its journal mode or schema
// version, without changing a byte of its folder (no -wal or -shm left
// beside a stopped store), and reports a file that is no store as such
// instead of creating the schema in it.
func TestOpenSQLiteReadOnly_WritesNothing(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		records int
		notA    string // the NotAStoreError's reason, "" when it is a store
		empty   bool
	}{
		{name: "stopped WAL store", records: 30},
		{name: "journal mode DELETE", records: 30, prepare: func(t *testing.T, path string) {
			if _, err := rawDB(t, path).Exec(`PRAGMA journal_mode = DELETE`); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "user_version 99", records: 30, prepare: userVersion(99)},
		{name: "user_version -1", records: 30, prepare: userVersion(-1)},
		{name: "user_version 0", records: 30, prepare: userVersion(0)},
		{name: "user_version 1", records: 30, prepare: userVersion(1)},
		{name: "empty file", notA: "the file is empty", empty: true, prepare: func(t *testing.T, path string) {
			writeFileT(t, path, nil)
		}},
		{name: "foreign database", notA: "it has no audit_records table", empty: true, prepare: func(t *testing.T, path string) {
			os.Remove(path)
			db := rawDB(t, path)
			if _, err := db.Exec(`CREATE TABLE notes (x TEXT)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}},
		{name: "not a database", notA: "the file is not a SQLite database", prepare: func(t *testing.T, path string) {
			writeFileT(t, path, []byte("<!DOCTYPE html><html>a report written over the store</html>\n"))
		}},
		{name: "table without its columns", notA: "its audit_records table lacks the column(s) ts, ingested_at", prepare: func(t *testing.T, path string) {
			os.Remove(path)
			db := rawDB(t, path)
			if _, err := db.Exec(`CREATE TABLE audit_records (chain TEXT, seq INTEGER, action TEXT, "user" TEXT, tenant TEXT, agent TEXT, session TEXT,
				trace TEXT, model TEXT, tool TEXT, outcome TEXT, approver TEXT, kid TEXT, prev BLOB, mac BLOB, payload BLOB)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := stoppedStore(t)
			if tc.prepare != nil {
				tc.prepare(t, path)
				os.Remove(path + "-wal") // the raw connection closed cleanly
				os.Remove(path + "-shm")
			}
			before := dirState(t, filepath.Dir(path))
			s, err := OpenSQLiteReadOnly(path)
			var nas *NotAStoreError
			switch {
			case tc.notA != "":
				if !errors.As(err, &nas) || nas.Reason != tc.notA || nas.Empty != tc.empty || !errors.Is(err, ErrNotAStore) {
					t.Fatalf("OpenSQLiteReadOnly: %v, want a NotAStoreError %q (empty %v)", err, tc.notA, tc.empty)
				}
			case err != nil:
				t.Fatalf("OpenSQLiteReadOnly: %v", err)
			default:
				if n := readAll(t, s); n != tc.records {
					t.Errorf("read %d records, want %d", n, tc.records)
				}
				if err := s.Write(context.Background(), sealAll(chainRecords("c", 1, 1))); err == nil {
					t.Error("Write on a read-only store succeeded")
				}
				if err := s.Unchanged(); err != nil {
					t.Errorf("Unchanged: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if after := dirState(t, filepath.Dir(path)); !sameDir(before, after) {
				t.Errorf("the store's folder changed:\nbefore %v\nafter  %v", keys(before), keys(after))
			}
		})
	}
}

func keys(m map[string][32]byte) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s:%x", k, v[:4]))
	}
	slices.Sort(out)
	return out
}

func userVersion(v int) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		if _, err := rawDB(t, path).Exec(fmt.Sprintf(`PRAGMA user_version = %d`, v)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFileT(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A reader of the live store sees the records the writer has committed,
// those still in the -wal file included; a store opened as an immutable
// file (no -wal) says when a writer changed it meanwhile.
func TestOpenSQLiteReadOnly_LiveStore(t *testing.T) {
	w, path := openTestSQLite(t)
	writeOK(t, w, sealAll(chainRecords("a", 1, 20)))
	r, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := readAll(t, r); n != 20 {
		t.Errorf("read %d records of the live store, want 20", n)
	}
	writeOK(t, w, sealAll(chainRecords("a", 21, 25)))
	if n := readAll(t, r); n != 25 {
		t.Errorf("read %d records after more were written, want 25", n)
	}
	if err := r.Unchanged(); err != nil {
		t.Errorf("Unchanged of a store read with its -wal: %v", err)
	}
	r.Close()

	path = stoppedStore(t)
	r, err = OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	readAll(t, r)
	w2, err := OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeOK(t, w2, sealAll(chainRecords("b", 11, 12)))
	w2.Close() // checkpoints into the database file
	if err := r.Unchanged(); err == nil {
		t.Error("Unchanged: nil, though a writer changed the file read as immutable")
	}
}

// A copy on read-only media: a stopped store, and a copy made with its
// -wal and -shm, are read; a -wal without a -shm cannot be, and the error
// says what to do. (File modes do not bind root: skipped as root.)
func TestOpenSQLiteReadOnly_ReadOnlyFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("file modes do not bind root")
	}
	stopped := stoppedStore(t)
	dir := filepath.Dir(stopped)
	if err := os.Chmod(stopped, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	r, err := OpenSQLiteReadOnly(stopped)
	if err != nil {
		t.Fatalf("stopped store in a read-only folder: %v", err)
	}
	if n := readAll(t, r); n != 30 {
		t.Errorf("read %d records, want 30", n)
	}
	r.Close()

	// A copy of a live store: the database file, its -wal (records not
	// yet in the file) and -shm.
	w, live := openTestSQLite(t)
	writeOK(t, w, sealAll(chainRecords("a", 1, 20)))
	for _, withShm := range []bool{true, false} {
		cp := filepath.Join(t.TempDir(), "copy")
		if err := os.Mkdir(cp, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(live + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if suffix != "-shm" || withShm {
				writeFileT(t, filepath.Join(cp, "audit.db"+suffix), b)
			}
		}
		if st, err := os.Stat(filepath.Join(cp, "audit.db-wal")); err != nil || st.Size() == 0 {
			t.Fatalf("the copy's -wal: %v", err)
		}
		os.Chmod(cp, 0o555)
		t.Cleanup(func() { os.Chmod(cp, 0o755) })
		r, err := OpenSQLiteReadOnly(filepath.Join(cp, "audit.db"))
		switch {
		case withShm && err != nil:
			t.Errorf("copy with its -wal and -shm on read-only media: %v", err)
		case withShm:
			if n := readAll(t, r); n != 20 {
				t.Errorf("read %d records of the copy, want 20", n)
			}
			r.Close()
		case err == nil:
			r.Close()
			t.Error("copy with a -wal and no -shm on read-only media: read, though the -wal cannot be")
		case !strings.Contains(err.Error(), ".backup"):
			t.Errorf("copy with a -wal and no -shm: %v, want advice", err)
		}
	}
}

// OpenPostgresReadOnly runs no DDL and no write: on an empty schema it
// creates nothing and says it holds no store; on a store it reads every
// record in read-only transactions.
func TestOpenPostgresReadOnly_WritesNothing(t *testing.T) {
	dsn := pgTestSchema(t)
	ctx := context.Background()
	tables := func() []string {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		rows, _ := c.Query(ctx, `SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	_, err := OpenPostgresReadOnly(ctx, dsn)
	var nas *NotAStoreError
	if !errors.As(err, &nas) || !nas.Empty {
		t.Fatalf("empty schema: %v, want a NotAStoreError", err)
	}
	if got := tables(); len(got) != 0 {
		t.Fatalf("OpenPostgresReadOnly created tables: %v", got)
	}
	w, err := OpenPostgres(ctx, dsn, PostgresOptions{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	writeOK(t, w, sealAll(chainRecords("a", 1, 20)))
	w.Close()
	before := tables()
	r, err := OpenPostgresReadOnly(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := readAll(t, r); n != 20 {
		t.Errorf("read %d records, want 20", n)
	}
	if err := r.Write(ctx, sealAll(chainRecords("a", 21, 21))); err == nil {
		t.Error("Write on a read-only store succeeded")
	}
	if _, err := r.pool.Exec(ctx, `CREATE TABLE x (y int)`); err == nil {
		t.Error("DDL in a read-only session succeeded")
	}
	if after := tables(); !slices.Equal(before, after) {
		t.Errorf("tables changed: %v -> %v", before, after)
	}

	// A database of an older schema, without audit_quarantine, is read.
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(ctx, `DROP TABLE audit_quarantine`)
	c.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := OpenPostgresReadOnly(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if n := readAll(t, r2); n != 20 {
		t.Errorf("without audit_quarantine: read %d records, want 20", n)
	}
}

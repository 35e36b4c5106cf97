package sink

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
)

// schema3Store creates an empty store of schema 3 (no user or session
// index) at path, as a sidecar of the release before did; byHand: with
// the user index an operator built ahead of the upgrade.
func schema3Store(t *testing.T, path string, byHand bool) {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	for _, step := range migrations[:3] {
		for _, stmt := range step {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	stmts := []string{`PRAGMA user_version = 3`}
	if byHand {
		stmts = append(stmts, `CREATE INDEX audit_records_user ON audit_records (user, ts, chain, seq) WHERE user <> ''`)
	}
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSQLite_MigratesUserSessionIndexes: a store of schema 3 gets the
// user and session indexes on open, also when an operator built one by
// hand first, and its records are then found by user and by session.
func TestSQLite_MigratesUserSessionIndexes(t *testing.T) {
	for _, byHand := range []bool{false, true} {
		t.Run(fmt.Sprintf("built_by_hand=%v", byHand), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			schema3Store(t, path, byHand)
			s, err := OpenSQLite(path, nil)
			if err != nil {
				t.Fatalf("open a schema 3 store: %v", err)
			}
			defer s.Close()
			var version, n int
			if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != schemaVersion {
				t.Fatalf("user_version %d (%v), want %d", version, err, schemaVersion)
			}
			if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('audit_records_user', 'audit_records_session')`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("user and session indexes: %d (%v), want 2", n, err)
			}
			checkUserSessionSearch(t, s)
		})
	}
}

// A store of schema 3 opened read-only (verify, export, the console
// before the sidecar is upgraded) is not migrated: a user or session is
// then searched window by window on the time index, as before, and
// found all the same.
func TestSQLite_ReadOnlySchema3_SearchesUserAndSession(t *testing.T) {
	w, path := openTestSQLite(t)
	recs := userSessionRecords()
	writeOK(t, w, sealAll(recs))
	w.Close()
	// What a sidecar of schema 3 leaves: the same table and records,
	// without the two indexes.
	db := rawDB(t, path)
	for _, stmt := range []string{`DROP INDEX audit_records_user`, `DROP INDEX audit_records_session`, `PRAGMA user_version = 3`} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := OpenSQLiteReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.dialect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !d.residual(&Filter{User: "u-a"}) || !d.residual(&Filter{Session: "s-a"}) {
		t.Error("a read-only store of schema 3 searches a user or session without windows")
	}
	searchUserSession(t, s, recs)
}

// checkUserSessionSearch writes records of two users and three sessions
// (and some of none) and searches them.
func checkUserSessionSearch(t *testing.T, s store) {
	t.Helper()
	recs := userSessionRecords()
	writeOK(t, s, sealAll(recs))
	searchUserSession(t, s, recs)
}

func userSessionRecords() []*record.Record {
	recs := chainRecords("c1", 1, 30)
	for i, r := range recs {
		r.User = []string{"u-a", "u-b", ""}[i%3]
		r.Session = []string{"s-a", "s-b", "s-c", ""}[i%4]
	}
	return recs
}

// searchUserSession searches recs, stored in s, by user, by session and
// by both.
func searchUserSession(t *testing.T, s store, recs []*record.Record) {
	t.Helper()
	for _, f := range []Filter{{User: "u-b"}, {Session: "s-c"}, {User: "u-a", Session: "s-b"}, {User: "nobody"}} {
		var want []string
		for _, r := range recs {
			if (f.User == "" || r.User == f.User) && (f.Session == "" || r.Session == f.Session) {
				want = append(want, fmt.Sprintf("c1/%d", r.Seq))
			}
		}
		f.Limit = 100
		got, err := s.Search(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(positions(got), want) {
			t.Errorf("%+v: %v, want %v", f, positions(got), want)
		}
	}
}

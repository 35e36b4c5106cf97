package sink

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
)

// indexNames returns the query indexes the store at path has.
func indexNames(t *testing.T, path string) []string {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('audit_records_user', 'audit_records_session') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// The query indexes a store keeps are those of its options, at every
// open: added to a store with records (which they then serve), dropped
// when no longer named (an index nobody wants costs every insert), and
// searches find the same records with or without them, windowed on the
// time index when the column has no index.
func TestSQLite_QueryIndexesFollowTheOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	recs := userSessionRecords()
	for i, tc := range []struct {
		indexes []string
		want    []string
	}{
		{nil, nil},
		{[]string{"user", "session"}, []string{"audit_records_session", "audit_records_user"}},
		{[]string{"session"}, []string{"audit_records_session"}},
		{[]string{"user"}, []string{"audit_records_user"}},
		{nil, nil},
	} {
		t.Run(fmt.Sprintf("%d_%v", i, tc.indexes), func(t *testing.T) {
			s, err := OpenSQLiteWith(path, nil, SQLiteOptions{QueryIndexes: tc.indexes})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				writeOK(t, s, sealAll(recs))
			}
			d, err := s.dialect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := d.residual(&Filter{User: "u-a"}); got == slices.Contains(tc.indexes, "user") {
				t.Errorf("a user is searched windowed: %v, with indexes %v", got, tc.indexes)
			}
			if got := d.residual(&Filter{Session: "s-a"}); got == slices.Contains(tc.indexes, "session") {
				t.Errorf("a session is searched windowed: %v, with indexes %v", got, tc.indexes)
			}
			searchUserSession(t, s, recs)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := indexNames(t, path); !slices.Equal(got, tc.want) {
				t.Errorf("indexes %v, want %v", got, tc.want)
			}
			// Read-only (verify, export, the console) sees what the file has.
			ro, err := OpenSQLiteReadOnly(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			rd, err := ro.dialect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rd.leads, d.leads) {
				t.Errorf("read-only leads %v, the writer's %v", rd.leads, d.leads)
			}
			searchUserSession(t, ro, recs)
		})
	}
}

func TestSQLite_QueryIndexes_Unknown(t *testing.T) {
	_, err := OpenSQLiteWith(filepath.Join(t.TempDir(), "audit.db"), nil, SQLiteOptions{QueryIndexes: []string{"tool"}})
	if err == nil {
		t.Fatal("a store opened with query index \"tool\"")
	}
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

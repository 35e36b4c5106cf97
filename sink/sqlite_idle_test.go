package sink

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// idleConns shortens sqliteConnIdle for a test. The pools' cleaner runs
// at most once a second.
func idleConns(t *testing.T) {
	t.Helper()
	d := sqliteConnIdle
	t.Cleanup(func() { sqliteConnIdle = d })
	sqliteConnIdle = 100 * time.Millisecond
}

// waitIdleClosed waits until the writer's pool has closed its idle
// connections.
func waitIdleClosed(t *testing.T, s *SQLite) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		s.mu.RLock()
		st := s.db.Stats()
		s.mu.RUnlock()
		if st.MaxIdleTimeClosed > 0 && st.Idle == 0 {
			return
		}
	}
	t.Fatal("the idle connections were not closed")
}

// A store moved away or replaced while the sink is quiet, past its
// connections' idle time, is found at the next write as when they stay
// open: the records still in the -wal are checkpointed into the moved
// file, and the -wal does not stay at the path for the next store there.
// SQLite neither checkpoints nor deletes the -wal when the last connection
// of a moved or deleted file closes: without a connection held open, the
// moved file lacked even the schema, and the database put at the path
// had the old -wal replayed over it.
func TestSQLite_MovedWhileIdleKeepsItsRecords(t *testing.T) {
	idleConns(t)
	for _, tc := range []struct {
		name    string
		replace func(t *testing.T, path string)
		missing bool
		check   func(t *testing.T, path string)
	}{
		{"moved away", func(t *testing.T, path string) {
			if err := os.Rename(path, filepath.Join(filepath.Dir(path), "moved.db")); err != nil {
				t.Fatal(err)
			}
		}, true, func(t *testing.T, path string) {
			if n := countRows(t, rawDB(t, filepath.Join(filepath.Dir(path), "moved.db"))); n != 10 {
				t.Errorf("the moved file holds %d records, want 10", n)
			}
		}},
		{"replaced by another database", replaceStore, false, replacementKept},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openTestSQLite(t)
			ctx := context.Background()
			writeOK(t, s, sealAll(chainRecords("c1", 1, 10)))
			if _, err := s.Search(ctx, Filter{Limit: 10}); err != nil {
				t.Fatal(err)
			}
			tc.replace(t, path)
			waitIdleClosed(t, s)
			next := sealAll(chainRecords("c1", 11, 20))
			err := s.Write(ctx, next)
			var re *ReplacedError
			if !errors.As(err, &re) || re.Missing != tc.missing || re.Err != nil {
				t.Fatalf("write after the replacement: %v, want a *ReplacedError, missing %v, reopened", err, tc.missing)
			}
			writeOK(t, s, next)
			var n int
			if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM audit_records WHERE chain = 'c1'`).Scan(&n); err != nil || n != 10 {
				t.Errorf("c1 in the file at the path: %d records (%v), want 10", n, err)
			}
			tc.check(t, path)
		})
	}
}

// Writes and queries go on after every connection of both pools closed
// idle, with the connections' settings (WAL, synchronous FULL, the
// readers' query_only) in force on the new ones.
func TestSQLite_WorksAfterIdleClose(t *testing.T) {
	idleConns(t)
	s, _ := openTestSQLite(t)
	ctx := context.Background()
	for round := range 3 {
		from := uint64(round*10 + 1)
		writeOK(t, s, sealAll(chainRecords("c1", from, from+9)))
		if rows, err := s.Search(ctx, Filter{Limit: 100}); err != nil || len(rows) != int(from+9) {
			t.Fatalf("round %d: search: %d rows, %v", round, len(rows), err)
		}
		waitIdleClosed(t, s)
		for deadline := time.Now().Add(10 * time.Second); s.rdb.Stats().Idle > 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the readers' idle connections were not closed")
			}
		}
	}
	if err := checkPragmas(ctx, s.db); err != nil {
		t.Error(err)
	}
	if _, err := s.rdb.ExecContext(ctx, `DELETE FROM audit_records`); err == nil {
		t.Error("a reader's new connection wrote")
	}
	if err := s.CheckStore(); err != nil {
		t.Errorf("CheckStore of an untouched store after idle closes: %v", err)
	}
}

// A reader of a stopped sidecar's store (a WAL database without its
// -wal), for the console or for verify, reads on after its connections
// closed idle and opened again, and the immutable one still finds the
// file unchanged.
func TestSQLite_ReaderAfterIdleClose(t *testing.T) {
	idleConns(t)
	path := filepath.Join(t.TempDir(), "audit.db")
	w, err := OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeOK(t, w, sealAll(chainRecords("c1", 1, 10)))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, open := range []func(string) (*SQLite, error){OpenSQLiteReader, OpenSQLiteReadOnly} {
		r, err := open(path)
		if err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			if rows, err := r.Search(ctx, Filter{Limit: 100}); err != nil || len(rows) != 10 {
				t.Fatalf("round %d: %d rows, %v", round, len(rows), err)
			}
			waitIdleClosed(t, r)
		}
		if err := r.Unchanged(); err != nil {
			t.Error(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

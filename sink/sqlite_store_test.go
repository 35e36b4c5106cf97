package sink

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// A database file deleted or replaced under the running sink is found at
// the next write: the write stores nothing and returns a *ReplacedError,
// the sink has a new store open at the path, and the records written from
// then on are in the file at the path, without those of the lost file.
func TestSQLite_FileReplacedWhileOpen(t *testing.T) {
	moved := func(path string) string { return filepath.Join(filepath.Dir(path), "moved.db") }
	for _, tc := range []struct {
		name    string
		replace func(t *testing.T, path string)
		missing bool
		// check, if set, looks at what else the files hold afterwards.
		check func(t *testing.T, path string)
	}{
		{"deleted with its -wal and -shm", func(t *testing.T, path string) { removeStore(t, path, "", "-wal", "-shm") }, true, nil},
		{"deleted, its -wal and -shm left", func(t *testing.T, path string) { removeStore(t, path, "") }, true, nil},
		// The moved file holds what was written to it, without the -wal
		// left at the old path.
		{"moved away", func(t *testing.T, path string) {
			if err := os.Rename(path, moved(path)); err != nil {
				t.Fatal(err)
			}
		}, true, func(t *testing.T, path string) {
			if n := countRows(t, rawDB(t, moved(path))); n != 10 {
				t.Errorf("the moved file holds %d records, want 10", n)
			}
		}},
		// The database put at the path keeps its records: the old
		// store's -wal is not replayed over it.
		{"replaced by another database", replaceStore, false, replacementKept},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openTestSQLite(t)
			ctx := context.Background()
			writeOK(t, s, sealAll(chainRecords("c1", 1, 10)))
			if err := s.CheckStore(); err != nil {
				t.Fatalf("CheckStore of an untouched file: %v", err)
			}

			// Queries go on while the file goes away.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					s.Search(ctx, Filter{Limit: 10}) //nolint:errcheck // may fail once, at the swap
				}
			}()
			tc.replace(t, path)
			next := sealAll(chainRecords("c1", 11, 20))
			err := s.Write(ctx, next)
			var re *ReplacedError
			if !errors.Is(err, ErrReplaced) || !errors.As(err, &re) || re.Missing != tc.missing || re.Err != nil || re.Path != path {
				t.Fatalf("write after the replacement: err = %#v (%v), want a *ReplacedError, missing %v, reopened", err, err, tc.missing)
			}
			if err := s.CheckStore(); err != nil {
				t.Errorf("CheckStore right after the reopen: %v", err)
			}
			writeOK(t, s, next)
			close(stop)
			wg.Wait()

			db := rawDB(t, path)
			var seqs []uint64
			rows, err := db.Query(`SELECT seq FROM audit_records WHERE chain = 'c1' ORDER BY seq`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var seq uint64
				rows.Scan(&seq)
				seqs = append(seqs, seq)
			}
			rows.Close()
			if want := []uint64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}; !slices.Equal(seqs, want) {
				t.Errorf("c1 in the file at the path: %v, want %v", seqs, want)
			}
			if tail, ok, err := s.ChainTail(ctx, "c1"); err != nil || !ok || tail.Seq != 20 {
				t.Errorf("chain tail %+v, %v, %v; want seq 20", tail, ok, err)
			}
			if tc.check != nil {
				tc.check(t, path)
			}
		})
	}
}

// A path where no store can be opened any more (a folder put there) is
// reported with the replacement; writes fail until a store can be opened,
// and then go to it.
func TestSQLite_FileReplacedByWhatCannotBeOpened(t *testing.T) {
	s, path := openTestSQLite(t)
	ctx := context.Background()
	writeOK(t, s, sealAll(chainRecords("c1", 1, 5)))
	removeStore(t, path, "", "-wal", "-shm")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	next := sealAll(chainRecords("c1", 6, 8))
	err := s.Write(ctx, next)
	var re *ReplacedError
	if !errors.As(err, &re) || re.Missing || re.Err == nil {
		t.Fatalf("write with a folder at the path: err = %v, want a *ReplacedError saying no store could be opened", err)
	}
	err = s.Write(ctx, next)
	if err == nil || errors.Is(err, ErrReplaced) {
		t.Fatalf("second write with a folder at the path: err = %v, want the open error alone", err)
	}
	if _, err := s.Search(ctx, Filter{Limit: 10}); err == nil {
		t.Error("search with no store open succeeded")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeOK(t, s, next)
	if n := countRows(t, rawDB(t, path)); n != 3 {
		t.Errorf("rows in the new store: %d, want 3", n)
	}
}

// removeStore removes the database at path and the files beside it with
// the given suffixes ("" is the database itself).
func removeStore(t *testing.T, path string, suffixes ...string) {
	t.Helper()
	for _, suf := range suffixes {
		if err := os.Remove(path + suf); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// replaceStore puts another database, of 3 records of chain c2, at path
// (a restore renamed over the store).
func replaceStore(t *testing.T, path string) {
	other := filepath.Join(filepath.Dir(path), "other.db")
	o, err := OpenSQLite(other, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeOK(t, o, sealAll(chainRecords("c2", 1, 3)))
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
}

// replacementKept checks that the database replaceStore put at path
// still holds its records (the old store's -wal was not replayed over it).
func replacementKept(t *testing.T, path string) {
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM audit_records WHERE chain = 'c2'`).Scan(&n); err != nil || n != 3 {
		t.Errorf("the database put at the path holds %d of its 3 records (%v)", n, err)
	}
}

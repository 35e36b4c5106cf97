package sink

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// OpenSQLiteReadOnly opens the store at path for reading only, as verify
// and export need: evidence is read, never changed. Unlike OpenSQLite it
// creates no file or folder, runs no migration and sets no pragma that
// writes: the database file's bytes stay as they are, whatever its
// journal mode or schema version. The store's Chains, Scan, ChainTail,
// Search and SearchEach work as usual; Write and Purge fail.
//
// How the file is opened depends on what is beside it:
//
//   - a WAL database with its -wal file: read-only (SQLite mode=ro),
//     reading the committed records the -wal holds, as a reader of the live
//     store would (the -wal and -shm files are shared with a writer; SQLite
//     creates the -shm when the folder is writable, and reads a copy on
//     read-only media when its -shm is there too);
//   - a WAL database without a -wal file (a stopped sidecar's store, a
//     copy made with sqlite3's .backup): as an immutable file, which
//     creates no -wal or -shm beside it and works on read-only media; no
//     writer can hold it without a -wal, and Unchanged says whether one
//     wrote to it meanwhile;
//   - a rollback-journal database: read-only, with SQLite's shared locks.
//
// A file that holds no audit store (empty, not a SQLite database, or
// without the audit_records table or one of its columns) returns a
// *NotAStoreError; a missing file returns the stat error.
func OpenSQLiteReadOnly(path string) (*SQLite, error) {
	return openSQLiteReadOnly(path, false)
}

// OpenSQLiteReader opens the store at path for reading only, as
// OpenSQLiteReadOnly does, for a reader that stays open while a sidecar
// may start writing the store (the console): a WAL database without a
// -wal file is read as an immutable file only when SQLite cannot create
// the -wal and -shm files beside it (read-only media, where nobody
// writes it). Otherwise SQLite creates them, as a writer would, and the
// reader sees what a writer commits later; read as an immutable file,
// every read after a writer's first would fail as a malformed database,
// or return what was there before.
func OpenSQLiteReader(path string) (*SQLite, error) {
	return openSQLiteReadOnly(path, true)
}

func openSQLiteReadOnly(path string, live bool) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("open sqlite %q: is a folder", path)
	}
	wal, err := sqliteHeader(abs, fi.Size())
	if err != nil {
		return nil, err
	}
	walFile, walErr := os.Stat(abs + "-wal")
	immutable := wal && errors.Is(walErr, os.ErrNotExist)
	if live && immutable {
		if db, err := openReadOnly(abs, false); err == nil {
			if err = checkReadableSchema(context.Background(), db); err == nil {
				return &SQLite{db: db, rdb: db, path: path, abs: abs, logger: zap.NewNop(), readOnly: true}, nil
			}
			db.Close()
			if isNotAStore(err) {
				return nil, fmt.Errorf("open sqlite %q read-only: %w", path, err)
			}
		}
		// SQLite could not create the -wal and -shm (read-only media):
		// read as a file nobody writes.
	}
	db, err := openReadOnly(abs, immutable)
	if err == nil {
		err = checkReadableSchema(context.Background(), db)
		if err != nil && !immutable && wal && walErr == nil && walFile.Size() == 0 && !isNotAStore(err) {
			// An empty -wal holds nothing, but SQLite cannot open it
			// without a -shm beside it (a copy on read-only media).
			db.Close()
			immutable = true
			if db, err = openReadOnly(abs, true); err == nil {
				err = checkReadableSchema(context.Background(), db)
			}
		}
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		if !isNotAStore(err) && wal && walErr == nil && walFile.Size() > 0 {
			err = fmt.Errorf("%w (its -wal file holds records not yet in the database file, and SQLite reads a -wal only with a -shm file beside it, which it could not create: copy the store with its -wal to a writable folder, or make a self-contained copy with sqlite3's .backup)", err)
		}
		return nil, fmt.Errorf("open sqlite %q read-only: %w", path, err)
	}
	s := &SQLite{db: db, rdb: db, path: path, abs: abs, logger: zap.NewNop(), readOnly: true}
	if immutable {
		s.opened = fi
	}
	return s, nil
}

// isNotAStore reports whether err says the file holds no audit store.
func isNotAStore(err error) bool { return errors.Is(err, ErrNotAStore) }

// sqliteMagic begins every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// sqliteHeader reads the database header of the file at abs (size bytes
// long) and reports whether it is in WAL mode. An empty file or one that
// is not a SQLite database is a *NotAStoreError.
func sqliteHeader(abs string, size int64) (wal bool, err error) {
	if size == 0 {
		return false, &NotAStoreError{Reason: "the file is empty", Empty: true}
	}
	f, err := os.Open(abs)
	if err != nil {
		return false, fmt.Errorf("open sqlite %q: %w", abs, err)
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || !bytes.HasPrefix(h[:], []byte(sqliteMagic)) {
		return false, &NotAStoreError{Reason: "the file is not a SQLite database"}
	}
	// Bytes 18 and 19 are the file format write and read versions: 2 is WAL.
	return h[18] == 2 || h[19] == 2, nil
}

// openReadOnly opens the database at abs with no write: mode=ro, or
// immutable=1 (no lock, no -wal or -shm; only for a file nobody writes).
// The pragmas run on each connection: busy_timeout waits for a writer's
// lock instead of failing, query_only refuses any write.
func openReadOnly(abs string, immutable bool) (*sql.DB, error) {
	q := []string{
		"mode=ro",
		fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()),
		"_pragma=query_only(1)",
	}
	if immutable {
		q = append(q, "immutable=1")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: strings.Join(q, "&")}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(sqliteMaxConns)
	db.SetMaxIdleConns(sqliteMaxConns)
	db.SetConnMaxIdleTime(sqliteConnIdle)
	return db, nil
}

// checkReadableSchema checks that db holds the audit_records table with
// every column Scan and Search read; the schema version (user_version) is
// not consulted: the records are what verification reads, and a version
// the program does not know does not change them.
func checkReadableSchema(ctx context.Context, db *sql.DB) error {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit_records'`).Scan(&n)
	switch {
	case err != nil && strings.Contains(err.Error(), "file is not a database"):
		return &NotAStoreError{Reason: "the file is not a SQLite database"}
	case err != nil:
		return fmt.Errorf("read schema: %w", err)
	case n == 0:
		return &NotAStoreError{Reason: "it has no audit_records table", Empty: true}
	}
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info('audit_records')`)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return fmt.Errorf("read schema: %w", err)
		}
		have[c] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	return missingColumns(have)
}

// missingColumns is a *NotAStoreError naming the columns of pgColumns (the
// columns both stores read) that have lacks; nil when it has them all.
func missingColumns(have map[string]bool) error {
	var missing []string
	for _, c := range pgColumns {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return &NotAStoreError{Reason: "its audit_records table lacks the column(s) " + strings.Join(missing, ", ")}
	}
	return nil
}

// Unchanged reports, for a store that OpenSQLiteReadOnly opened as an
// immutable file (a WAL database without a -wal file), whether the
// database file is still as it was when opened: nil, or an error saying
// that a writer changed it meanwhile, so that what was read may be mixed
// (verify again). It is nil for every other store, whose reads take
// SQLite's locks.
func (s *SQLite) Unchanged() error {
	if !s.readOnly || s.opened == nil {
		return nil
	}
	fi, err := os.Stat(s.abs)
	if err != nil || !os.SameFile(fi, s.opened) || fi.Size() != s.opened.Size() || !fi.ModTime().Equal(s.opened.ModTime()) {
		return fmt.Errorf("sqlite %q was written while it was read as a file nobody writes (a sidecar opened it?): what was read may be inconsistent; run again", s.path)
	}
	return nil
}

// errReadOnly is returned by the writes of a store opened read-only.
func (s *SQLite) errReadOnly() error {
	return fmt.Errorf("sqlite %q is open read-only", s.path)
}

package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"go.uber.org/zap"
)

// CheckStore compares the file at the sink's path with the one it has
// open (device and inode, as found when it was opened). An open SQLite
// file that is deleted, or that another file replaces at its path, takes
// every later write without an error, yet none of it is in the file at
// the path, and a restart opens that one. So when they differ CheckStore
// closes the old file, opens a new store at the path (creating the file
// and the schema, as OpenSQLite does) and returns a *ReplacedError, once
// per replacement; the caller decides what the loss means (the deliverer
// logs it, counts it and reports the sink down). If no store can be
// opened at the path, the *ReplacedError says why, and every later call
// tries again, returning the open error alone, until one can.
//
// Write calls CheckStore first, so a batch goes to a replaced file only
// when the replacement races the write. A stat error other than a missing
// file (a folder turned unreadable) proves nothing and is not reported
// here; the writes report it if the store is unusable.
func (s *SQLite) CheckStore() error {
	if s.readOnly {
		return nil // nothing is written; a reader reopens nothing
	}
	s.mu.RLock()
	replaced, missing := s.replacedLocked()
	s.mu.RUnlock()
	if !replaced {
		return nil
	}
	s.mu.Lock() // waits for the queries under way
	defer s.mu.Unlock()
	if s.closed {
		return nil // Write and the queries fail (acquire)
	}
	if s.db == nil {
		return s.reopenLocked()
	}
	if replaced, missing = s.replacedLocked(); !replaced {
		return nil // another call has reopened it
	}
	s.retireLocked()
	return &ReplacedError{Path: s.path, Missing: missing, Err: s.reopenLocked()}
}

// replacedLocked reports whether the file at the path is not the one
// open (true also when none is open), and whether no file is there.
func (s *SQLite) replacedLocked() (replaced, missing bool) {
	if s.db == nil {
		return true, false
	}
	fi, err := os.Stat(s.abs)
	missing = errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
	switch {
	case err == nil:
		return !os.SameFile(fi, s.opened), false
	case missing:
		return true, true
	default:
		return false, false
	}
}

// retireLocked closes the replaced database; s.mu is held, so no query
// uses it. Its WAL is first checkpointed into its own (deleted or moved)
// file and emptied: a -wal file left at the path would otherwise be taken
// by the next store opened there for its own, and its pages written over
// that store. (A deleted or moved database is not checkpointed when it
// closes, and SQLite leaves its -wal file.)
func (s *SQLite) retireLocked() {
	if s.rdb != nil && s.rdb != s.db {
		if err := s.rdb.Close(); err != nil {
			s.logger.Warn("sqlite replaced store: its query pool not closed cleanly", zap.String("path", s.path), zap.Error(err))
		}
	}
	s.rdb = nil
	// On hold, the connection that has the old file open whatever the
	// pool closed meanwhile: a new one would open the path.
	var busy, frames, done int
	var err error
	if s.hold != nil {
		err = s.hold.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done)
		s.hold.Close()
		s.hold = nil
	} else {
		err = s.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done)
	}
	if err == nil && busy != 0 {
		err = errors.New("busy")
	}
	if err != nil {
		s.logger.Warn("sqlite replaced store: its wal could not be emptied; a store opened at the path may take it for its own",
			zap.String("path", s.path), zap.Error(err))
	}
	if err := s.db.Close(); err != nil {
		s.logger.Warn("sqlite replaced store not closed cleanly", zap.String("path", s.path), zap.Error(err))
	}
	s.db, s.opened = nil, nil
}

// reopenLocked opens the store at the sink's path; s.mu is held.
func (s *SQLite) reopenLocked() error {
	db, hold, rdb, opened, err := openStore(s.abs, s.path, s.logger, s.opts)
	if err != nil {
		return fmt.Errorf("reopen sqlite %q: %w", s.path, err)
	}
	s.db, s.hold, s.rdb, s.opened = db, hold, rdb, opened
	return nil
}

// acquire returns the open database, to be used until release is called:
// CheckStore does not close it meanwhile. Every use is short (Scan reads
// in chunks), and none acquires twice.
func (s *SQLite) acquire() (db *sql.DB, release func(), err error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, nil, s.errClosed()
	}
	if s.db == nil {
		s.mu.RUnlock()
		return nil, nil, fmt.Errorf("sqlite %q: the file was replaced while open and no store could be opened at the path yet", s.path)
	}
	return s.db, s.mu.RUnlock, nil
}

// acquireReader is acquire for the queries: it returns their read-only
// pool (SQLite.rdb), never the writer's.
func (s *SQLite) acquireReader() (db *sql.DB, release func(), err error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, nil, s.errClosed()
	}
	if s.rdb == nil {
		s.mu.RUnlock()
		return nil, nil, fmt.Errorf("sqlite %q: the file was replaced while open and no store could be opened at the path yet", s.path)
	}
	return s.rdb, s.mu.RUnlock, nil
}

// errClosed is the error of a store used after Close.
func (s *SQLite) errClosed() error {
	return fmt.Errorf("sqlite %q: the store is closed", s.path)
}

package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fips-agents/audit-sidecar/internal/fsutil"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"
)

// openChecked opens the bbolt file at path; a file bbolt finds unsound
// at open (bad meta pages) gives an error wrapping ErrCorrupt. Damage
// deeper in the file is found by CheckFile.
func openChecked(path string, opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, boltOptions(opts))
	if err != nil {
		for _, e := range []error{bolterrors.ErrInvalid, bolterrors.ErrChecksum, bolterrors.ErrVersionMismatch, bolterrors.ErrInvalidMapping} {
			if errors.Is(err, e) {
				return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
		}
		return nil, err
	}
	return db, nil
}

// CheckFile reads every page of the spool file at path (read-only) and
// returns an error wrapping ErrCorrupt at the first problem; nil for a
// missing file. bbolt may panic, in a goroutine of its own, on some
// damage, which no caller can recover: run CheckFile in a child process
// and treat its crash as corruption (the sidecar does, at start).
func CheckFile(path string) error {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil
	}
	db, err := openChecked(path, Options{LockTimeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
		}
		return first
	})
}

// syncDir makes a rename in a folder durable; tests replace it to make it
// fail.
var syncDir = fsutil.SyncDir

// MoveAside renames a (corrupt) spool file out of the way, to
// path.corrupt-<UTC time>, and returns the new name; an error after the
// rename (the folder could not be synced) comes with the new name too.
func MoveAside(path string, now time.Time) (string, error) {
	to := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return to, fmt.Errorf("moved to %q: %w", to, err)
	}
	return to, nil
}

// compactIfSparse rewrites the file at path into a fresh one holding only
// its live pages, when it is larger than opts.CompactAbove and at least
// half free. The copy is written beside it and renamed over it, so a crash
// at any point leaves either the old file or the new one, never neither.
func compactIfSparse(path string, opts Options) (err error) {
	defer func() {
		if recover() != nil {
			err = nil // a damaged file: openChecked reports it
		}
	}()
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err // a leftover of a compaction cut short
	}
	fi, err := os.Stat(path)
	if os.IsNotExist(err) || (err == nil && (opts.CompactAbove < 0 || fi.Size() <= opts.CompactAbove)) {
		return nil
	}
	if err != nil {
		return err
	}
	src, err := bolt.Open(path, 0o600, boltOptions(opts))
	if err != nil {
		return nil // openChecked reports why
	}
	defer src.Close()
	st := src.Stats()
	free := int64(st.FreePageN+st.PendingPageN) * int64(src.Info().PageSize)
	if free*2 < fi.Size() {
		return nil
	}
	dst, err := bolt.Open(tmp, 0o600, boltOptions(opts))
	if err != nil {
		return err
	}
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	if err := src.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	after, _ := os.Stat(path)
	if after != nil {
		opts.Logger.Info("spool compacted", zap.Int64("bytes_before", fi.Size()), zap.Int64("bytes_after", after.Size()))
	}
	return nil
}

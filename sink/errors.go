package sink

import (
	"errors"
	"fmt"
)

var (
	// ErrConflict is returned by Write when a record's (chain, seq) is
	// already stored with a different payload or MAC. Retrying cannot fix
	// it: two different records claim one chain position, which is a forked
	// chain or tampering and needs an operator.
	ErrConflict = errors.New("a different record is already stored at this chain position")

	// ErrBadRecord is returned by Write for a record that cannot be stored:
	// its payload does not decode as a canonical record, or it names another
	// chain position than the sealed record carrying it.
	ErrBadRecord = errors.New("record cannot be stored")

	// ErrInvalidFilter is returned by Search for a Filter it cannot run,
	// such as a Limit outside 1..1000.
	ErrInvalidFilter = errors.New("invalid filter")

	// ErrSchemaVersion is returned by OpenSQLite for a database whose schema
	// is newer than this program knows.
	ErrSchemaVersion = errors.New("unsupported schema version")

	// ErrReplaced is wrapped by the *ReplacedError a SQLite sink returns
	// when the file at its path is no longer the one it has open.
	ErrReplaced = errors.New("store file replaced while open")

	// ErrNotAStore is wrapped by the *NotAStoreError that the read-only
	// opens (OpenSQLiteReadOnly, OpenPostgresReadOnly) return for a
	// database that holds no audit store.
	ErrNotAStore = errors.New("not an audit store")
)

// NotAStoreError says why a database opened for reading holds no audit
// store: an empty file, a file that is not a SQLite database, no
// audit_records table, or one without a column the store reads. Empty is
// true when it holds no records at all (an empty file, or a database
// without the table): an export of it is empty.
type NotAStoreError struct {
	Reason string
	Empty  bool
}

func (e *NotAStoreError) Error() string { return "not an audit store: " + e.Reason }

func (e *NotAStoreError) Unwrap() error { return ErrNotAStore }

// RecordError says which record of a batch Write failed on and why. It
// never holds payload content: Reason is fixed text written by this
// package.
type RecordError struct {
	Chain  string
	Seq    uint64
	Reason string // may be empty
	Err    error  // ErrConflict or ErrBadRecord
}

func (e *RecordError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("chain %q seq %d: %v", e.Chain, e.Seq, e.Err)
	}
	return fmt.Sprintf("chain %q seq %d: %v: %s", e.Chain, e.Seq, e.Err, e.Reason)
}

func (e *RecordError) Unwrap() error { return e.Err }

// ReplacedError says that the file a SQLite sink had open was deleted or
// moved, or another file was put at its path, while the sink had it open:
// what was written to the open file is not in the file at the path. The
// sink has closed the old file and, unless Err says why it could not,
// opened a new store at the path.
type ReplacedError struct {
	Path    string
	Missing bool  // no file was at the path (deleted or moved); else another file was
	Err     error // why no store could be opened at the path; nil when one was
}

func (e *ReplacedError) Error() string {
	what := "deleted or moved"
	if !e.Missing {
		what = "replaced by another file"
	}
	msg := fmt.Sprintf("sqlite store %q was %s while open: records written to it are not in the store at the path", e.Path, what)
	if e.Err != nil {
		return msg + "; no store could be opened there: " + e.Err.Error()
	}
	return msg + "; a new store was opened there"
}

func (e *ReplacedError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrReplaced}
	}
	return []error{ErrReplaced, e.Err}
}

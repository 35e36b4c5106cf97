package spool

import "errors"

var (
	// ErrChainMismatch is returned by Append when a batch belongs to another
	// chain than the one the spool already holds.
	ErrChainMismatch = errors.New("spool holds another chain")
	// ErrNotContiguous is returned by Append when a batch does not continue
	// the stored head seq by seq.
	ErrNotContiguous = errors.New("batch does not continue the chain head")
	// ErrCorrupt is returned by Open for a file that is not a sound bbolt
	// database (damaged pages, bad meta pages): see MoveAside.
	ErrCorrupt = errors.New("spool file is corrupt")
	// ErrUnknownSink is returned for a sink name that was not registered.
	ErrUnknownSink = errors.New("unknown sink")
)

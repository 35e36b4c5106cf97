package tailer

import "errors"

var (
	// ErrInvalidConfig wraps every problem found in a Config by New.
	ErrInvalidConfig = errors.New("tailer: invalid config")

	// ErrInvalidPosition wraps every problem found in a resume Position by New.
	ErrInvalidPosition = errors.New("tailer: invalid resume position")

	// ErrAlreadyRun is returned by a second call of Run on the same Tailer.
	// Build a new Tailer from the last committed Position instead.
	ErrAlreadyRun = errors.New("tailer: Run already called")

	// ErrUnsupported means the platform reports no device and inode numbers,
	// so file generations cannot be told apart.
	ErrUnsupported = errors.New("tailer: no device and inode numbers on this platform")
)

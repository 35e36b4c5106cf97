//go:build unix

package server

import "syscall"

// openFileLimit is the soft RLIMIT_NOFILE (which Go raised to the hard
// limit when the process started).
func openFileLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return uint64(r.Cur), true
}

package spool

import "golang.org/x/sys/unix"

// dropMapped asks the kernel to unmap the pages of [addr, addr+size), a
// read-only shared mapping of the spool file: their contents stay in the
// file and the page cache.
func dropMapped(addr, size uintptr) {
	unix.Syscall(unix.SYS_MADVISE, addr, size, unix.MADV_DONTNEED) //nolint:errcheck // advice
}

package server

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// pendingBytes is how many bytes the peer of c has sent that wait, in the
// kernel, to be read (SIOCINQ); ok is false when that cannot be known.
func pendingBytes(c net.Conn) (n int, ok bool) {
	sc, isSys := c.(syscall.Conn)
	if !isSys {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) { n, ioErr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil || ioErr != nil {
		return 0, false
	}
	return n, true
}

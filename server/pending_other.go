//go:build !linux

package server

import "net"

// pendingBytes cannot be known here: every connection counts as silent.
func pendingBytes(net.Conn) (int, bool) { return 0, false }

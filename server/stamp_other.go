//go:build !linux

package server

import "os"

// sysStamp: the size and modification time alone tell files apart here.
func sysStamp(os.FileInfo) (dev, ino uint64, ctimeNs int64) { return 0, 0, 0 }

//go:build unix

package tailer

import (
	"fmt"
	"os"
	"syscall"
)

func devIno(fi os.FileInfo) (dev, ino uint64, err error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("%w: %q", ErrUnsupported, fi.Name())
	}
	return uint64(st.Dev), uint64(st.Ino), nil //nolint:unconvert // Dev is int32 on darwin
}

//go:build !unix

package tailer

import (
	"fmt"
	"os"
)

func devIno(fi os.FileInfo) (dev, ino uint64, err error) {
	return 0, 0, fmt.Errorf("%w: %q", ErrUnsupported, fi.Name())
}

package tailer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// HeadSize is the most bytes a head fingerprint covers.
const HeadSize = 256

// FileID identifies one file generation: the device and inode it lives on,
// plus a fingerprint of its first bytes, which tells a reused inode (delete
// and recreate while the tailer was stopped) or a file rewritten in place
// from the generation that was read before.
type FileID struct {
	Dev, Ino uint64
	// Head is the hex SHA-256 of the first HeadLen bytes; "" when HeadLen is 0.
	Head string
	// HeadLen is how many leading bytes Head covers: min(HeadSize, size) when
	// last fingerprinted. A file shorter than HeadSize gets a shorter
	// fingerprint that grows, up to HeadSize, as the file grows.
	HeadLen int
}

// sameInode reports whether a and b name the same device and inode,
// whatever their heads.
func (a FileID) sameInode(b FileID) bool { return a.Dev == b.Dev && a.Ino == b.Ino }

type inode struct{ dev, ino uint64 }

func (a FileID) inode() inode { return inode{a.Dev, a.Ino} }

func hashHead(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// readHead returns the first min(HeadSize, size) bytes of f.
func readHead(f *os.File) ([]byte, error) {
	buf := make([]byte, HeadSize)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read head of %q: %w", f.Name(), err)
	}
	return buf[:n], nil
}

// headMatches reports whether head (the file's first bytes, as read by
// readHead) starts with the bytes that id fingerprinted.
func headMatches(head []byte, id FileID) bool {
	if id.HeadLen == 0 {
		return true
	}
	if len(head) < id.HeadLen {
		return false
	}
	return hashHead(head[:id.HeadLen]) == id.Head
}

// identify returns the identity of the open file f and its info.
func identify(f *os.File) (FileID, os.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return FileID{}, nil, fmt.Errorf("stat %q: %w", f.Name(), err)
	}
	dev, ino, err := devIno(fi)
	if err != nil {
		return FileID{}, nil, err
	}
	head, err := readHead(f)
	if err != nil {
		return FileID{}, nil, err
	}
	return FileID{Dev: dev, Ino: ino, Head: hashHead(head), HeadLen: len(head)}, fi, nil
}

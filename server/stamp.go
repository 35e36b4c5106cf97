package server

import "os"

// fileStamp is what tells a file apart from the one read before: its
// identity after symbolic links (device, inode), size and times. The
// change time moves on every write and cannot be set back, so a file
// rewritten in place is seen as changed unless it keeps its size and both
// times within one tick of the file system's clock.
type fileStamp struct {
	ok               bool
	dev, ino         uint64
	size             int64
	mtimeNs, ctimeNs int64
}

func stampOf(path string) fileStamp {
	if path == "" {
		return fileStamp{}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	s := fileStamp{ok: true, size: fi.Size(), mtimeNs: fi.ModTime().UnixNano()}
	s.dev, s.ino, s.ctimeNs = sysStamp(fi)
	return s
}

package tailer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Reasons a file is refused (Gap.Reason of the report, and the
// Observer.Refused argument).
const (
	RefusedOutside    = "refused: resolves outside allowed_dirs"
	RefusedOwnFile    = "refused: a file of the sidecar's own"
	RefusedNotRegular = "refused: not a regular file"
	// RefusedTooMany: more files were refused than are remembered; those
	// after it are not recorded one by one.
	RefusedTooMany = "refused: too many files, further refusals not recorded one by one"
)

// RefusedError says a file of the source was not read because the source
// policy forbids it: it resolves outside the allowed folders, it is one of
// the sidecar's own files, or it is not a regular file. The log folder is
// shared with the audited agent, which may put anything there.
type RefusedError struct {
	Path   string // the name looked at
	Target string // what it resolves to, or its file type
	Reason string // one of the Refused* constants
	Dev    uint64
	Ino    uint64
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %s (%s)", e.Path, e.Reason, e.Target)
}

// opener opens the files of the source under its policy: only regular
// files (opened without blocking, so a FIFO cannot hang the tailer), only
// files that resolve under one of allowed, never one of deny. Each check
// is made on the open descriptor, so a name swapped between the check and
// the open is caught.
type opener struct {
	allowed []string // folders; nil means no restriction (tests only)
	deny    []string // files never read
	names   rotatedNames
	// onRefuse, if set, is told of every refusal (the run reports each
	// once).
	onRefuse func(*RefusedError)
}

// newOpener resolves the allowed folders and the denied files once, when
// the run starts: resolving them again at every check would follow links
// the agent may have put in their place since (an allowed folder replaced
// by a link to "/" would allow everything).
func newOpener(cfg Config) (*opener, error) {
	names, err := compileRotated(cfg.Rotated)
	if err != nil {
		return nil, err
	}
	cfg = cfg.pinned()
	return &opener{names: names, allowed: cfg.AllowedDirs, deny: cfg.Deny}, nil
}

// pinned returns c with its allowed folders and denied files resolved,
// unless New or NewMulti already did: they pin them when they are called,
// so that the tailers of a pattern's files, started later, use what the
// folders were at start.
func (c Config) pinned() Config {
	if c.policyPinned {
		return c
	}
	if c.AllowedDirs != nil {
		dirs := make([]string, 0, len(c.AllowedDirs))
		for _, a := range c.AllowedDirs {
			dirs = append(dirs, resolve(a))
		}
		c.AllowedDirs = dirs
	}
	deny := make([]string, 0, len(c.Deny))
	for _, d := range c.Deny {
		deny = append(deny, resolveFile(d))
	}
	c.Deny = deny
	c.policyPinned = true
	return c
}

// open opens path for reading and identifies it. A missing file gives an
// error that matches fs.ErrNotExist; a forbidden one a *RefusedError.
func (o *opener) open(path string) (*os.File, FileID, os.FileInfo, error) {
	// Checked before the open: opening a FIFO or a device has effects of
	// its own, and a file outside is not to be opened at all.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, FileID{}, nil, err
	}
	if err := o.permit(path, fi, resolve(path)); err != nil {
		return nil, FileID{}, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, FileID{}, nil, err
	}
	// Checked again on what was opened: the name may have been replaced.
	fi, err = f.Stat()
	if err == nil {
		err = o.permit(path, fi, openedPath(f, path))
	}
	if err != nil {
		_ = f.Close()
		return nil, FileID{}, nil, err
	}
	id, fi, err := identify(f)
	if err != nil {
		_ = f.Close()
		return nil, FileID{}, nil, err
	}
	return f, id, fi, nil
}

// permit checks a file of info fi, named path, that resolves to target.
func (o *opener) permit(path string, fi os.FileInfo, target string) error {
	dev, ino, _ := devIno(fi)
	reason, what := o.check(fi, dev, ino, target)
	if reason == "" {
		return nil
	}
	err := &RefusedError{Path: path, Target: what, Reason: reason, Dev: dev, Ino: ino}
	if o.onRefuse != nil {
		o.onRefuse(err)
	}
	return err
}

func (o *opener) check(fi os.FileInfo, dev, ino uint64, target string) (reason, what string) {
	if !fi.Mode().IsRegular() {
		return RefusedNotRegular, fileType(fi.Mode())
	}
	if !o.inAllowed(target) {
		return RefusedOutside, target
	}
	for _, d := range o.deny {
		// Its journals, moved-aside copies and key files share its name.
		if target == d || strings.HasPrefix(target, d+".") || strings.HasPrefix(target, d+"-") {
			return RefusedOwnFile, target
		}
		// A hard link to one of them is the same file under another name.
		if dfi, err := os.Stat(d); err == nil {
			if ddev, dino, err := devIno(dfi); err == nil && ddev == dev && dino == ino {
				return RefusedOwnFile, target
			}
		}
	}
	return "", ""
}

// inAllowed reports whether target (a resolved absolute path) lies in one
// of the allowed folders, themselves resolved.
func (o *opener) inAllowed(target string) bool {
	if o.allowed == nil {
		return true
	}
	for _, a := range o.allowed {
		if within(a, target) {
			return true
		}
	}
	return false
}

// within reports whether path lies in folder dir (or is dir).
func within(dir, path string) bool {
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

// resolve returns path with every symbolic link resolved, absolute and
// clean; a path that cannot be resolved (missing) is only made absolute.
func resolve(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r
	}
	if a, err := filepath.Abs(path); err == nil {
		path = a
	}
	return filepath.Clean(path)
}

// resolveFile resolves path, or, when it does not exist (yet), its
// folder, keeping the name.
func resolveFile(path string) string {
	if _, err := os.Lstat(path); err == nil {
		return resolve(path)
	}
	return filepath.Join(resolve(filepath.Dir(path)), filepath.Base(path))
}

// openedPath returns where the open file f really is: the kernel's name
// for the descriptor where /proc shows it, else path resolved.
func openedPath(f *os.File, path string) string {
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil || !filepath.IsAbs(p) {
		return resolve(path)
	}
	return strings.TrimSuffix(p, " (deleted)")
}

func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m.IsDir():
		return "directory"
	}
	return "irregular file"
}

// siblingDir returns the folder and base name under which rotated
// generations of path are looked for: those of the file path resolves to,
// so a symlink to a log file finds the rotations beside its target. A
// target outside the allowed folders has no siblings (ok false): its
// folder is not listed.
func (o *opener) siblingDir(path string) (dir, base string, ok bool) {
	target := resolve(path)
	dir, base = filepath.Dir(target), filepath.Base(target)
	return dir, base, o.inAllowed(dir)
}

// isRefused reports whether err is a refusal, and returns it.
func isRefused(err error) (*RefusedError, bool) {
	var re *RefusedError
	ok := errors.As(err, &re)
	return re, ok
}

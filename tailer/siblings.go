package tailer

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// compressedExts are name endings of rotated generations that cannot be read
// as lines. Their content is out of reach of the tailer.
var compressedExts = []string{
	".gz", ".tgz", ".bz2", ".xz", ".lzma", ".zst", ".lz4", ".lz", ".z", ".zip", ".7z", ".br", ".sz",
}

// sibling is a file beside the tailed path that may be one of its rotated
// generations.
type sibling struct {
	path, name string
	ino        inode
	mtime      time.Time
}

// isCompressed reports whether name ends like a compressed file.
func isCompressed(name string) bool {
	lower := strings.ToLower(name)
	for _, ext := range compressedExts {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// listSiblings returns the regular files that may be rotated generations of
// path, oldest first (see byAge). A listing is a directory read and then a
// stat of each name, so a rotation (a shift of .1 -> .2 ...) under way
// can make it miss a generation: a name that vanishes before its stat, or
// a name stat'ed before the shift while the generation moves onto a name
// stat'ed after it. A missed generation would be found only at the next
// rotation, after newer lines. So the listing is taken until two in a row
// agree on every name and inode, a few times at most; files that still
// vanish are skipped.
func (o *opener) listSiblings(path string) ([]sibling, error) {
	var prev, sibs []sibling
	var err error
	for i := range listAttempts {
		var vanished bool
		sibs, vanished, err = o.listSiblingsOnce(path)
		if err != nil || !vanished && i > 0 && sameFiles(prev, sibs) {
			break
		}
		prev = sibs
	}
	return sibs, err
}

// sameFiles reports whether two listings hold the same names with the
// same inodes.
func sameFiles(a, b []sibling) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[string]inode, len(a))
	for _, s := range a {
		m[s.name] = s.ino
	}
	for _, s := range b {
		if ino, ok := m[s.name]; !ok || ino != s.ino {
			return false
		}
	}
	return true
}

// listAttempts bounds how often listSiblings reads the directory.
const listAttempts = 6

func (o *opener) listSiblingsOnce(path string) (sibs []sibling, vanished bool, err error) {
	dir, base, ok := o.siblingDir(path)
	if !ok {
		return nil, false, nil // not a folder the source may read
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("list %q: %w", dir, err)
	}
	var errs []error
	for _, e := range ents {
		if !o.names.is(base, e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			vanished = true
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stat %q: %w", p, err))
			continue
		}
		dev, ino, err := devIno(fi)
		if err != nil {
			return nil, false, err
		}
		if o.permit(p, fi, resolve(p)) != nil {
			continue // refused, and reported
		}
		sibs = append(sibs, sibling{path: p, name: e.Name(), ino: inode{dev, ino}, mtime: fi.ModTime()})
	}
	slices.SortStableFunc(sibs, func(a, b sibling) int { return byAge(base, a, b) })
	return sibs, vanished, errors.Join(errs...)
}

// byAge orders rotated generations oldest first: by modification time, and
// for equal times (coarse clocks) by name: a larger numeric suffix is older
// ("agent.log.2" before "agent.log.1"), otherwise names sort ascending
// (dated suffixes such as "agent.log-20261126").
func byAge(base string, a, b sibling) int {
	if c := a.mtime.Compare(b.mtime); c != 0 {
		return c
	}
	na, okA := numSuffix(base, a.name)
	nb, okB := numSuffix(base, b.name)
	if okA && okB && na != nb {
		return cmp.Compare(nb, na)
	}
	return strings.Compare(a.name, b.name)
}

// numSuffix returns N of a numbered generation "base.N". Eight digits or
// more are a date (".20261126"), which sorts as a name.
func numSuffix(base, name string) (uint64, bool) {
	digits := strings.TrimPrefix(name, base+".")
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil && strings.HasPrefix(name, base+".") && len(digits) < 8
}

// openSibling opens s and returns it as a generation if it is still the
// inode that was listed; a rename racing with the listing yields nil.
func (o *opener) openSibling(s sibling, off int64) (*gen, os.FileInfo, error) {
	f, id, fi, err := o.open(s.path)
	if _, refused := isRefused(err); refused || errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil // replaced since it was listed
	}
	if err != nil {
		return nil, nil, err
	}
	if id.inode() != s.ino {
		_ = f.Close()
		return nil, nil, nil
	}
	return newGen(f, s.path, id, off), fi, nil
}

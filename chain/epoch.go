package chain

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/fips-agents/audit-sidecar/internal/fsutil"
)

// Forward-secure epochs: epoch 1 is sealed with the key from the key file,
// and each next epoch's key is derived from the one before,
//
//	K(e+1) = HMAC-SHA256(K(e), "ratchet" || uint64be(e))
//
// after which K(e) is erased. Whoever takes the running sidecar's key
// then holds only the current epoch's key and cannot forge records of an
// earlier, sealed epoch; a verifier derives every epoch key from K(1),
// kept offline.

// Ratchet returns the key of epoch e+1 from k, the key of epoch e, with
// the same id. It does not erase k (see Erase).
func (k Key) Ratchet(e uint64) Key {
	m := hmac.New(sha256.New, k.secret)
	var b [7 + 8]byte
	copy(b[:], "ratchet")
	binary.BigEndian.PutUint64(b[7:], e)
	m.Write(b[:])
	return Key{ID: k.ID, secret: m.Sum(nil)}
}

// AtEpoch derives the key of epoch e (>= 1) from k, the key of epoch 1.
func (k Key) AtEpoch(e uint64) Key {
	cur := Key{ID: k.ID, secret: bytes.Clone(k.secret)}
	for i := uint64(1); i < e; i++ {
		next := cur.Ratchet(i)
		cur.Erase()
		cur = next
	}
	return cur
}

// Erase overwrites the key's bytes. Go may have copied them elsewhere
// (hash states are dropped, not wiped): erasure is best effort in memory;
// see docs/chain-format.md for what it means on disk.
func (k Key) Erase() { clear(k.secret) }

// EpochFile keeps the current epoch and its key beside the spool, so that
// the sidecar continues after a restart without the key file (which the
// operator removes from the pod once the chain is running).
//
// Each Store writes the new key to a file beside it (<path>.new), syncs
// it, renames it over the file and syncs the folder, then overwrites the
// replaced file's bytes with zeros through a descriptor still open on it,
// and syncs it: at every instant the path holds one whole key (the old or
// the new), and once Store returns the previous epoch's key is gone from
// the file's blocks (on a file system that writes in place; a crash
// between the rename and the erasure leaves it in freed blocks).
//
// The file ends in a SHA-256 checksum of the rest: Load refuses a file
// cut short, zero-filled or with a flipped bit, naming it, rather than
// hand out a wrong key, with which every later record would be
// unverifiable. A file of the first format (ASEPOCH1, no checksum) is
// still read, and replaced by the current one at the next Store.
type EpochFile struct{ path string }

// NewEpochFile names the file.
func NewEpochFile(path string) *EpochFile { return &EpochFile{path: path} }

// The file is epochBodySize bytes (magic, kid length and kid up to 128
// bytes, epoch, key length and key up to 256 bytes, zero-padded), then,
// from ASEPOCH2 on, the SHA-256 of those bytes.
const (
	epochMagic    = "ASEPOCH2"
	epochMagicV1  = "ASEPOCH1" // no checksum; read, never written
	epochBodySize = 8 + 1 + 128 + 8 + 2 + 256
	epochFileSize = epochBodySize + sha256.Size
	epochNewExt   = ".new"
)

// ErrBadEpochFile says the epoch key file is damaged or not one.
var ErrBadEpochFile = errors.New("malformed epoch key file")

// Load returns the stored key and its epoch; ok is false if there is no
// file. A damaged file is an error wrapping ErrBadEpochFile and naming
// the file (never the key).
func (f *EpochFile) Load() (k Key, epoch uint64, ok bool, err error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return Key{}, 0, false, nil
	}
	if err != nil {
		return Key{}, 0, false, fmt.Errorf("read epoch key file %q: %w", f.path, err)
	}
	defer clear(b)
	bad := func(why string) (Key, uint64, bool, error) {
		return Key{}, 0, false, fmt.Errorf("epoch key file %q: %w: %s", f.path, ErrBadEpochFile, why)
	}
	switch {
	case len(b) >= 8 && string(b[:8]) == epochMagicV1:
		if len(b) != epochBodySize {
			return bad(fmt.Sprintf("%d bytes, want %d", len(b), epochBodySize))
		}
	case len(b) >= 8 && string(b[:8]) == epochMagic:
		if len(b) != epochFileSize {
			return bad(fmt.Sprintf("%d bytes, want %d (cut short or written past its end)", len(b), epochFileSize))
		}
		sum := sha256.Sum256(b[:epochBodySize])
		if !bytes.Equal(sum[:], b[epochBodySize:]) {
			return bad("checksum mismatch (a torn or damaged write)")
		}
	default:
		return bad(fmt.Sprintf("%d bytes, not starting with %q", len(b), epochMagic))
	}
	kl := int(b[8])
	off := 9 + 128
	epoch = binary.BigEndian.Uint64(b[off:])
	sl := int(binary.BigEndian.Uint16(b[off+8:]))
	if kl == 0 || kl > 128 || sl < MinKeyBytes || sl > 256 || epoch == 0 {
		return bad("kid, key length or epoch out of range")
	}
	return Key{ID: string(b[9 : 9+kl]), secret: bytes.Clone(b[off+10 : off+10+sl])}, epoch, true, nil
}

// Store makes k the key of epoch in the file, durably, and erases the key
// it held before (see EpochFile); when the file holds them already, it
// writes nothing.
func (f *EpochFile) Store(k Key, epoch uint64) error {
	if len(k.ID) == 0 || len(k.ID) > 128 || len(k.secret) > 256 {
		return fmt.Errorf("epoch key file %q: key id or key too long", f.path)
	}
	b := make([]byte, epochFileSize)
	defer clear(b)
	copy(b, epochMagic)
	b[8] = byte(len(k.ID))
	copy(b[9:], k.ID)
	off := 9 + 128
	binary.BigEndian.PutUint64(b[off:], epoch)
	binary.BigEndian.PutUint16(b[off+8:], uint16(len(k.secret)))
	copy(b[off+10:], k.secret)
	sum := sha256.Sum256(b[:epochBodySize])
	copy(b[epochBodySize:], sum[:])
	if f.holds(b) {
		return nil
	}

	// The file replaced, held open to be erased once the new one is in
	// place.
	old, err := openRegular(f.path, false)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("epoch key file %q: %w", f.path, err)
	}
	if old != nil {
		defer old.Close()
	}
	tmp := f.path + epochNewExt
	if err := writeSynced(tmp, b); err != nil {
		return fmt.Errorf("epoch key file %q: %w", tmp, err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("epoch key file %q: %w", f.path, err)
	}
	if err := fsutil.SyncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("epoch key file %q: %w", f.path, err)
	}
	if old != nil {
		if err := erase(old); err != nil {
			return fmt.Errorf("epoch key file %q: erase the previous key: %w", f.path, err)
		}
	}
	return nil
}

// holds says whether the file already holds exactly b, so that a Store
// of the key it has (every restart stores the current epoch's key) writes
// nothing: it needs no free block, so a restart on a full disk goes on.
// Whatever is at the path was synced before it was renamed there.
func (f *EpochFile) holds(b []byte) bool {
	fi, err := os.Lstat(f.path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(len(b)) {
		return false
	}
	cur, err := os.ReadFile(f.path)
	defer clear(cur)
	return err == nil && hmac.Equal(cur, b)
}

// openRegular opens the regular file at path for writing, never through a
// symbolic link or anything but a regular file; with create, it is created
// (mode 0600) if missing.
func openRegular(path string, create bool) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		if !create {
			return nil, nil // replaced by the rename, never written through
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	flag := os.O_WRONLY
	if create {
		flag |= os.O_CREATE
	}
	fd, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, err
	}
	ofi, err1 := fd.Stat()
	lfi, err2 := os.Lstat(path)
	if err := errors.Join(err1, err2); err != nil || !os.SameFile(ofi, lfi) {
		fd.Close()
		return nil, fmt.Errorf("%q changed while it was opened", path)
	}
	return fd, nil
}

// writeSynced writes b over the start of the file at path (a leftover of
// a Store cut short is overwritten, not unlinked with a key in it), cuts
// it to len(b) and syncs it.
func writeSynced(path string, b []byte) error {
	fd, err := openRegular(path, true)
	if err != nil {
		return err
	}
	_, err = fd.WriteAt(b, 0)
	if err == nil {
		err = fd.Truncate(int64(len(b)))
	}
	if err == nil {
		err = fd.Sync()
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	return err
}

// erase overwrites every byte of fd's file with zeros and syncs it, so
// that its blocks no longer hold what it held once it is closed.
func erase(fd *os.File) error {
	fi, err := fd.Stat()
	if err != nil {
		return err
	}
	if _, err := fd.WriteAt(make([]byte, fi.Size()), 0); err != nil {
		return err
	}
	return fd.Sync()
}

// epochKeys derives the epoch keys of a keyring's kids for verification,
// safe for concurrent use. It keeps, per kid, the few newest keys derived
// (records arrive nearly in order), so deriving costs one HMAC per epoch.
type epochKeys struct {
	ring Keyring
	mu   sync.Mutex
	kids map[string][]epochKey // newest last, at most keepEpochKeys
	base map[string]*sync.Pool // HMAC states of the ring's keys (epoch 0 or 1)
}

type epochKey struct {
	e    uint64
	k    Key
	macs *sync.Pool // HMAC states keyed with k, reused across records
}

// macPool returns HMAC-SHA256 states keyed with k.
func macPool(k Key) *sync.Pool {
	return &sync.Pool{New: func() any { return hmac.New(sha256.New, k.secret) }}
}

const keepEpochKeys = 16

func newEpochKeys(ring Keyring) *epochKeys {
	return &epochKeys{ring: ring, kids: map[string][]epochKey{}, base: map[string]*sync.Pool{}}
}

// get returns the key of kid at epoch e (0: epochs off, the ring's key)
// and a pool of HMAC states keyed with it.
func (c *epochKeys) get(kid string, e uint64) (Key, *sync.Pool, bool) {
	base, ok := c.ring[kid]
	if !ok {
		return Key{}, nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e <= 1 {
		p := c.base[kid]
		if p == nil {
			p = macPool(base)
			c.base[kid] = p
		}
		return base, p, true
	}
	ks := c.kids[kid]
	from := epochKey{e: 1, k: base}
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].e == e {
			return ks[i].k, ks[i].macs, true
		}
		if ks[i].e < e {
			from = ks[i]
			break
		}
	}
	for from.e < e {
		from = epochKey{e: from.e + 1, k: from.k.Ratchet(from.e)}
	}
	from.macs = macPool(from.k)
	if len(ks) == 0 || ks[len(ks)-1].e < e {
		if len(ks) == keepEpochKeys {
			ks = append(ks[:0], ks[1:]...)
		}
		c.kids[kid] = append(ks, from)
	}
	return from.k, from.macs, true
}

package chain

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
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
// operator removes from the pod once the chain is running). Each Store
// overwrites the file in place (same size, same blocks on a file system
// that updates in place) and syncs it: the previous epoch's key is gone
// from the file once Store returns.
type EpochFile struct{ path string }

// NewEpochFile names the file.
func NewEpochFile(path string) *EpochFile { return &EpochFile{path: path} }

// epochFileSize is the fixed size of the file: magic, kid length and kid
// (up to 128 bytes), epoch, key length and key (up to 256 bytes).
const (
	epochMagic    = "ASEPOCH1"
	epochFileSize = 8 + 1 + 128 + 8 + 2 + 256
)

// ErrBadEpochFile says the epoch file is malformed.
var ErrBadEpochFile = errors.New("malformed epoch key file")

// Load returns the stored key and its epoch; ok is false if there is no
// file.
func (f *EpochFile) Load() (k Key, epoch uint64, ok bool, err error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return Key{}, 0, false, nil
	}
	if err != nil {
		return Key{}, 0, false, fmt.Errorf("read epoch key file %q: %w", f.path, err)
	}
	defer clear(b)
	if len(b) != epochFileSize || string(b[:8]) != epochMagic {
		return Key{}, 0, false, fmt.Errorf("epoch key file %q: %w", f.path, ErrBadEpochFile)
	}
	kl := int(b[8])
	off := 9 + 128
	epoch = binary.BigEndian.Uint64(b[off:])
	sl := int(binary.BigEndian.Uint16(b[off+8:]))
	if kl == 0 || kl > 128 || sl < MinKeyBytes || sl > 256 || epoch == 0 {
		return Key{}, 0, false, fmt.Errorf("epoch key file %q: %w", f.path, ErrBadEpochFile)
	}
	return Key{ID: string(b[9 : 9+kl]), secret: bytes.Clone(b[off+10 : off+10+sl])}, epoch, true, nil
}

// Store writes k as the key of epoch, in place, and syncs the file.
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
	fd, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("epoch key file %q: %w", f.path, err)
	}
	if _, err := fd.WriteAt(b, 0); err != nil {
		fd.Close()
		return fmt.Errorf("epoch key file %q: %w", f.path, err)
	}
	if err := fd.Sync(); err != nil {
		fd.Close()
		return fmt.Errorf("epoch key file %q: %w", f.path, err)
	}
	return fd.Close()
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

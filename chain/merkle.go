package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"math/bits"
	"sync"
)

// LeafHash is the RFC 6962 leaf hash of a record: SHA-256(0x00 || payload),
// over the record's canonical payload bytes.
func LeafHash(payload []byte) [32]byte {
	h := leafHashes.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte{0})
	h.Write(payload)
	var out [32]byte
	h.Sum(out[:0])
	leafHashes.Put(h)
	return out
}

// leafHashes reuses SHA-256 states: one per record otherwise.
var leafHashes = sync.Pool{New: func() any { return sha256.New() }}

// NodeHash is the RFC 6962 interior node hash: SHA-256(0x01 || left || right).
func NodeHash(left, right [32]byte) [32]byte {
	var b [65]byte
	b[0] = 1
	copy(b[1:], left[:])
	copy(b[33:], right[:])
	return sha256.Sum256(b[:])
}

// Tree is the compact state of an RFC 6962 Merkle tree over a chain's
// records, leaf i being record seq i+1: the roots of the perfect subtrees
// that make up its first Size leaves, largest first (one per set bit of
// Size). It is enough to append leaves and to compute the root, in
// O(log Size) memory. The zero Tree is the empty tree.
type Tree struct {
	Size   uint64
	Hashes [][32]byte
}

// Append adds the next leaf hash.
func (t *Tree) Append(leaf [32]byte) {
	h := leaf
	for s := t.Size; s&1 == 1; s >>= 1 {
		n := len(t.Hashes) - 1
		h = NodeHash(t.Hashes[n], h)
		t.Hashes = t.Hashes[:n]
	}
	t.Hashes = append(t.Hashes, h)
	t.Size++
}

// Root is the RFC 6962 Merkle tree hash of the first Size leaves; the
// empty tree's root is SHA-256 of nothing.
func (t *Tree) Root() [32]byte {
	if len(t.Hashes) == 0 {
		return sha256.Sum256(nil)
	}
	r := t.Hashes[len(t.Hashes)-1]
	for i := len(t.Hashes) - 2; i >= 0; i-- {
		r = NodeHash(t.Hashes[i], r)
	}
	return r
}

// Clone returns a copy that does not share memory with t.
func (t *Tree) Clone() Tree {
	return Tree{Size: t.Size, Hashes: append([][32]byte(nil), t.Hashes...)}
}

// ErrBadTree says an encoded Tree is malformed.
var ErrBadTree = errors.New("malformed merkle tree state")

// MarshalBinary encodes t as its 8-byte big-endian size followed by its
// hashes.
func (t *Tree) MarshalBinary() ([]byte, error) {
	b := make([]byte, 8, 8+32*len(t.Hashes))
	binary.BigEndian.PutUint64(b, t.Size)
	for _, h := range t.Hashes {
		b = append(b, h[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. The number of hashes
// must be the number of set bits of the size.
func (t *Tree) UnmarshalBinary(b []byte) error {
	if len(b) < 8 || (len(b)-8)%32 != 0 {
		return ErrBadTree
	}
	size := binary.BigEndian.Uint64(b)
	n := (len(b) - 8) / 32
	if n != bits.OnesCount64(size) {
		return ErrBadTree
	}
	t.Size = size
	t.Hashes = make([][32]byte, n)
	for i := range t.Hashes {
		copy(t.Hashes[i][:], b[8+32*i:])
	}
	return nil
}

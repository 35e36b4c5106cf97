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
// leafPrefix is RFC 6962's leaf prefix (a variable: a literal passed to
// the hash's Write would be allocated at each call).
var leafPrefix = []byte{0}

func LeafHash(payload []byte) [32]byte {
	h := leafHashes.Get().(hash.Hash)
	h.Reset()
	h.Write(leafPrefix)
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

// Range is the compact form of the leaves [Begin, End) of a chain's tree
// when the leaves before Begin are not at hand (a purged prefix, an export
// that starts later, a gap): the hashes of the maximal perfect subtrees,
// each aligned at its size, that make it up, left to right. A subtree of
// a tree state of size End that lies wholly within [Begin, End) is one of
// them, so the leaves at hand can be checked against a signed tree state
// without those before them. Memory is O(log(End-Begin)).
type Range struct {
	Begin, End uint64
	Nodes      []RangeNode
}

// RangeNode is one perfect subtree of a Range: leaves [Start,
// Start+2^Height).
type RangeNode struct {
	Start  uint64
	Height uint
	Hash   [32]byte
}

// NewRange is the empty range that begins at leaf begin.
func NewRange(begin uint64) Range { return Range{Begin: begin, End: begin} }

// Append adds the next leaf hash (leaf End).
func (r *Range) Append(leaf [32]byte) {
	r.Nodes = append(r.Nodes, RangeNode{Start: r.End, Hash: leaf})
	r.End++
	for n := len(r.Nodes); n >= 2; n = len(r.Nodes) {
		a, b := r.Nodes[n-2], r.Nodes[n-1]
		// Siblings: the same height, the left one aligned at their
		// parent's size.
		if a.Height != b.Height || a.Start&(uint64(2)<<a.Height-1) != 0 {
			break
		}
		r.Nodes = append(r.Nodes[:n-2], RangeNode{Start: a.Start, Height: a.Height + 1, Hash: NodeHash(a.Hash, b.Hash)})
	}
}

// Subtree is one perfect subtree of a tree state: leaves [Start,
// Start+2^Height) with hash Hash.
type Subtree struct {
	Start  uint64
	Height uint
	Hash   [32]byte
}

// Subtrees lists the perfect subtrees of t, largest (leftmost) first.
func (t *Tree) Subtrees() []Subtree {
	out := make([]Subtree, 0, len(t.Hashes))
	start := uint64(0)
	for bit := 63; bit >= 0; bit-- {
		if t.Size>>bit&1 == 0 {
			continue
		}
		i := len(out)
		if i >= len(t.Hashes) {
			break
		}
		out = append(out, Subtree{Start: start, Height: uint(bit), Hash: t.Hashes[i]})
		start += uint64(1) << bit
	}
	return out
}

// Covered compares r with the tree state t of size r.End: each subtree of
// t that lies wholly within [r.Begin, r.End) must have the hash of r's
// node of the same leaves. It returns the first leaf of the first such
// subtree (r.End when none: the leaves [r.Begin, from) share a subtree of
// t with leaves before r and are not covered by t) and the subtrees whose
// hashes differ.
func (r *Range) Covered(t *Tree) (from uint64, differ []Subtree) {
	from = r.End
	if t.Size != r.End {
		return from, nil
	}
	nodes := r.Nodes
	for _, s := range t.Subtrees() {
		if s.Start < r.Begin {
			continue
		}
		if from == r.End {
			from = s.Start
		}
		for len(nodes) > 0 && nodes[0].Start < s.Start {
			nodes = nodes[1:]
		}
		if len(nodes) == 0 || nodes[0].Start != s.Start || nodes[0].Height != s.Height || nodes[0].Hash != s.Hash {
			differ = append(differ, s)
		}
	}
	return from, differ
}

// PrefixRoot is the root of the first n leaves when n is the size of the
// first subtrees of t (n is t.Size with some of its lowest set bits
// cleared): then the witnessed root of n leaves can be checked against t
// without the leaves, as an RFC 6962 consistency proof all of whose
// hashes t holds. ok is false for any other n.
func (t *Tree) PrefixRoot(n uint64) (root [32]byte, ok bool) {
	if n == 0 || n > t.Size {
		return root, false
	}
	var sum uint64
	k := 0
	for _, s := range t.Subtrees() {
		if sum == n {
			break
		}
		sum += uint64(1) << s.Height
		k++
	}
	if sum != n {
		return root, false
	}
	p := Tree{Size: n, Hashes: t.Hashes[:k]}
	return p.Root(), true
}

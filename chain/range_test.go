package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// mth is the RFC 6962 Merkle tree hash of leaves [lo, hi), computed from
// its definition.
func mth(leaves [][32]byte, lo, hi int) [32]byte {
	switch n := hi - lo; {
	case n == 0:
		return sha256.Sum256(nil)
	case n == 1:
		return leaves[lo]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return NodeHash(mth(leaves, lo, lo+k), mth(leaves, lo+k, hi))
	}
}

func testLeaves(n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		out[i] = LeafHash(b[:])
	}
	return out
}

// A range from any first leaf to any end is made of maximal aligned
// subtrees with their hashes; it covers exactly the subtrees of the tree
// state at its end that begin at or after its first leaf, and finds a
// changed leaf in them.
func TestRange_CoveredBySubtreesOfTheTreeState(t *testing.T) {
	leaves := testLeaves(70)
	for begin := 0; begin < 70; begin++ {
		for end := begin; end <= 70; end++ {
			r := NewRange(uint64(begin))
			var tree Tree
			for i := 0; i < end; i++ {
				if i >= begin {
					r.Append(leaves[i])
				}
				tree.Append(leaves[i])
			}
			for _, n := range r.Nodes {
				size := uint64(1) << n.Height
				if n.Start%size != 0 || n.Hash != mth(leaves, int(n.Start), int(n.Start+size)) {
					t.Fatalf("[%d,%d): node %+v is not an aligned subtree with its hash", begin, end, n)
				}
			}
			from, differ := r.Covered(&tree)
			if len(differ) > 0 {
				t.Fatalf("[%d,%d): subtrees differ: %+v", begin, end, differ)
			}
			want := uint64(end)
			for _, s := range tree.Subtrees() {
				if s.Start >= uint64(begin) {
					want = s.Start
					break
				}
			}
			if from != want {
				t.Fatalf("[%d,%d): covered from %d, want %d", begin, end, from, want)
			}
			// A leaf changed within the covered subtrees is found.
			if end > int(from) {
				bad := NewRange(uint64(begin))
				for i := begin; i < end; i++ {
					h := leaves[i]
					if i == end-1 {
						h[0] ^= 1
					}
					bad.Append(h)
				}
				if _, differ := bad.Covered(&tree); len(differ) != 1 {
					t.Fatalf("[%d,%d): a changed leaf %d: %d subtrees differ", begin, end, end-1, len(differ))
				}
			}
		}
	}
}

// The root of the first n leaves is derived from a tree state only when
// n is the size of its first subtrees, and then it is the true root.
func TestTree_PrefixRoot(t *testing.T) {
	leaves := testLeaves(70)
	for size := 1; size <= 70; size++ {
		var tree Tree
		for _, l := range leaves[:size] {
			tree.Append(l)
		}
		for n := 1; n <= size+1; n++ {
			root, ok := tree.PrefixRoot(uint64(n))
			want := false
			var sum uint64
			for _, s := range tree.Subtrees() {
				sum += uint64(1) << s.Height
				if sum == uint64(n) {
					want = true
				}
			}
			if ok != want {
				t.Fatalf("size %d: PrefixRoot(%d) ok %v, want %v", size, n, ok, want)
			}
			if ok && root != mth(leaves, 0, n) {
				t.Fatalf("size %d: PrefixRoot(%d) is not the root of the first %d leaves", size, n, n)
			}
		}
	}
}

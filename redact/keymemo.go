package redact

import "sync/atomic"

// Object keys repeat: an agent writes the same few dozen keys on every
// line. What the walker learns of a plain key (the context it gives its
// value, and that nothing in it is replaced) is a function of the key's
// bytes and the Redactor alone, so each walker remembers it for the keys
// it has seen, and a key seen before costs one hash and one comparison
// instead of its classification and every scanner. Only keys written out
// unchanged are remembered, so the memo holds nothing the output does not.

// keyMemoSize is the number of keys a walker remembers (a power of two);
// keyMemoMaxLen the longest key remembered.
const (
	keyMemoSize   = 128
	keyMemoMaxLen = 30
)

// keyMemo is a direct-mapped table of plain keys (printable ASCII without
// escapes) in which nothing was found. It belongs to one walker, so it
// needs no lock; gen names the Redactor its entries were computed with.
type keyMemo struct {
	gen     uint64
	entries [keyMemoSize]keyMemoEntry
}

type keyMemoEntry struct {
	n   uint8 // length of key; 0: empty slot
	key [keyMemoMaxLen]byte
	ctx keyCtx
}

// redactorGen numbers Redactors, so that a pooled walker never answers
// for one Redactor with what it learnt from another (even one allocated
// at the same address).
var redactorGen atomic.Uint64

// keyMemoHash hashes a key of 1-keyMemoMaxLen bytes from its length and
// its first and last two bytes.
func keyMemoHash(k []byte) uint32 {
	n := len(k)
	h := uint32(n)*0x9e3779b1 ^ uint32(k[0])<<16 ^ uint32(k[n-1])<<8 ^ uint32(k[n/2])
	h ^= uint32(k[min(1, n-1)]) << 24
	h *= 0x85ebca6b
	return h >> (32 - 7) // log2(keyMemoSize)
}

// lookup returns the context of key raw if it was remembered for gen.
func (m *keyMemo) lookup(gen uint64, raw []byte) (keyCtx, bool) {
	if m.gen != gen || len(raw) == 0 || len(raw) > keyMemoMaxLen {
		return 0, false
	}
	e := &m.entries[keyMemoHash(raw)]
	if int(e.n) != len(raw) || string(e.key[:e.n]) != string(raw) {
		return 0, false
	}
	return e.ctx, true
}

// store remembers that nothing is found in key raw and that it gives ctx.
func (m *keyMemo) store(gen uint64, raw []byte, ctx keyCtx) {
	if len(raw) == 0 || len(raw) > keyMemoMaxLen {
		return
	}
	if m.gen != gen {
		m.entries = [keyMemoSize]keyMemoEntry{}
		m.gen = gen
	}
	e := &m.entries[keyMemoHash(raw)]
	e.n = uint8(len(raw))
	copy(e.key[:], raw)
	e.ctx = ctx
}

package redact

import "sync/atomic"

// Agent events repeat themselves: the same few dozen object keys on every
// line, and values drawn from short lists (an event type, a model, a tool,
// an outcome). Whether anything is found in a plain string, and the
// context a key gives its value, depend only on the string's bytes, the
// context its key gave it and the Redactor, so each walker remembers the
// short strings in which nothing was found: one seen before costs one
// hash and one comparison instead of the classification of a key and
// every scanner. Only strings in which nothing matched (not even a rule
// whose replacement reads as the text it replaces) and written out
// unchanged are remembered, so the memo holds nothing the output does not.

// memoSize is the number of keys, and of values, a walker remembers (a
// power of two); memoMaxLen the longest string remembered.
const (
	memoSize    = 256
	memoLogSize = 8
	memoMaxLen  = 30
)

// memo is a direct-mapped table of plain strings (no escapes, ASCII) in
// which nothing was found, keys and values apart (values that never come
// back, ids and times, must not push out the keys). It belongs to one
// walker, so it needs no lock; gen names the Redactor its entries were
// computed with.
type memo struct {
	gen    uint64
	keys   [memoSize]memoEntry
	values [memoSize]memoEntry
}

type memoEntry struct {
	n    uint8 // length of text; 0: empty slot
	text [memoMaxLen]byte
	in   keyCtx // the context the string was scanned with
	out  keyCtx // for a key: the context it gives its value
}

// redactorGen numbers Redactors, so that a pooled walker never answers
// for one Redactor with what it learnt from another (even one allocated
// at the same address).
var redactorGen atomic.Uint64

// memoHash hashes a string of 1-memoMaxLen bytes (its length, four of its
// bytes) and its context into an index of a table.
func memoHash(t []byte, in keyCtx) uint32 {
	n := uint(len(t))
	last := t[n-1]
	h := uint32(n)*0x9e3779b1 ^ uint32(t[0])<<16 ^ uint32(last)<<8 ^ uint32(t[n>>1]) ^ uint32(t[(n-1)>>2])<<24
	h ^= uint32(in) * 0x27d4eb2d
	h *= 0x85ebca6b
	return h >> (32 - memoLogSize)
}

// entry returns the slot of t among the keys or the values.
func (m *memo) entry(t []byte, isKey bool, in keyCtx) *memoEntry {
	h := memoHash(t, in)
	if isKey {
		return &m.keys[h]
	}
	return &m.values[h]
}

// lookup returns the context key t gives (0 for a value) if nothing was
// found in t, scanned with context in, for Redactor gen.
func (m *memo) lookup(gen uint64, t []byte, isKey bool, in keyCtx) (keyCtx, bool) {
	if m.gen != gen || len(t) == 0 || len(t) > memoMaxLen {
		return 0, false
	}
	e := m.entry(t, isKey, in)
	if int(e.n) != len(t) || e.in != in || string(e.text[:e.n]) != string(t) {
		return 0, false
	}
	return e.out, true
}

// store remembers that nothing is found in t scanned with context in
// and, for a key, that it gives out.
func (m *memo) store(gen uint64, t []byte, isKey bool, in, out keyCtx) {
	if len(t) == 0 || len(t) > memoMaxLen {
		return
	}
	if m.gen != gen {
		*m = memo{gen: gen}
	}
	e := m.entry(t, isKey, in)
	*e = memoEntry{n: uint8(len(t)), in: in, out: out}
	copy(e.text[:], t)
}

// memoable reports whether the string raw (its body as read, which holds
// escapes or non-ASCII bytes if special) may be remembered. A value that
// may be JSON (its first byte a blank, '{' or '[') is left out: what is
// found in it depends on how deep it is nested.
func (w *walker) memoable(raw []byte, special, isKey bool) bool {
	return !special && len(raw) <= memoMaxLen && w.r.hook == nil &&
		(isKey || len(raw) > 0 && raw[0] > ' ' && raw[0] != '{' && raw[0] != '[')
}

// memoStore remembers raw, just written unchanged.
func (w *walker) memoStore(raw []byte, isKey bool, ctx, next keyCtx) {
	if w.memo == nil {
		w.memo = new(memo)
	}
	w.memo.store(w.r.gen, raw, isKey, ctx, next)
}

package redact

import (
	"slices"
	"sync"
)

// maxDepth bounds nesting like encoding/json does; deeper input is
// rejected as invalid.
const maxDepth = 10000

// JSON walks one JSON value (object, array, string, number, literal) and
// appends it to dst with every string redacted: values and object keys,
// since agents control both. The output is compact (no insignificant
// whitespace); object key order and duplicate keys are kept (members are
// only removed by action drop); numbers are copied verbatim, except an
// integer of 9-19 digits the packs find (a card number), which becomes a
// redacted string; strings are decoded and re-encoded with minimal
// escaping ('"', '\\', \n, \r, \t, other bytes below 0x20 as \u00XX; no
// HTML escaping; U+2028/U+2029 literal), invalid UTF-8 becomes U+FFFD. A
// string value whose text is a JSON object or array is walked as JSON and,
// if something in it is replaced, written back compact and escaped;
// otherwise its decoded text is redacted. Values split across sibling
// members (cc1..cc4) and path rules are described in the package doc.
//
// The value of an object key naming an Authorization header
// ("authorization", "Proxy-Authorization", ...) is treated as a header
// value: its credential is redacted whatever its shape. The value of an
// AWS secret key field ("aws_secret_access_key", "SecretAccessKey") is
// searched for a secret key from its first byte.
//
// A string longer than MaxValueBytes, or one whose scanning fails, becomes
// "[REDACTED:UNPROCESSABLE]" and is counted as UNPROCESSABLE. If src is not
// valid JSON the error wraps ErrInvalidJSON (a *SyntaxError giving the
// offset); if the output would be longer than MaxOutputBytes(len(src)) it
// is ErrTooLarge; either way dst is returned unchanged and counts is not
// touched. dst and src must not overlap; src is not modified.
func (r *Redactor) JSON(dst []byte, src []byte, counts map[string]int) (out []byte, err error) {
	return r.JSONAt(dst, src, "", counts)
}

// JSONAt is JSON for a value held by a field named root ("arguments",
// "detail"): path rules see root as the first key of every path. A value
// dropped whole (a path or type with action drop) becomes null.
func (r *Redactor) JSONAt(dst []byte, src []byte, root string, counts map[string]int) (out []byte, err error) {
	out, _, err = r.jsonAt(dst, src, root, counts, false, nil)
	return out, err
}

// jsonAt is JSONAt; with track it also returns every replacement, or
// hands each to onHit if that is not nil.
func (r *Redactor) jsonAt(dst []byte, src []byte, root string, counts map[string]int, track bool, onHit func(Hit)) (out []byte, hits []Hit, err error) {
	mark := len(dst)
	w := getWalker(r, src, dst)
	defer putWalker(w)
	w.track, w.root, w.onHit = track, root, onHit
	w.maxOut = mark + MaxOutputBytes(len(src))
	defer func() {
		if recover() != nil {
			out, hits, err = dst[:mark], nil, ErrInternal
		}
	}()
	w.skipWS()
	if len(r.paths) > 0 && root != "" {
		w.pushKey(root)
	}
	if !w.member(0, 0) {
		return dst[:mark], nil, w.err
	}
	if w.dropped {
		w.out = append(w.out[:mark], "null"...)
	}
	w.skipWS()
	if w.pos != len(src) {
		w.fail("data after the top-level value")
		return dst[:mark], nil, w.err
	}
	if len(w.hits) > 0 {
		hits = slices.Clone(w.hits)
	}
	if counts != nil {
		for k, c := range w.counts {
			if c == 0 {
				continue
			}
			if k == len(r.kinds) {
				counts[TypeUnprocessable] += c
			} else {
				counts[r.kinds[k].name] += c
			}
		}
	}
	return w.out, hits, nil
}

// Walkers are pooled: the recursive walk makes a stack-allocated one
// escape, and their buffers are worth keeping between calls.
var walkers = sync.Pool{New: func() any { return new(walker) }}

// maxPooledScratch bounds the decode buffer a pooled walker keeps.
const maxPooledScratch = 64 << 10

func getWalker(r *Redactor, src, dst []byte) *walker {
	w := walkers.Get().(*walker)
	nk := len(r.kinds) + 1
	counts := w.counts[:0]
	if cap(counts) < nk {
		counts = make([]int, nk)
	}
	counts = counts[:nk]
	clear(counts)
	*w = walker{r: r, src: src, out: dst, scratch: w.scratch[:0], ms: w.ms[:0], counts: counts,
		keys: w.keys[:0], path: w.path[:0], segs: w.segs[:0], hits: w.hits[:0], memo: w.memo}
	return w
}

func putWalker(w *walker) {
	// The scratch buffer held decoded, unredacted text: wipe it.
	clear(w.scratch[:w.scratchUsed])
	if cap(w.scratch) > maxPooledScratch {
		w.scratch = nil
	}
	clear(w.keys[:cap(w.keys)]) // object keys are agent text too
	if cap(w.keys) > maxPooledScratch {
		w.keys = nil
	}
	clear(w.hits) // paths name redacted keys only, but hold no more than needed
	if cap(w.hits) > 1024 {
		w.hits = nil
	}
	w.r, w.src, w.out, w.err, w.scratchUsed, w.up, w.onHit, w.lastPath = nil, nil, nil, nil, 0, nil, nil, ""
	walkers.Put(w)
}

type walker struct {
	r           *Redactor
	src         []byte
	pos         int
	out         []byte
	scratch     []byte // decoded text of strings with escapes or bad UTF-8
	scratchUsed int    // high-water mark of scratch in this call
	ms          []match
	counts      []int // per kind; the last slot counts UNPROCESSABLE
	nest        int   // how many JSON-in-a-string levels this walker is in
	err         error
	skip        int       // > 0: inside a value a path rule replaces whole; copy, do not scan
	dropped     bool      // the value just written is to be removed with its member
	path        []pathSeg // keys from the root to the current value (path rules only)
	keys        []byte    // the text of the keys in path
	track       bool      // record every replacement in hits
	hits        []Hit     // with track
	root        string    // with track: the first key of every path
	up          *walker   // with track: the walker of the string holding this document
	segs        []segment // with track: the path of the current value (see explain.go)
	onHit       func(Hit) // with track: takes each hit instead of hits
	lastPath    string    // with onHit: the path of the last hit
	maxOut      int       // the longest out may grow (see MaxOutputBytes); 0: no bound
	memo        *memo     // short plain strings in which nothing was found, kept with the pooled walker
	finds       int       // strings in which something was found (the memo keeps none of them)
}

func (w *walker) fail(reason string) bool {
	if w.err == nil {
		w.err = &SyntaxError{Offset: w.pos, Reason: reason}
	}
	return false
}

func (w *walker) skipWS() {
	for w.pos < len(w.src) {
		switch w.src[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// MaxOutputBytes is the longest output JSON writes for n bytes of input:
// n and a quarter, plus 2 MiB, so that a value of up to 2 MiB may grow
// by any amount and a longer one only by a quarter (one step of append's
// growth). A value longer redacted is replaced whole (ErrTooLarge).
func MaxOutputBytes(n int) int { return n + n/4 + 2*MaxValueBytes }

// value copies or redacts one value at w.pos; ctx comes from its key. It
// stops the walk once the output is longer than maxOut.
func (w *walker) value(depth int, ctx keyCtx) bool {
	if !w.value1(depth, ctx) {
		return false
	}
	if w.maxOut > 0 && len(w.out) > w.maxOut {
		if w.err == nil {
			w.err = ErrTooLarge
		}
		return false
	}
	return true
}

func (w *walker) value1(depth int, ctx keyCtx) bool {
	if w.pos >= len(w.src) {
		return w.fail("unexpected end of input")
	}
	switch c := w.src[w.pos]; {
	case c == '{':
		return w.object(depth + 1)
	case c == '[':
		return w.array(depth + 1)
	case c == '"':
		_, ok := w.str(ctx, false)
		return ok
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	case c == '-' || isDigit(c):
		return w.number(ctx)
	}
	return w.fail("invalid character at start of value")
}

// member writes the value at w.pos: replaced whole if its path matches a
// path rule, else redacted.
func (w *walker) member(depth int, ctx keyCtx) bool {
	if len(w.r.paths) > 0 && w.skip == 0 {
		if k, ok := w.pathKind(); ok {
			return w.pathValue(depth, k)
		}
	}
	return w.value(depth, ctx)
}

// object writes an object. Separators are written before each member
// kept, so a dropped member leaves no trace.
func (w *walker) object(depth int) bool {
	if depth > maxDepth {
		return w.fail("nesting too deep")
	}
	w.pos++
	w.out = append(w.out, '{')
	w.skipWS()
	if w.pos < len(w.src) && w.src[w.pos] == '}' {
		w.pos++
		w.out = append(w.out, '}')
		return true
	}
	kept := 0
	var parts [maxSplitParts]splitPart // a run of members that may hold a split number
	np := 0
	for {
		if w.pos >= len(w.src) || w.src[w.pos] != '"' {
			return w.fail("expected string key")
		}
		mark := len(w.out)
		if kept > 0 {
			w.out = append(w.out, ',')
		}
		ctx, ok := w.str(0, true)
		if !ok {
			return false
		}
		drop := w.dropped
		w.dropped = false
		w.skipWS()
		if w.pos >= len(w.src) || w.src[w.pos] != ':' {
			return w.fail("expected ':' after object key")
		}
		w.pos++
		w.out = append(w.out, ':')
		w.skipWS()
		vstart := len(w.out)
		if !w.member(depth, ctx) {
			return false
		}
		if len(w.r.paths) > 0 {
			w.popKey()
		}
		var key segment // with track: the member's key, for a split number
		if w.track {
			key = w.segs[len(w.segs)-1]
			w.popSeg()
		}
		if drop || w.dropped {
			w.out = w.out[:mark]
			w.dropped = false
		} else {
			kept++
		}
		if w.skip == 0 && w.r.on&splitKinds != 0 {
			p, ok := splitCandidate(w.out[min(vstart, len(w.out)):])
			if ok && !drop && len(w.out) > vstart {
				if np == len(parts) {
					w.splitRun(parts[:np])
					np = 0
				}
				p.start, p.end, p.key = vstart, len(w.out), key
				parts[np] = p
				np++
			} else {
				w.splitRun(parts[:np])
				np = 0
			}
		}
		w.skipWS()
		if w.pos >= len(w.src) {
			return w.fail("unexpected end of input in object")
		}
		switch w.src[w.pos] {
		case ',':
			w.pos++
			w.skipWS()
		case '}':
			w.splitRun(parts[:np])
			w.pos++
			w.out = append(w.out, '}')
			return true
		default:
			return w.fail("expected ',' or '}' in object")
		}
	}
}

func (w *walker) array(depth int) bool {
	if depth > maxDepth {
		return w.fail("nesting too deep")
	}
	w.pos++
	w.out = append(w.out, '[')
	w.skipWS()
	if w.pos < len(w.src) && w.src[w.pos] == ']' {
		w.pos++
		w.out = append(w.out, ']')
		return true
	}
	kept := 0
	for i := 0; ; i++ {
		mark := len(w.out)
		if kept > 0 {
			w.out = append(w.out, ',')
		}
		if w.track {
			w.pushSeg(segment{segIndex, i})
		}
		if !w.value(depth, 0) {
			return false
		}
		if w.track {
			w.popSeg()
		}
		if w.dropped {
			w.out = w.out[:mark]
			w.dropped = false
		} else {
			kept++
		}
		w.skipWS()
		if w.pos >= len(w.src) {
			return w.fail("unexpected end of input in array")
		}
		switch w.src[w.pos] {
		case ',':
			w.pos++
			w.skipWS()
		case ']':
			w.pos++
			w.out = append(w.out, ']')
			return true
		default:
			return w.fail("expected ',' or ']' in array")
		}
	}
}

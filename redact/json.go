package redact

import "sync"

// maxDepth bounds nesting like encoding/json does; deeper input is
// rejected as invalid.
const maxDepth = 10000

// JSON walks one JSON value (object, array, string, number, literal) and
// appends it to dst with every string redacted: values and object keys,
// since agents control both. The output is compact (no insignificant
// whitespace); object key order and duplicate keys are kept; numbers are
// copied verbatim; strings are decoded and re-encoded with minimal
// escaping ('"', '\\', \n, \r, \t, other bytes below 0x20 as \u00XX; no
// HTML escaping; U+2028/U+2029 literal), invalid UTF-8 becomes U+FFFD. A
// string value containing JSON text is just a string: its decoded text is
// redacted.
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
// offset), dst is returned unchanged and counts is not touched. dst and src
// must not overlap; src is not modified.
func (r *Redactor) JSON(dst []byte, src []byte, counts map[string]int) (out []byte, err error) {
	mark := len(dst)
	w := getWalker(r, src, dst)
	defer putWalker(w)
	defer func() {
		if recover() != nil {
			out, err = dst[:mark], ErrInternal
		}
	}()
	w.skipWS()
	if !w.value(0, 0) {
		return dst[:mark], w.err
	}
	w.skipWS()
	if w.pos != len(src) {
		w.fail("data after the top-level value")
		return dst[:mark], w.err
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
	return w.out, nil
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
	*w = walker{r: r, src: src, out: dst, scratch: w.scratch[:0], ms: w.ms[:0], counts: counts}
	return w
}

func putWalker(w *walker) {
	// The scratch buffer held decoded, unredacted text: wipe it.
	clear(w.scratch[:w.scratchUsed])
	if cap(w.scratch) > maxPooledScratch {
		w.scratch = nil
	}
	w.r, w.src, w.out, w.err, w.scratchUsed = nil, nil, nil, nil, 0
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
	err         error
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

// value copies or redacts one value at w.pos; ctx comes from its key.
func (w *walker) value(depth int, ctx keyCtx) bool {
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
		return w.number()
	}
	return w.fail("invalid character at start of value")
}

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
	for {
		if w.pos >= len(w.src) || w.src[w.pos] != '"' {
			return w.fail("expected string key")
		}
		ctx, ok := w.str(0, true)
		if !ok {
			return false
		}
		w.skipWS()
		if w.pos >= len(w.src) || w.src[w.pos] != ':' {
			return w.fail("expected ':' after object key")
		}
		w.pos++
		w.out = append(w.out, ':')
		w.skipWS()
		if !w.value(depth, ctx) {
			return false
		}
		w.skipWS()
		if w.pos >= len(w.src) {
			return w.fail("unexpected end of input in object")
		}
		switch w.src[w.pos] {
		case ',':
			w.pos++
			w.out = append(w.out, ',')
			w.skipWS()
		case '}':
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
	for {
		if !w.value(depth, 0) {
			return false
		}
		w.skipWS()
		if w.pos >= len(w.src) {
			return w.fail("unexpected end of input in array")
		}
		switch w.src[w.pos] {
		case ',':
			w.pos++
			w.out = append(w.out, ',')
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

func (w *walker) literal(lit string) bool {
	if len(w.src)-w.pos < len(lit) || string(w.src[w.pos:w.pos+len(lit)]) != lit {
		return w.fail("invalid literal")
	}
	w.pos += len(lit)
	w.out = append(w.out, lit...)
	return true
}

// number validates the JSON number grammar and copies the bytes verbatim.
func (w *walker) number() bool {
	s, i := w.src, w.pos
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		w.pos = i
		return w.fail("invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == j {
			w.pos = i
			return w.fail("invalid number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == j {
			w.pos = i
			return w.fail("invalid number")
		}
	}
	w.out = append(w.out, s[w.pos:i]...)
	w.pos = i
	return true
}

package redact

import (
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/fips-agents/audit-sidecar/record"
)

// str reads the string at w.pos, writes it redacted and, for a key,
// returns the context its text gives to the value that follows.
func (w *walker) str(ctx keyCtx, isKey bool) (keyCtx, bool) {
	start := w.pos + 1
	i := start
	escaped, nonASCII := false, false
	var mask uint16
	src := w.src
	for {
		if i >= len(src) {
			w.pos = i
			return 0, w.fail("unterminated string")
		}
		c := src[i]
		if t := trig[c]; t&tSpecial == 0 {
			mask |= t
			i++
			continue
		}
		if c == '"' {
			break
		}
		if c == '\\' {
			escaped = true
			i += 2
			continue
		}
		if c < 0x20 {
			w.pos = i
			return 0, w.fail("control character in string")
		}
		nonASCII = true
		i++
	}
	raw := w.src[start:i]
	var text string
	verbatim := true // raw bytes are already the minimal encoding of text
	switch {
	case escaped:
		var ok bool
		if w.scratch, ok = decodeString(w.scratch[:0], raw); !ok {
			w.pos = start
			return 0, w.fail("invalid escape in string")
		}
		text, verbatim, mask = view(w.scratch), false, maskUnknown
	case nonASCII && !validUTF8(raw):
		w.scratch, _ = decodeString(w.scratch[:0], raw)
		text, verbatim = view(w.scratch), false
	default:
		text = view(raw)
	}
	w.scratchUsed = max(w.scratchUsed, len(w.scratch))
	w.pos = i + 1
	if isKey && len(w.r.paths) > 0 {
		w.pushKey(text)
	}
	if w.skip > 0 {
		if isKey && w.track {
			w.pushSeg(segment{segHidden, 0}) // nothing is recorded inside
		}
		w.out = append(w.out, '"')
		if verbatim {
			w.out = append(w.out, raw...)
		} else {
			w.out = appendEscaped(w.out, text)
		}
		w.out = append(w.out, '"')
		return 0, true
	}
	// A short plain string seen before: nothing to replace, and for a
	// key its context. (A value that may be JSON, one starting with a
	// blank, '{' or '[', is left out: what is found in it depends on how
	// deep it is nested.)
	memoable := !escaped && !nonASCII && len(raw) <= memoMaxLen && w.r.hook == nil &&
		(isKey || len(raw) > 0 && raw[0] > ' ' && raw[0] != '{' && raw[0] != '[')
	if memoable && w.memo != nil {
		if next, ok := w.memo.lookup(w.r.gen, raw, isKey, ctx); ok {
			outMark := len(w.out)
			w.out = append(w.out, '"')
			w.out = append(w.out, raw...)
			w.out = append(w.out, '"')
			if isKey && w.track {
				w.pushSeg(segment{outMark + 1, len(w.out) - 1})
			}
			return next, true
		}
	}
	var next keyCtx
	if isKey && (w.r.on&contextKinds != 0 || w.r.keyCtx && keyMayHaveContext(text)) {
		next = keyContext(text) // every secrets context keyword has a b, k, w or z
	}
	if isKey && w.r.on&nameKinds != 0 {
		next |= nameKeyContext(text)
	}
	outMark := len(w.out)
	nc := w.counts[len(w.counts)-1]
	w.emit(text, raw, verbatim, ctx, mask, isKey)
	if memoable && w.counts[len(w.counts)-1] == nc && len(w.out)-outMark == len(raw)+2 && string(w.out[outMark+1:len(w.out)-1]) == string(raw) {
		if w.memo == nil {
			w.memo = new(memo)
		}
		w.memo.store(w.r.gen, raw, isKey, ctx, next)
	}
	if isKey && w.track {
		// The path names the key as written: redacted, escaped.
		w.pushSeg(segment{outMark + 1, len(w.out) - 1})
	}
	return next, true
}

// emit appends text redacted as a JSON string. It fails closed: on a value
// too long to scan or a panic while scanning, the value is replaced whole.
func (w *walker) emit(text string, raw []byte, verbatim bool, ctx keyCtx, mask uint16, isKey bool) {
	mark, nh := len(w.out), len(w.hits)
	if len(text) > MaxValueBytes || !w.redactInto(text, raw, verbatim, ctx, mask, isKey) {
		w.out = append(w.out[:mark], `"`+Unprocessable+`"`...)
		w.counts[len(w.counts)-1]++
		if w.track {
			// Hits already handed to onHit stay: the value they name
			// is replaced all the same.
			var buf [128]byte
			w.hits = w.hits[:nh]
			w.report(Hit{Rule: "builtin:" + TypeUnprocessable, Type: TypeUnprocessable,
				Action: "mask", Path: w.pathString(w.appendPath(buf[:0])), Key: isKey, End: len(text)})
		}
	}
}

func (w *walker) redactInto(text string, raw []byte, verbatim bool, ctx keyCtx, mask uint16, isKey bool) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	if !isKey && w.nested(text) {
		return true
	}
	ms := w.r.find(text, ctx, mask, w.ms[:0])
	w.ms = ms[:0]
	w.out = append(w.out, '"')
	// A value keeps the escapes its input chose (\u0026, \u003e, \/), in
	// what is not replaced too; a key, a string holding invalid UTF-8, an
	// unpaired surrogate or \u0000 (which stores refuse) is rewritten in
	// minimal escapes.
	keepRaw := verbatim || !isKey && validUTF8(raw) && storableEscapes(raw)
	if len(ms) == 0 {
		if keepRaw {
			w.out = append(w.out, raw...)
		} else {
			w.out = appendEscaped(w.out, text)
		}
		w.out = append(w.out, '"')
		return true
	}
	mark := len(w.out)
	if !keepRaw || !w.appendRawAround(raw, text, ms) {
		w.out = w.out[:mark]
		prev := 0
		for _, m := range ms {
			w.out = appendEscaped(w.out, text[prev:m.start])
			w.out = w.r.appendReplacement(w.out, m.kind, text[m.start:m.end])
			prev = m.end
		}
		w.out = appendEscaped(w.out, text[prev:])
	}
	w.out = append(w.out, '"')
	for _, m := range ms {
		w.counts[m.kind]++
		if w.r.kinds[m.kind].action == actDrop {
			w.dropped = true
		}
		if w.track {
			w.addHit(m.kind, isKey, m.start, m.end)
		}
	}
	return true
}

// maxNested bounds how deep JSON held in strings is walked.
const maxNested = 4

// looksJSON reports whether text starts and ends like an object or array.
func looksJSON(text string) bool {
	i, j := 0, len(text)-1
	for i < j && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r') {
		i++
	}
	for j > i && (text[j] == ' ' || text[j] == '\n' || text[j] == '\t' || text[j] == '\r') {
		j--
	}
	return j > i && (text[i] == '{' && text[j] == '}' || text[i] == '[' && text[j] == ']')
}

// nested walks text as a JSON document held in a string (tool arguments
// often are one), at the same path, and writes it back compact and
// escaped when something in it was replaced. Otherwise, or when text is
// not JSON, it reports false and the string is scanned as text.
func (w *walker) nested(text string) bool {
	if w.nest >= maxNested || !looksJSON(text) {
		return false
	}
	// Handed to onHit, a hit cannot be taken back: the document is walked
	// first without them, to learn whether it is walked as JSON at all.
	sub, found := w.walkNested(text, w.track && w.onHit == nil)
	if found && w.onHit != nil {
		putWalker(sub)
		sub, found = w.walkNested(text, true)
	}
	defer putWalker(sub)
	if !found {
		return false
	}
	w.hits = append(w.hits, sub.hits...)
	w.dropped = w.dropped || sub.dropped
	w.out = append(w.out, '"')
	w.out = appendEscaped(w.out, view(sub.out))
	w.out = append(w.out, '"')
	for k, c := range sub.counts {
		w.counts[k] += c
	}
	return true
}

// walkNested walks text as a JSON document in a sub-walker (which the
// caller puts back) and reports whether it is wholly JSON and something
// in it was found.
func (w *walker) walkNested(text string, track bool) (*walker, bool) {
	sub := getWalker(w.r, unsafe.Slice(unsafe.StringData(text), len(text)), nil)
	sub.nest = w.nest + 1
	if len(w.r.paths) > 0 {
		sub.keys = append(sub.keys, w.keys...)
		sub.path = append(sub.path, w.path...)
	}
	if track {
		sub.track, sub.up, sub.onHit = true, w, w.onHit
	}
	found := false
	sub.skipWS()
	if sub.value(0, 0) {
		sub.skipWS()
		found = sub.pos == len(sub.src) && sub.dropped
		for _, c := range sub.counts {
			found = found || c > 0 && sub.pos == len(sub.src)
		}
	}
	return sub, found
}

// view returns b as a string without copying. The result is only read
// during the JSON call that owns b (src, which JSON never writes, or the
// walker's scratch buffer, which is not written again until the string
// has been emitted) and is never retained.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func validUTF8(b []byte) bool { return utf8.Valid(b) }

// decodeString appends the text of the JSON string body raw (without the
// quotes) to dst: escapes resolved, invalid UTF-8 and unpaired surrogates
// replaced by U+FFFD, as encoding/json does. It reports false for an
// invalid escape.
func decodeString(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\\' {
			if i+1 >= len(raw) {
				return dst, false
			}
			switch e := raw[i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := hex4(raw, i+2)
				if !ok {
					return dst, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(0), false
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2, ok = hex4(raw, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default:
				return dst, false
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, raw[i:i+size]...)
		}
		i += size
	}
	return dst, true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendEscaped appends s as the body of a JSON string, in the record
// package's canonical string encoding, so that a whole payload follows one
// convention.
func appendEscaped(dst []byte, s string) []byte { return record.AppendEscaped(dst, s) }

// appendRawAround writes the replacements of ms with the raw bytes of the
// string between them, as the input escaped them. It reports false when a
// span starts or ends inside an escape sequence.
func (w *walker) appendRawAround(raw []byte, text string, ms []match) bool {
	ri, ti := 0, 0
	for _, m := range ms {
		from := ri
		var ok bool
		if ri, ti, ok = rawAdvance(raw, ri, ti, m.start); !ok {
			return false
		}
		w.out = append(w.out, raw[from:ri]...)
		w.out = w.r.appendReplacement(w.out, m.kind, text[m.start:m.end])
		if ri, ti, ok = rawAdvance(raw, ri, ti, m.end); !ok {
			return false
		}
	}
	w.out = append(w.out, raw[ri:]...)
	return true
}

// rawAdvance walks raw from ri (decoded offset ti) to decoded offset t.
func rawAdvance(raw []byte, ri, ti, t int) (int, int, bool) {
	for ti < t && ri < len(raw) {
		if raw[ri] != '\\' {
			ri, ti = ri+1, ti+1
			continue
		}
		el, dl := 2, 1
		if raw[ri+1] == 'u' {
			r, _ := hex4(raw, ri+2)
			el, dl = 6, utf8.RuneLen(r)
			if utf16.IsSurrogate(r) {
				dl = 3 // U+FFFD
				if ri+12 <= len(raw) && raw[ri+6] == '\\' && raw[ri+7] == 'u' {
					if r2, ok := hex4(raw, ri+8); ok && utf16.DecodeRune(r, r2) != utf8.RuneError {
						el, dl = 12, 4
					}
				}
			}
		}
		if ti+dl > t {
			return ri, ti, false
		}
		ri, ti = ri+el, ti+dl
	}
	return ri, ti, ti == t
}

// storableEscapes reports whether every \u escape of raw is a character
// other than U+0000 or a valid surrogate pair.
func storableEscapes(raw []byte) bool {
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok || r == 0 {
			return false
		}
		if utf16.IsSurrogate(r) {
			if i+12 > len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
				return false
			}
			r2, ok := hex4(raw, i+8)
			if !ok || utf16.DecodeRune(r, r2) == utf8.RuneError {
				return false
			}
			i += 6
		}
		i += 5
	}
	return true
}

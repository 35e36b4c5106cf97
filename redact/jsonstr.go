package redact

import (
	"unicode/utf8"
	"unsafe"
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
	// key its context (memo.go).
	memoable := w.memoable(raw, escaped || nonASCII, isKey)
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
	nf := w.finds
	w.emit(text, raw, verbatim, ctx, mask, isKey)
	if memoable && w.finds == nf && len(w.out)-outMark == len(raw)+2 &&
		string(w.out[outMark+1:len(w.out)-1]) == string(raw) {
		w.memoStore(raw, isKey, ctx, next) // written unchanged
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
		w.finds++
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
	w.finds++ // even if a replacement reads as the text it replaces
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
	w.finds++
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

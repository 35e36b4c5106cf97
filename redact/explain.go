package redact

import (
	"strconv"
	"unicode/utf8"
)

// Hit is one replacement, described without the text it replaced: for
// tuning rules (audit-sidecar redact --explain) and for the manifest of a
// record.
type Hit struct {
	Rule   string // "builtin:CARD", "rule:<name>" or "path:<path>"
	Type   string // the counted type
	Action string // mask, hash, partial or drop
	// Path is where the value is: keys and [index] from the root,
	// "arguments.to[0]"; a key that is not a plain word is quoted
	// (["a b"]). Empty for a plain string.
	Path string
	Key  bool // the hit is in the object key at Path, not in its value
	// Start and End are byte offsets of the replaced text in the value:
	// the decoded string (a string inside JSON held in a string counts in
	// that inner string), or the compact JSON of a value replaced whole.
	Start, End int
}

var actionNames = [...]string{actMask: "mask", actHash: "hash", actPartial: "partial", actDrop: "drop"}

// ExplainJSON is JSONAt that also returns every replacement.
func (r *Redactor) ExplainJSON(dst, src []byte, root string, counts map[string]int) ([]byte, []Hit, error) {
	out, hits, err := r.jsonAt(dst, src, root, counts, true, nil)
	return out, hits, err
}

// MaxHitPathBytes bounds Hit.Path in ExplainJSONFunc: a longer path is
// cut after its first segment that reaches this length.
const MaxHitPathBytes = 1024

// ExplainJSONFunc is ExplainJSON that hands each replacement to hit as it
// is made instead of returning them all, so that what it keeps does not
// grow with the number of replacements (a line of a million e-mail
// addresses is a million hits). Consecutive hits at the same path share
// one Path string, and a path is cut after MaxHitPathBytes (a deeply
// nested value has a long one). A string holding JSON whose walk finds
// something is walked twice, the second time reporting. hit is called
// before JSON returns, in order; if src turns out not to be valid JSON,
// or its output too large, the hits reported before the error stand for
// text that is not in the output (the caller replaces the value whole).
func (r *Redactor) ExplainJSONFunc(dst, src []byte, root string, counts map[string]int, hit func(Hit)) ([]byte, error) {
	out, _, err := r.jsonAt(dst, src, root, counts, true, hit)
	return out, err
}

// ExplainString is String that also returns every replacement. Like
// String it fails closed: a value it cannot scan is one UNPROCESSABLE hit.
func (r *Redactor) ExplainString(s string, counts map[string]int) (out string, hits []Hit) {
	unprocessable := []Hit{{Rule: "builtin:" + TypeUnprocessable, Type: TypeUnprocessable, Action: "mask", End: len(s)}}
	if len(s) > MaxValueBytes {
		addCount(counts, TypeUnprocessable)
		return Unprocessable, unprocessable
	}
	defer func() {
		if recover() != nil {
			addCount(counts, TypeUnprocessable)
			out, hits = Unprocessable, unprocessable
		}
	}()
	ms := r.find(s, 0, maskUnknown, nil)
	hits = make([]Hit, 0, len(ms))
	for _, m := range ms {
		hits = append(hits, r.hit(m.kind, "", false, m.start, m.end))
	}
	return r.String(s, counts), hits
}

func (r *Redactor) hit(k uint16, path string, key bool, start, end int) Hit {
	kd := &r.kinds[k]
	return Hit{Rule: kd.rule, Type: kd.name, Action: actionNames[kd.action], Path: path, Key: key, Start: start, End: end}
}

// While it records hits the walker keeps the path of the current value as
// segments pointing at the keys it has written (redacted and escaped) in
// its output, and formats a path only for a hit. The keys of the current
// path are never rewritten while they are on it: output is only cut back
// or rewritten after the member that wrote them.

// segment is one level of the current path: the key in out[start:end], or
// with start == segIndex the array index end, or with start == segHidden a
// key inside a value a path rule replaces (nothing is recorded there).
type segment struct{ start, end int }

const (
	segIndex  = -1
	segHidden = -2
)

func (w *walker) pushSeg(s segment) { w.segs = append(w.segs, s) }
func (w *walker) popSeg()           { w.segs = w.segs[:len(w.segs)-1] }

// appendPath appends the current path: the prefix (the root, or the path
// of the string holding this document) and the segments. With onHit it
// is cut to MaxHitPathBytes, so that a hit deep in a document costs no
// more than that.
func (w *walker) appendPath(dst []byte) []byte {
	if w.up != nil {
		dst = w.up.appendPath(dst)
	} else {
		dst = append(dst, w.root...)
	}
	for _, s := range w.segs {
		if w.onHit != nil && len(dst) > MaxHitPathBytes {
			break
		}
		dst = w.appendSeg(dst, s)
	}
	return w.cutPath(dst)
}

// cutPath cuts a path built from dst[0] to MaxHitPathBytes with onHit.
func (w *walker) cutPath(p []byte) []byte {
	if w.onHit != nil && len(p) > MaxHitPathBytes {
		return p[:MaxHitPathBytes]
	}
	return p
}

func (w *walker) appendSeg(dst []byte, s segment) []byte {
	switch s.start {
	case segIndex:
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(s.end), 10)
		return append(dst, ']')
	case segHidden:
		return dst
	}
	key := view(w.out[s.start:s.end])
	if plainKey(key) {
		if len(dst) > 0 {
			dst = append(dst, '.')
		}
		return append(dst, key...)
	}
	if room := MaxHitPathBytes - len(dst) + utf8.UTFMax; w.onHit != nil && len(key) > room {
		// Only the first bytes can be in the cut path: quote whole runes
		// up to past the cut, which quote as they do in the whole key.
		n := max(room, 0)
		for n > 0 && !utf8.RuneStart(key[n]) {
			n--
		}
		key = key[:n]
	}
	dst = append(dst, '[')
	dst = strconv.AppendQuote(dst, key)
	return append(dst, ']')
}

// plainKey reports whether a key can be written bare in a path.
func plainKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func (w *walker) addHit(k uint16, key bool, start, end int) {
	var buf [128]byte
	w.report(w.r.hit(k, w.pathString(w.appendPath(buf[:0])), key, start, end))
}

// report hands h to the caller's function, or keeps it for the result.
func (w *walker) report(h Hit) {
	if w.onHit != nil {
		w.onHit(h)
		return
	}
	w.hits = append(w.hits, h)
}

// pathString returns p as a string; with onHit, cut to MaxHitPathBytes
// and, when it is the path of the previous hit, that hit's string.
func (w *walker) pathString(p []byte) string {
	if w.onHit == nil {
		return string(p)
	}
	if w.lastPath != string(p) { // compared without a copy
		w.lastPath = string(p)
	}
	return w.lastPath
}

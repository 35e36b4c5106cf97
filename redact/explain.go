package redact

import (
	"strconv"
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

// ExplainJSON is JSONAt that also returns every replacement. A value in
// which nothing is found costs what JSONAt costs; otherwise it is walked a
// second time, keeping paths (redaction is deterministic, so both walks
// write the same bytes).
func (r *Redactor) ExplainJSON(dst, src []byte, root string, counts map[string]int) ([]byte, []Hit, error) {
	mark := len(dst)
	out, found, err := r.jsonAt(dst, src, root, counts, nil)
	if err != nil || !found {
		return out, nil, err
	}
	var hits []Hit
	out, _, err = r.jsonAt(out[:mark], src, root, nil, &hits)
	return out, hits, err
}

// ExplainString is String that also returns every replacement.
func (r *Redactor) ExplainString(s string, counts map[string]int) (string, []Hit) {
	if len(s) > MaxValueBytes {
		addCount(counts, TypeUnprocessable)
		return Unprocessable, []Hit{{Rule: "builtin:" + TypeUnprocessable, Type: TypeUnprocessable, Action: "mask", End: len(s)}}
	}
	ms := r.find(s, 0, maskUnknown, nil)
	hits := make([]Hit, 0, len(ms))
	for _, m := range ms {
		hits = append(hits, r.hit(m.kind, "", false, m.start, m.end))
	}
	return r.String(s, counts), hits
}

func (r *Redactor) hit(k uint16, path string, key bool, start, end int) Hit {
	kd := &r.kinds[k]
	return Hit{Rule: kd.rule, Type: kd.name, Action: actionNames[kd.action], Path: path, Key: key, Start: start, End: end}
}

// The walker keeps the path of the current value in jpath while it
// records hits.

func (w *walker) pushPathKey(key string) int {
	mark := len(w.jpath)
	if plainKey(key) {
		if len(w.jpath) > 0 {
			w.jpath = append(w.jpath, '.')
		}
		w.jpath = append(w.jpath, key...)
	} else {
		w.jpath = append(w.jpath, '[')
		w.jpath = strconv.AppendQuote(w.jpath, key)
		w.jpath = append(w.jpath, ']')
	}
	return mark
}

func (w *walker) pushPathIndex(i int) int {
	mark := len(w.jpath)
	w.jpath = append(w.jpath, '[')
	w.jpath = strconv.AppendInt(w.jpath, int64(i), 10)
	w.jpath = append(w.jpath, ']')
	return mark
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
	*w.hits = append(*w.hits, w.r.hit(k, string(w.jpath), key, start, end))
}

func (w *walker) popPath() {
	w.jpath = w.jpath[:w.jmarks[len(w.jmarks)-1]]
	w.jmarks = w.jmarks[:len(w.jmarks)-1]
}

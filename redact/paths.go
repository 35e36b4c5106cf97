package redact

import (
	"errors"
	"fmt"
	"strings"
)

// PathRule redacts a whole JSON value by where it is, whatever it holds:
// an object or array is replaced as one value.
//
// Path is a list of object keys separated by '.', compared
// case-insensitively; '*' stands for any one key. A path matches the end
// of a value's path, so "password" matches a password key at any depth,
// "*.ssn" an ssn key inside any object, "arguments.card.*" every member of
// the card object under arguments. Array elements add no key: "items.ssn"
// matches the ssn of every element of items. The first matching rule in
// configuration order applies.
type PathRule struct {
	Path   string
	Action string // "mask" (default), "hash", "partial" or "drop"
	// Name is the type written in the mask and counted; by default the
	// last key of Path that is not '*', upper-cased, other bytes than
	// letters and digits turned into '_'.
	Name string
}

// MaxPaths bounds the number of path rules (each is compared with the
// path of every value).
const MaxPaths = 1000

type pathRule struct {
	segs []string
	kind uint16
}

// compilePaths validates and adds the path rules, one kind each, and
// reports whether one of them hashes.
func (r *Redactor) compilePaths(paths []PathRule, bad func(string, error)) bool {
	if len(paths) > MaxPaths {
		bad("paths", fmt.Errorf("at most %d paths", MaxPaths))
		paths = paths[:MaxPaths]
	}
	hashes := false
	for i, p := range paths {
		item := fmt.Sprintf("paths[%d]", i)
		segs, err := parsePath(p.Path)
		if err != nil {
			bad(item+".path", err)
			continue
		}
		act, err := parseAction(p.Action)
		if err != nil {
			bad(item+".action", err)
			continue
		}
		name := p.Name
		if name == "" {
			name = pathTypeName(segs)
		} else if err := checkRuleName(name); err != nil {
			bad(item+".name", err)
			continue
		}
		t := ruleType(name)
		hashes = hashes || act == actHash
		r.paths = append(r.paths, pathRule{segs: segs, kind: uint16(len(r.kinds))})
		r.kinds = append(r.kinds, kind{name: t, mask: "[REDACTED:" + t + "]", action: act, rule: "path:" + p.Path})
	}
	return hashes
}

func parsePath(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("required")
	}
	if len(p) > 512 {
		return nil, errors.New("longer than 512 bytes")
	}
	segs := strings.Split(p, ".")
	if len(segs) > 32 {
		return nil, errors.New("more than 32 keys")
	}
	named := false
	for _, s := range segs {
		if s == "" {
			return nil, errors.New("empty key")
		}
		named = named || s != "*"
	}
	if !named {
		return nil, errors.New("names no key")
	}
	return segs, nil
}

// pathTypeName derives a type from the last named key of a path.
func pathTypeName(segs []string) string {
	last := ""
	for _, s := range segs {
		if s != "*" {
			last = s
		}
	}
	b := []byte(strings.ToUpper(last))
	for i, c := range b {
		if !isAlnum(c) {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// pathSeg is one key of the walker's current path, in walker.keys.
type pathSeg struct{ start, end int }

// pathKind returns the kind of the first path rule matching the walker's
// current path.
func (w *walker) pathKind() (uint16, bool) {
	for i := range w.r.paths {
		p := &w.r.paths[i]
		if len(p.segs) > len(w.path) {
			continue
		}
		ok := true
		for j := 1; j <= len(p.segs) && ok; j++ {
			seg := p.segs[len(p.segs)-j]
			if seg == "*" {
				continue
			}
			ps := w.path[len(w.path)-j]
			ok = strings.EqualFold(seg, view(w.keys[ps.start:ps.end]))
		}
		if ok {
			return p.kind, true
		}
	}
	return 0, false
}

func (w *walker) pushKey(k string) {
	start := len(w.keys)
	w.keys = append(w.keys, k...)
	w.path = append(w.path, pathSeg{start, len(w.keys)})
}

func (w *walker) popKey() {
	last := w.path[len(w.path)-1]
	w.keys = w.keys[:last.start]
	w.path = w.path[:len(w.path)-1]
}

// pathValue handles a value whose path matched a rule of kind k: it is
// parsed (and checked) without being redacted, then replaced whole.
func (w *walker) pathValue(depth int, k uint16) bool {
	mark := len(w.out)
	w.skip++
	ok := w.value(depth, 0)
	w.skip--
	if !ok {
		return false
	}
	raw := w.out[mark:]
	kd := &w.r.kinds[k]
	w.counts[k]++
	if w.track {
		w.addHit(k, false, 0, len(raw))
	}
	if kd.action == actDrop {
		w.out = w.out[:mark]
		w.dropped = true
		return true
	}
	text := view(raw)
	if len(raw) >= 2 && raw[0] == '"' {
		// The text of a string: skipped strings are written re-encoded, so
		// decoding cannot fail.
		w.scratch, _ = decodeString(w.scratch[:0], raw[1:len(raw)-1])
		w.scratchUsed = max(w.scratchUsed, len(w.scratch))
		text = view(w.scratch)
	}
	var tmp [160]byte
	rep := w.r.appendReplacement(tmp[:0], k, text)
	w.out = append(append(append(w.out[:mark], '"'), rep...), '"')
	return true
}

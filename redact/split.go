package redact

import "slices"

// Values split across fields: a card number in cc1..cc4, a phone number in
// area_code and number. Consecutive members of one object whose values are
// short digit strings or integers are joined; a run of them whose digits
// form a valid card in a printed grouping (4-4-4-4, 4-6-5, ...) or a US
// number (3-3-4, 3-7) has every part replaced.

// maxSplitParts bounds the parts joined (a card has at most five groups).
const maxSplitParts = 5

// splitPart is a member value that may be part of a split number: its span
// in walker.out and its digits.
type splitPart struct {
	start, end int
	digits     [8]byte
	n          int
	key        segment // with track: the member's key in walker.out
}

// splitCandidate reports whether raw (a written value) is 1-7 digits,
// quoted or not, and returns them.
func splitCandidate(raw []byte) (p splitPart, ok bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	if len(raw) == 0 || len(raw) > 7 {
		return p, false
	}
	for _, c := range raw {
		if !isDigit(c) {
			return p, false
		}
	}
	p.n = copy(p.digits[:], raw)
	return p, true
}

// splitRun replaces the values of parts that together form a card or a
// phone number. parts are consecutive members, in order; the spans are in
// w.out and nothing after the last part but other members has been
// written.
func (w *walker) splitRun(parts []splitPart) {
	if len(parts) < 2 {
		return
	}
	var lens [maxSplitParts]int
	var digits [40]byte
	type hit struct{ from, to, kind int }
	var hits [maxSplitParts]hit
	nh := 0
	for i := 0; i < len(parts); {
		found := false
		for k := min(len(parts)-i, maxSplitParts); k >= 2 && !found; k-- {
			nd := 0
			for j := 0; j < k; j++ {
				p := &parts[i+j]
				lens[j] = p.n
				nd += copy(digits[nd:], p.digits[:p.n])
			}
			d := digits[:nd]
			switch {
			case w.r.on.has(kCard) && nd >= 13 && nd <= 19 && cardGroupsOK(lens[:k]) && cardValid(d):
				hits[nh] = hit{i, i + k, kCard}
			case w.r.on.has(kPhone) && nd == 10 && (k == 2 && lens[0] == 3 || k == 3 && lens[0] == 3 && lens[1] == 3) &&
				d[0] >= '2' && d[3] >= '2':
				hits[nh] = hit{i, i + k, kPhone}
			default:
				continue
			}
			nh++
			found = true
			i += k
		}
		if !found {
			i++
		}
	}
	// Record the hits first: the parts' keys move when values before them
	// are replaced.
	if w.track {
		var buf [128]byte
		parent := w.appendPath(buf[:0])
		for h := 0; h < nh; h++ {
			for j := hits[h].from; j < hits[h].to; j++ {
				path := w.cutPath(w.appendSeg(parent, parts[j].key))
				w.report(w.r.hit(uint16(hits[h].kind), w.pathString(path), false, 0, parts[j].n))
			}
		}
	}
	// Replace from the last part backwards: earlier spans stay valid.
	for h := nh - 1; h >= 0; h-- {
		k := uint16(hits[h].kind)
		for j := hits[h].to - 1; j >= hits[h].from; j-- {
			p := &parts[j]
			var tmp [64]byte
			rep := append(w.r.appendReplacement(append(tmp[:0], '"'), k, string(p.digits[:p.n])), '"')
			w.out = slices.Replace(w.out, p.start, p.end, rep...)
		}
		w.counts[k]++
	}
}

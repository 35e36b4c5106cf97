package redact

func (w *walker) literal(lit string) bool {
	if len(w.src)-w.pos < len(lit) || string(w.src[w.pos:w.pos+len(lit)]) != lit {
		return w.fail("invalid literal")
	}
	w.pos += len(lit)
	w.out = append(w.out, lit...)
	return true
}

// number validates the JSON number grammar and copies the bytes verbatim,
// or, for a long integer, as integer decides.
func (w *walker) number(ctx keyCtx) bool {
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
	if l := i - w.pos; (l >= minScannedNumber || l >= 3 && ctx&(ctxCVV|ctxPassword|ctxPhone) != 0) && l <= 19 &&
		w.skip == 0 && isDigit(s[w.pos]) && allDigitsB(s[w.pos:i]) {
		w.integer(view(s[w.pos:i]), ctx)
	} else {
		w.out = append(w.out, s[w.pos:i]...)
	}
	w.pos = i
	return true
}

// minScannedNumber is the shortest integer literal scanned: a card,
// national id or phone number may be passed as a JSON number.
const minScannedNumber = 9

// integer writes a long integer literal, replaced (as a string) when it is
// something the packs find, such as a card number.
func (w *walker) integer(text string, ctx keyCtx) {
	var buf [2]match
	ms := w.r.find(text, ctx, tDigit, buf[:0])
	if len(ms) == 0 || ms[0].start != 0 || ms[0].end != len(text) {
		w.out = append(w.out, text...)
		return
	}
	k := ms[0].kind
	w.out = append(w.r.appendReplacement(append(w.out, '"'), k, text), '"')
	w.counts[k]++
	if w.track {
		w.addHit(k, false, 0, len(text))
	}
	if w.r.kinds[k].action == actDrop {
		w.dropped = true
	}
}

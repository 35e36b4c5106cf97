package redact

import (
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fips-agents/audit-sidecar/record"
)

// The escapes of JSON strings: decoding a string's body to its text, and
// writing text or the raw body around replacements.

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

package redact

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Encoded forms inside a string: URL encoding (%40, and '+' for a space in
// a query string or form body) and \uXXXX escapes (JSON text held in a
// string that is not itself parsed as JSON, a log line quoting JSON). The
// text is decoded once more, up to maxDecodeRounds times, the decoded view
// is scanned, and every span found there is mapped back to the bytes that
// encode it, so the replacement covers the encoded form.

// maxDecodeRounds bounds nested encodings (%2540 is a '@' encoded twice).
const maxDecodeRounds = 3

// hasEncoded reports whether s holds a %XX or \uXXXX sequence.
func hasEncoded(s string) bool {
	for off := 0; off < len(s); {
		k := strings.IndexAny(s[off:], `%\`)
		if k < 0 {
			return false
		}
		i := off + k
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			return true
		}
		if s[i] == '\\' && i+5 < len(s) && s[i+1] == 'u' && isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]) {
			return true
		}
		off = i + 1
	}
	return false
}

// formToken reports whether the space-delimited token of s starting at i
// is a query string or form body, where '+' encodes a space: it holds a
// '=' (name=value). It also returns the token's end.
func formToken(s string, i int) (bool, int) {
	e := strings.IndexByte(s[i:], ' ')
	if e < 0 {
		e = len(s)
	} else {
		e += i
	}
	return strings.IndexByte(s[i:e], '=') >= 0, e
}

// hasFormPlus reports whether a '+' of s is in a form token.
func hasFormPlus(s string) bool {
	for i := 0; i < len(s); {
		form, e := formToken(s, i)
		if form && strings.IndexByte(s[i:e], '+') >= 0 {
			return true
		}
		i = e + 1
	}
	return false
}

// decodeView decodes one level of %XX, '+' (in form tokens) and \uXXXX
// in s. It returns the text and, for each byte of it and one past the end,
// the offset in s where the unit holding that byte starts.
func decodeView(s string) (string, []int32) {
	out := make([]byte, 0, len(s))
	at := make([]int32, 0, len(s)+1)
	plus, tokEnd := false, -1
	for i := 0; i < len(s); {
		c := s[i]
		if i > tokEnd {
			plus, tokEnd = formToken(s, i)
		}
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, hexVal(s[i+1])<<4|hexVal(s[i+2]))
			at = append(at, int32(i))
			i += 3
			continue
		case c == '+' && plus:
			out = append(out, ' ')
			at = append(at, int32(i))
			i++
			continue
		case c == '\\' && i+5 < len(s) && s[i+1] == 'u':
			if r, ok := hex4s(s, i+2); ok {
				n := 6
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(0), false
					if i+11 < len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
						r2, ok2 = hex4s(s, i+8)
					}
					if d := utf16.DecodeRune(r, r2); ok2 && d != utf8.RuneError {
						r, n = d, 12
					} else {
						r = utf8.RuneError
					}
				}
				l := len(out)
				out = utf8.AppendRune(out, r)
				for range len(out) - l {
					at = append(at, int32(i))
				}
				i += n
				continue
			}
		}
		out = append(out, c)
		at = append(at, int32(i))
		i++
	}
	return string(out), append(at, int32(len(s)))
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func hex4s(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for k := i; k < i+4; k++ {
		if !isHex(s[k]) {
			return 0, false
		}
		r = r<<4 | rune(hexVal(s[k]))
	}
	return r, true
}

// findEncoded adds the spans found in the decoded views of s.
func (r *Redactor) findEncoded(s string, ctx keyCtx, ms []match) []match {
	text := s
	var at []int32 // offset in s of each byte of text; nil while text is s
	for round := 0; round < maxDecodeRounds && (hasEncoded(text) || round == 0 && hasFormPlus(s)); round++ {
		dec, m := decodeView(text)
		if at != nil {
			for i := range m {
				m[i] = at[m[i]]
			}
		}
		text, at = dec, m
		var buf [8]match
		for _, x := range r.findPlain(text, ctx, maskUnknown, buf[:0]) {
			ms = append(ms, match{int(at[x.start]), int(at[x.end]), x.kind})
		}
	}
	return ms
}

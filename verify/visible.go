package verify

import (
	"html/template"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Strings from a store or an export (chain ids, kids, actions) are
// hostile: a chain id holding "\r", an escape sequence or a bidi override
// could rewrite what a terminal or a page shows, a fake verdict included.
// The verifier's texts quote them with %q (Go quoting: every character
// that is not printable is escaped), and what reaches a terminal or a page
// passes through Visible or visibleHTML as well.

// Visible returns s with every character that is not printable (control
// characters, format characters such as bidi overrides and zero-width
// spaces, separators other than the ASCII space, invalid UTF-8) written
// as the Go escape strconv.Quote would use (\r, \x1b, \u202e, \xff);
// printable text, backslashes and quotes included, is kept as is.
// tools/verify_export.py does the same.
func Visible(s string) string {
	i := invisibleAt(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i >= 0 {
		b.WriteString(s[:i])
		n := runeLen(s[i:])
		b.WriteString(escapeRune(s[i : i+n]))
		s = s[i+n:]
		i = invisibleAt(s)
	}
	b.WriteString(s)
	return b.String()
}

// visibleHTML is Visible for an HTML page: s escaped for HTML, each
// character that is not printable shown as its escape in a marked span,
// so that it can be told from the same characters typed.
func visibleHTML(s string) template.HTML {
	var b strings.Builder
	for {
		i := invisibleAt(s)
		if i < 0 {
			b.WriteString(template.HTMLEscapeString(s))
			return template.HTML(b.String())
		}
		b.WriteString(template.HTMLEscapeString(s[:i]))
		n := runeLen(s[i:])
		b.WriteString(`<span class="ctl" title="a character that is not printable">`)
		b.WriteString(template.HTMLEscapeString(escapeRune(s[i : i+n])))
		b.WriteString(`</span>`)
		s = s[i+n:]
	}
}

// invisibleAt is the byte index of the first character of s that is not
// printable, or -1.
func invisibleAt(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return i
			}
		}
		if !strconv.IsPrint(r) {
			return i
		}
	}
	return -1
}

// runeLen is the length in bytes of the first character of s (1 for an
// invalid byte).
func runeLen(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return n
}

// escapeRune is the Go escape of one character (or invalid byte) c.
func escapeRune(c string) string {
	q := strconv.Quote(c)
	return q[1 : len(q)-1]
}

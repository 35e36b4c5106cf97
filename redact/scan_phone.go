package redact

// usPhone matches ddd-ddd-dddd with '-', '.' or ' ' separators at s[p:]
// (s[p:p+3] are digits). Unless both separators are dashes, the area code
// and the exchange must start with 2-9 (NANP), which keeps runs of small
// numbers in prose from matching.
func usPhone(s string, p int) int {
	e := p + 12
	if e > len(s) || !isPhoneSep(s[p+3]) || !allDigits(s, p+4, 3) ||
		!isPhoneSep(s[p+7]) || !allDigits(s, p+8, 4) {
		return -1
	}
	if e < len(s) && isDigit(s[e]) {
		return -1
	}
	if (s[p+3] != '-' || s[p+7] != '-') && (s[p] < '2' || s[p+4] < '2') {
		return -1
	}
	return e
}

// parenPhone matches a number with its area code in parentheses at s[p:]
// (s[p] is '('): US (ddd) ddd-dddd, the space after ')' optional and the
// last separator '-', '.' or ' '; a national trunk prefix, (020) 7946 0958
// or (030) 12345678; Brazil (11) 98765-4321 or (11) 3456-7890.
func parenPhone(s string, p int) int {
	k := runEnd(s, p+1, clDigit)
	if k >= len(s) || s[k] != ')' {
		return -1
	}
	l := k - p - 1
	q := k + 1
	if q < len(s) && s[q] == ' ' {
		q++
	}
	switch {
	case l == 3 && s[p+1] != '0':
		if !allDigits(s, q, 3) || q+3 >= len(s) || !isPhoneSep(s[q+3]) || !allDigits(s, q+4, 4) {
			return -1
		}
		if e := q + 8; e == len(s) || !isDigit(s[e]) {
			return e
		}
	case l >= 3 && l <= 5 && s[p+1] == '0':
		nd, e := l, q
		for {
			j := runEnd(s, e, clDigit)
			if gl := j - e; gl < 2 || gl > 8 || nd+gl > 12 {
				if nd == l {
					return -1
				}
				e-- // the number ends before this group
				break
			}
			nd += j - e
			e = j
			if e+1 < len(s) && (s[e] == ' ' || s[e] == '-') && isDigit(s[e+1]) {
				e++
				continue
			}
			break
		}
		if nd >= 9 {
			return e
		}
	case l == 2 && s[p+1] != '0':
		return brLocal(s, q)
	}
	return -1
}

// brLocal matches the local part of a Brazilian number at s[q:]:
// 9dddd-dddd (mobile) or dddd-dddd, '-' or ' ' between.
func brLocal(s string, q int) int {
	j := runEnd(s, q, clDigit)
	if l := j - q; !(l == 4 && s[q] >= '2' || l == 5 && s[q] == '9') {
		return -1
	}
	if j+5 > len(s) || (s[j] != '-' && s[j] != ' ') || !allDigits(s, j+1, 4) || isDigit(byteAt(s, j+5)) {
		return -1
	}
	return j + 5
}

// phoneStart reports whether a national number may start at i: not glued
// to a word, a time or an identifier ("ORD-0229-385114", "a/030"), and
// not after another group of digits (tracking numbers, lists of numbers)
// or a pair of hex digits (a hex dump).
func phoneStart(s string, i int) bool {
	if i == 0 {
		return true
	}
	p := s[i-1]
	if isAlnum(p) || p == '-' || p == '.' || p == '_' || p == '/' || p == ':' {
		return false
	}
	if p == ' ' && i >= 3 && isHex(s[i-2]) && isHex(s[i-3]) && (i == 3 || s[i-4] == ' ') {
		return false // after a pair of hex digits: a hex dump
	}
	return !(p == ' ' && i >= 2 && isDigit(s[i-2]))
}

// afterStateCode reports whether two capitals and one or two spaces come
// right before i, as a US state code before a ZIP code.
func afterStateCode(s string, i int) bool {
	k := i - 1
	for k >= 0 && i-k <= 2 && s[k] == ' ' {
		k--
	}
	return k < i-1 && k >= 1 && isUpper(s[k]) && isUpper(s[k-1]) && (k == 1 || !isAlnum(s[k-2]))
}

// nationalPhone matches a number in a national format at s[i:], where the
// digit run s[i:j] is followed by a separator:
//   - a trunk prefix 0 and 1-4 more digits, then groups of 2-8 digits
//     split by the same single space, dash or dot ('/' may follow the
//     area code), 9-12 digits in all: UK 020 7946 0958, 07700 900123;
//     DE 030 12345678, 030/1234567; FR 01 23 45 67 89; IN 022 2345 6789;
//     or the international prefix 00 and 10-15 digits split by spaces;
//   - Brazil 11 98765-4321 (a mobile number after the area code);
//   - India 98765 43210 (a mobile number in two groups of five).
func nationalPhone(s string, i, j int) int {
	l := j - i
	if !phoneStart(s, i) {
		return -1
	}
	switch {
	case s[i] == '0' && l >= 2 && l <= 5:
		intl := s[i+1] == '0'
		if intl && s[j] != ' ' {
			return -1
		}
		maxDigits := 12
		if intl {
			maxDigits = 15
		}
		nd, e, ng := l, j, 1
		want := s[j]
		for e+1 < len(s) && isDigit(s[e+1]) {
			c := s[e]
			if want == 0 {
				if c != ' ' && c != '-' {
					break
				}
				want = c
			} else if c != want {
				break
			}
			if ng == 1 && c == '/' {
				want = 0
			}
			k := runEnd(s, e+1, clDigit)
			gl := k - e - 1
			if gl < 2 || gl > 8 || nd+gl > maxDigits {
				return -1 // a longer sequence of numbers
			}
			nd += gl
			ng++
			e = k
		}
		if ng < 2 || nd < 9 || intl && nd < 10 || isAlnumAt(s, e) || l == 2 && !intl && nd != 10 {
			return -1 // a two-digit first group is French: 0X and four pairs
		}
		if e+1 < len(s) && (s[e] == '-' || s[e] == '.' || s[e] == '/') && isDigit(s[e+1]) {
			return -1 // another shape: 032.006.942-71 is a CPF
		}
		if l == 5 && nd == 9 && s[j] == '-' && afterStateCode(s, i) {
			return -1 // a US ZIP+4 code: "Boston, MA 02111-1307"
		}
		return e
	case l == 2 && s[i] != '0' && s[i+1] != '0' && s[j] == ' ':
		if e := brLocal(s, j+1); e > 0 && s[j+6] == '-' {
			return e
		}
	case l == 5 && s[i] >= '6' && s[j] == ' ':
		if runEnd(s, j+1, clDigit) == j+6 && !isAlnumAt(s, j+6) &&
			!(j+7 < len(s) && isPhoneSep(s[j+6]) && isDigit(s[j+7])) {
			return j + 6
		}
	}
	return -1
}

// plusPhone matches at s[p:] (s[p] is '+'): a US number after "+1" and an
// optional separator, or E.164: 8-15 digits, optionally in groups split by
// single spaces or dashes.
func plusPhone(s string, p int) int {
	n := len(s)
	if p+2 < n && s[p+1] == '1' {
		q := p + 2
		if isPhoneSep(s[q]) {
			q++
		}
		if q < n && s[q] == '(' {
			if e := parenPhone(s, q); e > 0 {
				return e
			}
		} else if runEnd(s, q, clDigit) == q+3 && q+3 < n {
			if e := usPhone(s, q); e > 0 {
				return e
			}
		}
	}
	// Collect groups while they fit in 15 digits, then take the longest
	// run of groups that ends at a word boundary. Country codes start with
	// 1-9 and are at most three digits long, so "+0123 2006" and
	// "+1130 2010" (time zone offsets before a year) are not numbers.
	if p+1 >= n || s[p+1] < '1' || s[p+1] > '9' {
		return -1
	}
	if first := runEnd(s, p+1, clDigit) - p - 1; first > 3 && first < 8 {
		return -1
	}
	var ends, counts [15]int
	q, nd, ng := p+1, 0, 0
	for ng < len(ends) {
		paren := ng > 0 && q < n && s[q] == '(' // +49 (0)30 ..., +55 (11) ...
		if paren {
			q++
		}
		j := runEnd(s, q, clDigit)
		l := j - q
		if l == 0 || nd+l > 15 || paren && (l > 4 || j >= n || s[j] != ')') {
			break
		}
		nd += l
		if paren {
			j++
		}
		ends[ng], counts[ng] = j, nd
		ng++
		if j+1 < n && (s[j] == ' ' || s[j] == '-') && (isDigit(s[j+1]) || s[j+1] == '(') {
			q = j + 1
		} else if paren && j < n && isDigit(s[j]) {
			q = j
		} else {
			break
		}
	}
	for k := ng - 1; k >= 0 && counts[k] >= 8; k-- {
		e := ends[k]
		if e < n && (isDigit(s[e]) || s[e] == '.' && e+1 < n && isDigit(s[e+1])) {
			continue // inside a longer or a decimal number
		}
		return e
	}
	return -1
}

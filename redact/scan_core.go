package redact

import "strings"

// The core pack: cards, SSNs, phone numbers, IPv4 and IPv6 addresses,
// e-mail addresses. Each scanner finds candidates with byte tests and
// confirms them with a validator; none uses regexp.

func scanCore(s string, mask uint16, ms []match) []match {
	if mask&tDigit != 0 {
		ms = scanNumbers(s, ms)
	}
	if mask&tColon != 0 {
		ms = scanIPv6(s, ms)
	}
	if mask&tAt != 0 {
		ms = scanEmail(s, ms)
	}
	return ms
}

// scanNumbers finds cards, SSNs, phone numbers and IPv4 addresses. It walks
// the maximal digit runs of s once, so a match never starts or ends inside
// a longer digit run; the run's length and the byte after it decide which
// validators run. Letters next to a number block only contiguous card
// numbers (which hex ids and hashes can contain); shapes with separators
// (SSN, phone, grouped card, dotted quad) are distinctive enough to be
// redacted even when glued to a word ("tel:415-555-0132", "ip10.0.0.1").
func scanNumbers(s string, ms []match) []match {
	n := len(s)
	for i := 0; i < n; i++ {
		c := s[i]
		if c > '9' {
			continue
		}
		switch {
		case c >= '0':
			j := i + 1
			for j < n && isDigit(s[j]) {
				j++
			}
			ms = numberAt(s, i, j, ms)
			i = j - 1
		case c == '(':
			if e := parenPhone(s, i); e > 0 {
				ms = append(ms, match{i, e, kPhone})
			}
		case c == '+':
			if i > 0 && isDigit(s[i-1]) {
				continue // arithmetic, not a phone number
			}
			if e := plusPhone(s, i); e > 0 {
				ms = append(ms, match{i, e, kPhone})
			}
		}
	}
	return ms
}

// numberAt tries every number shape on the digit run s[i:j].
func numberAt(s string, i, j int, ms []match) []match {
	l := j - i
	var next byte
	if j < len(s) {
		next = s[j]
	}
	switch {
	case l >= 13 && l <= 19:
		if !isAlpha(next) && (i == 0 || !isAlpha(s[i-1])) && cardValid(s[i:j]) {
			ms = append(ms, match{i, j, kCard})
		}
	case l == 4:
		if next == ' ' || next == '-' {
			if e := groupedCard(s, i); e > 0 {
				ms = append(ms, match{i, e, kCard})
			}
		}
	case l == 3:
		if next == '-' {
			if e := ssnAt(s, i); e > 0 {
				ms = append(ms, match{i, e, kSSN})
			}
		}
		if isPhoneSep(next) {
			if e := usPhone(s, i); e > 0 {
				ms = append(ms, match{i, e, kPhone})
			}
		}
	case l == 1 && s[i] == '1' && isPhoneSep(next) && j+1 < len(s):
		// 1-800-555-0132, 1 (800) 555-0132
		e := -1
		if s[j+1] == '(' {
			e = parenPhone(s, j+1)
		} else if runEnd(s, j+1, clDigit) == j+4 {
			e = usPhone(s, j+1)
		}
		if e > 0 {
			ms = append(ms, match{i, e, kPhone})
		}
	}
	if l <= 3 && next == '.' && !(i >= 2 && s[i-1] == '.' && isDigit(s[i-2])) {
		if e := ipv4End(s, i); e > 0 && ipv4Ends(s, e) {
			ms = append(ms, match{i, e, kIPv4})
		}
	}
	return ms
}

// ipv4Ends reports whether a dotted quad may end at e: not followed by a
// digit or ".digit" (which would make it part of a version number or an
// OID).
func ipv4Ends(s string, e int) bool {
	if e == len(s) {
		return true
	}
	return !isDigit(s[e]) && !(s[e] == '.' && e+1 < len(s) && isDigit(s[e+1]))
}

// groupedCard matches a card number printed in groups separated by single
// spaces or dashes (the separator of the first group throughout), starting
// with the 4-digit group at s[i:]. It returns the end or -1. Longer
// groupings are tried first; a valid prefix of a longer digit sequence
// matches too, so a card followed by another number is still found.
func groupedCard(s string, i int) int {
	var digits [19]byte
	var lens, ends [5]int
	sep := s[i+4]
	nd, ng, p := 0, 0, i
	for ng < len(lens) {
		j := runEnd(s, p, clDigit)
		l := j - p
		if l == 0 || nd+l > len(digits) {
			break
		}
		copy(digits[nd:], s[p:j])
		nd += l
		lens[ng], ends[ng] = l, j
		ng++
		if j+1 < len(s) && s[j] == sep && isDigit(s[j+1]) {
			p = j + 1
		} else {
			break
		}
	}
	for k := ng; k >= 2; k-- {
		total := 0
		for _, l := range lens[:k] {
			total += l
		}
		if total < 13 || !cardGroupsOK(lens[:k]) {
			continue
		}
		if cardValid(digits[:total]) {
			return ends[k-1]
		}
	}
	return -1
}

// ssnAt matches ddd-dd-dddd at s[i:] (s[i:i+3] are digits, s[i+3] is '-').
func ssnAt(s string, i int) int {
	if !allDigits(s, i+4, 2) || i+6 >= len(s) || s[i+6] != '-' || !allDigits(s, i+7, 4) {
		return -1
	}
	e := i + 11
	if e < len(s) && isDigit(s[e]) {
		return -1
	}
	if !ssnValid(atoi(s[i:i+3]), atoi(s[i+4:i+6]), atoi(s[i+7:i+11])) {
		return -1
	}
	return e
}

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

// parenPhone matches (ddd) ddd-dddd at s[p:] (s[p] is '('); the space after
// ')' is optional and the last separator may be '-', '.' or ' '.
func parenPhone(s string, p int) int {
	if !allDigits(s, p+1, 3) || p+4 >= len(s) || s[p+4] != ')' {
		return -1
	}
	q := p + 5
	if q < len(s) && s[q] == ' ' {
		q++
	}
	if !allDigits(s, q, 3) || q+3 >= len(s) || !isPhoneSep(s[q+3]) || !allDigits(s, q+4, 4) {
		return -1
	}
	e := q + 8
	if e < len(s) && isDigit(s[e]) {
		return -1
	}
	return e
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
	// run of groups that ends at a word boundary.
	var ends, counts [15]int
	q, nd, ng := p+1, 0, 0
	for ng < len(ends) {
		j := runEnd(s, q, clDigit)
		l := j - q
		if l == 0 || nd+l > 15 {
			break
		}
		nd += l
		ends[ng], counts[ng] = j, nd
		ng++
		if j+1 < n && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]) {
			q = j + 1
		} else {
			break
		}
	}
	for k := ng - 1; k >= 0 && counts[k] >= 8; k-- {
		if e := ends[k]; e == n || !isDigit(s[e]) {
			return e
		}
	}
	return -1
}

// scanIPv6 expands each ':' to the surrounding run of hex digits, colons
// and dots and validates that token as an address.
func scanIPv6(s string, ms []match) []match {
	off := 0
	for off < len(s) {
		k := strings.IndexByte(s[off:], ':')
		if k < 0 {
			break
		}
		c := off + k
		a := c
		for a > 0 && (isHex(s[a-1]) || s[a-1] == ':') {
			a--
		}
		b := c + 1
		for b < len(s) && (isHex(s[b]) || s[b] == ':' || s[b] == '.') {
			b++
		}
		off = b
		e := b
		for e > a && s[e-1] == '.' {
			e--
		}
		if e-a >= 2 && s[e-1] == ':' && s[e-2] != ':' {
			e--
		}
		if e-a < 3 || (a > 0 && (isAlnum(s[a-1]) || s[a-1] == '_')) || (e < len(s) && isAlnum(s[e])) {
			continue
		}
		if validIPv6(s[a:e]) {
			ms = append(ms, match{a, e, kIPv6})
		}
	}
	return ms
}

// scanEmail expands each '@' left over local-part bytes and right over
// domain bytes, and keeps local@domain.tld shapes. Bytes >= 0x80 belong to
// both sides, so internationalised addresses are covered whole.
func scanEmail(s string, ms []match) []match {
	off := 0
	for off < len(s) {
		k := strings.IndexByte(s[off:], '@')
		if k < 0 {
			break
		}
		at := off + k
		if a, b := emailAt(s, at); b > 0 {
			ms = append(ms, match{a, b, kEmail})
			off = b
		} else {
			off = at + 1
		}
	}
	return ms
}

func emailAt(s string, at int) (int, int) {
	a := at
	for a > 0 && class[s[a-1]]&clLocal != 0 {
		a--
	}
	for a < at && s[a] == '.' {
		a++
	}
	if a == at {
		return -1, -1
	}
	b := runEnd(s, at+1, clDomain)
	if k := strings.Index(s[at+1:b], ".."); k >= 0 {
		b = at + 1 + k
	}
	for b > at+1 && (s[b-1] == '.' || s[b-1] == '-') {
		b--
	}
	dom := s[at+1 : b]
	dot := strings.LastIndexByte(dom, '.')
	if dot <= 0 || dom[0] == '-' || len(dom)-dot-1 < 2 {
		return -1, -1
	}
	if t := dom[dot+1]; !isAlpha(t) && t < 0x80 {
		return -1, -1
	}
	return a, b
}

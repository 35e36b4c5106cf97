package redact

import "strings"

// The core pack: cards, SSNs, phone numbers, IPv4 and IPv6 addresses,
// e-mail addresses. Each scanner finds candidates with byte tests and
// confirms them with a validator; none uses regexp.

func scanCore(s string, ctx keyCtx, on kindSet, mask uint16, ms []match) []match {
	if mask&tDigit != 0 && on&numericKinds != 0 {
		n := numScan{s: s, on: on, ctx: ctx}
		ms = n.run(ms)
	}
	if mask&tColon != 0 && on.has(kIPv6) {
		ms = scanIPv6(s, ms)
	}
	if mask&tAt != 0 && on.has(kEmail) && ctx&ctxMsgID == 0 {
		ms = scanEmail(s, ms)
	}
	return ms
}

// numScan finds every kind that starts with or is anchored on a digit:
// cards, IBANs, national identifiers, dates of birth, phone numbers and
// IPv4 addresses.
type numScan struct {
	s   string
	on  kindSet
	ctx keyCtx
}

// add appends s[a:b] as kind k if k is on (b <= a means no match).
func (n *numScan) add(ms []match, a, b, k int) []match {
	if b > a && n.on.has(k) {
		ms = append(ms, match{a, b, uint16(k)})
	}
	return ms
}

// run walks the maximal digit runs of s once, so a match never starts or
// ends inside a longer digit run; the run's length and the bytes around it
// decide which validators run. Letters next to a number block only
// contiguous card numbers (which hex ids and hashes can contain); shapes
// with separators (SSN, phone, grouped card, dotted quad) are distinctive
// enough to be redacted even when glued to a word ("tel:415-555-0132",
// "ip10.0.0.1").
func (n *numScan) run(ms []match) []match {
	s := n.s
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > '9' {
			continue
		}
		switch {
		case c >= '0':
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j-i < 13 && i > 0 && isLower(s[i-1]) && (j == len(s) || isLower(s[j])) {
				// Inside a lower-case word (a hex id, a hash): only a
				// card may be glued to letters (txn4111...), every
				// other shape needs a boundary, a separator or an
				// upper-case letter beside it.
				i = j - 1
				continue
			}
			ms = n.number(i, j, ms)
			i = j - 1
		case c == '(':
			if e := parenPhone(s, i); e > 0 {
				ms = n.add(ms, i, e, kPhone)
			}
		case c == '+':
			if i > 0 && isAlnum(s[i-1]) {
				continue // arithmetic or an exponent (1e+10), not a phone number
			}
			if e := plusPhone(s, i); e > 0 {
				ms = n.add(ms, i, e, kPhone)
			}
		}
	}
	return ms
}

// number tries every shape on the digit run s[i:j].
func (n *numScan) number(i, j int, ms []match) []match {
	s, on := n.s, n.on
	l := j - i
	var prev, next byte
	if i > 0 {
		prev = s[i-1]
	}
	if j < len(s) {
		next = s[j]
	}
	if isUpper(prev) {
		ms = n.afterLetters(i, j, ms)
	}
	if on.has(kVIN) && (isUpper(prev) || isUpper(next)) {
		ms = n.vin(i, j, ms)
	}
	if l >= 6 && l <= 12 && on.has(kMRN) {
		ms = n.mrn(i, j, ms)
	}
	if l <= 9 && on.has(kPassport) && (l >= 5 || isUpper(prev) || isUpper(next)) {
		ms = n.passportToken(i, j, ms)
	}
	if (l == 3 || l == 4) && cvvPrev[prev] && on.has(kCVV) {
		ms = n.cvv(i, j, ms)
	}
	if l <= 15 && (l >= 8 || isPhoneSep(next) && isDigit(byteAt(s, j+1)) && !(l == 4 && next == '-')) && on.has(kPhone) &&
		!isAlnum(prev) && prev != '+' && prev != '.' && prev != ':' && prev != '/' && !(isPhoneSep(prev) && i > 1 && isDigit(s[i-2])) {
		ms = n.phoneInContext(i, ms)
	}
	switch {
	case l >= 11 && l <= 19:
		if decimalAround(s, i, j) {
			break
		}
		glued := isAlpha(next) || isAlpha(prev)
		if l >= 13 && on.has(kCard) && cardValid(s[i:j]) && !(glued && hexToken(s, i, j)) {
			ms = n.add(ms, i, j, kCard) // also inside a longer token (ref-..., txn...), unless a hex id
		}
		if glued {
			break
		}
		ms = n.longRun(i, j, ms)
	case l == 4:
		if next == ' ' || next == '-' {
			if on.has(kCard) {
				if e := groupedCard(s, i); e > 0 {
					ms = n.add(ms, i, e, kCard)
				}
			}
			if on.has(kAadhaar) {
				ms = n.add(ms, i, aadhaarGrouped(s, i), kAadhaar)
			}
		}
		if on.has(kDOB) && (next == '-' || next == '/' || next == '.') {
			ms = n.dateYMD(i, ms)
		}
		if on.has(kDOB) && i > 0 && (prev == ' ' || prev == '-' || prev == ',') {
			ms = n.dateWords(i, ms)
		}
	case l == 3:
		if on&(1<<kSSN|1<<kITIN) != 0 && ssnSepWidth(s, j) > 0 && !(i > 1 && isPhoneSep(prev) && isDigit(s[i-2])) {
			e, k := ssnAt(s, i)
			ms = n.add(ms, i, e, k)
		}
		switch next {
		case '.':
			if on.has(kCPF) {
				ms = n.add(ms, i, cpfFormatted(s, i), kCPF)
			}
		}
		if isPhoneSep(next) && on.has(kPhone) {
			ms = n.add(ms, i, usPhone(s, i), kPhone)
		}
	case l == 2 || l == 1:
		if l == 2 && next == '.' && on.has(kCNPJ) {
			ms = n.add(ms, i, cnpjFormatted(s, i), kCNPJ)
		}
		if next == ' ' && on&(1<<kDETaxID|1<<kFRNIR) != 0 {
			ms = n.spacedID(i, j, ms)
		}
		if on.has(kDOB) && (next == '/' || next == '.' || next == '-') {
			ms = n.dateDMY(i, j, ms)
		}
		if l == 1 && s[i] == '1' && isPhoneSep(next) && j+1 < len(s) && on.has(kPhone) {
			// 1-800-555-0132, 1 (800) 555-0132
			e := -1
			if s[j+1] == '(' {
				e = parenPhone(s, j+1)
			} else if runEnd(s, j+1, clDigit) == j+4 {
				e = usPhone(s, j+1)
			}
			ms = n.add(ms, i, e, kPhone)
		}
	case l >= 5 && l <= 10:
		if l == 8 && on.has(kESNIF) && !isAlnum(prev) && prev != '.' && prev != ':' { // not the fraction of a time
			ms = n.add(ms, i, esDNIAt(s, i, j), kESNIF)
		}
		if l >= 6 && on.has(kPassport) {
			ms = n.passport(i, j, ms)
		}
		if l == 9 && on&(1<<kSSN|1<<kITIN) != 0 && !isAlnum(prev) && !isAlnum(next) {
			ms = n.bareSSN(i, j, ms)
		}
	}
	if (isPhoneSep(next) || next == '/') && prev != '+' && on.has(kPhone) {
		ms = n.add(ms, i, nationalPhone(s, i, j), kPhone)
	}
	if l <= 3 && next == '.' && on.has(kIPv4) && !(i >= 2 && s[i-1] == '.' && isDigit(s[i-2])) {
		if e := ipv4End(s, i); e > 0 && ipv4Ends(s, e) && !numberedSection(s, i) && !localIPv4(s[i:e]) {
			ms = n.add(ms, i, e, kIPv4)
		}
	}
	return ms
}

// decimalAround reports whether the digit run s[i:j] is a part of a
// decimal number (1234.5678, 0.1234).
func decimalAround(s string, i, j int) bool {
	return j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) || i >= 2 && s[i-1] == '.' && isDigit(s[i-2])
}

// numberedSection reports whether the dotted quad at i follows a word
// that numbers a document part or a release, with at most three spaces
// or marks between ("section 4.2.2.1", "section-6.2.3.2", "§ 6.2.3.2",
// "version: 1.2.3.4", "v1.2.3.4"). A word further away does not count:
// "version 2 runs on 10.0.0.5" names an address.
func numberedSection(s string, i int) bool {
	k := i
	for k > 0 && i-k < 3 && strings.IndexByte(" \t-#:(", s[k-1]) >= 0 {
		k--
	}
	if k > 0 && k == i && (s[k-1] == 'v' || s[k-1] == 'V') {
		return true
	}
	for _, w := range numberingWords {
		if a := k - len(w); a >= 0 && hasFoldAt(s, a, w) && (a == 0 || !isAlpha(s[a-1])) {
			return true
		}
	}
	return false
}

var numberingWords = []string{"section", "sect.", "sec.", "§", "version", "ver.", "release", "rfc", "clause", "chapter"}

// ipv4Ends reports whether a dotted quad may end at e: not followed by a
// digit or ".digit" (which would make it part of a version number or an
// OID), nor by a package revision or suffix ("-2", "~rc1", "+dfsg").
func ipv4Ends(s string, e int) bool {
	if e == len(s) {
		return true
	}
	switch c := s[e]; {
	case isDigit(c), c == '.' && e+1 < len(s) && isDigit(s[e+1]):
		return false
	case c == '~' || c == '+':
		return false // a package version: 1.2.3.4~rc1, 1.2.3.4+dfsg
	case c == '-' && e+1 < len(s) && isDigit(s[e+1]):
		// A package revision (1.2.3.4-2, 2.10.0.27-0.cvs), not a range
		// (10.0.0.1-10.0.0.9).
		return ipv4End(s, e+1) > 0
	}
	return true
}

// groupedCard matches a card number printed in groups separated by single
// spaces or dashes (the separator of the first group throughout), starting
// with the 4-digit group at s[i:], not preceded by another group of four
// or more digits and the same separator. It returns the end or -1. Longer
// groupings are tried first; a valid prefix of a longer digit sequence
// matches too, so a card followed by another number is still found.
func groupedCard(s string, i int) int {
	var digits [19]byte
	var lens, ends [5]int
	sep := s[i+4]
	if i >= 5 && s[i-1] == sep && allDigits(s, i-5, 4) {
		return -1 // the groups continue a longer grouped number (a tracking number)
	}
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

// ssnAt matches ddd-dd-dddd at s[i:] (s[i:i+3] are digits, s[i+3] is
// '-'): an SSN, or an ITIN when the area starts with 9 and the group is
// one the IRS issues. It returns the end and the kind, or -1.
func ssnAt(s string, i int) (int, int) {
	w := ssnSepWidth(s, i+3)
	g := i + 3 + w // the group
	if w == 0 || !allDigits(s, g, 2) || s[g+2:min(len(s), g+2+w)] != s[i+3:g] || !allDigits(s, g+2+w, 4) {
		return -1, 0
	}
	e := g + 2 + w + 4
	if e < len(s) && (isDigit(s[e]) || w == 1 && s[i+3] != '-' && ssnSepWidth(s, e) > 0 && isDigit(byteAt(s, e+1))) {
		return -1, 0
	}
	area, group, serial := atoi(s[i:i+3]), atoi(s[g:g+2]), atoi(s[e-4:e])
	switch {
	case ssnValid(area, group, serial):
		return e, kSSN
	case itinValid(area, group, serial):
		return e, kITIN
	}
	return -1, 0
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
		if validIPv6(s[a:e]) && !localIPv6(s[a:e]) {
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
	if notAnAddress(s, a, at, b) {
		return -1, -1
	}
	return a, b
}

// ssnSepWidth returns the width of a separator of SSN groups at s[i]: a
// dash, blank, dot or slash, a no-break space, or a Unicode hyphen, dash
// or narrow no-break space; 0 if there is none.
func ssnSepWidth(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	switch s[i] {
	case '-', ' ', '.', '/':
		return 1
	case 0xc2:
		if byteAt(s, i+1) == 0xa0 {
			return 2
		}
	case 0xe2:
		if byteAt(s, i+1) == 0x80 {
			switch byteAt(s, i+2) {
			case 0x90, 0x91, 0x92, 0x93, 0xaf:
				return 3
			}
		}
	}
	return 0
}

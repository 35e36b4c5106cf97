package redact

import "strings"

// National identifiers (packs us, eu, in, br) and dates of birth. Every
// shape is anchored on a digit run found by numScan; a shape with a check
// digit is confirmed by its validator, a weak shape (a bare passport
// number, a date, an unformatted CPF) only where a nearby word or the
// object key gives the context.

// afterLetters tries the shapes that start with capital letters before
// the digit run s[i:j]: IBAN, UK NINO, Indian PAN, Italian codice fiscale
// and Spanish NIE.
func (n *numScan) afterLetters(i, j int, ms []match) []match {
	s, on, l := n.s, n.on, j-i
	var next byte
	if j < len(s) {
		next = s[j]
	}
	wordStart := func(p int) bool { return p >= 0 && (p == 0 || !isAlnum(s[p-1])) }
	if i >= 2 && isUpper(s[i-2]) && wordStart(i-2) {
		if on.has(kIBAN) && l >= 2 {
			ms = n.add(ms, i-2, ibanAt(s, i-2), kIBAN)
		}
		if l == 6 && on.has(kUKNINO) && next >= 'A' && next <= 'D' && !isAlnumAt(s, j+1) && ninoPrefixOK(s[i-2], s[i-1]) {
			ms = n.add(ms, i-2, j+1, kUKNINO)
		}
	}
	if l == 4 && i >= 5 && on.has(kINPAN) && wordStart(i-5) && isUpper(next) && !isAlnumAt(s, j+1) &&
		allUpper(s[i-5:i]) && strings.IndexByte("ABCFGHLJPT", s[i-2]) >= 0 {
		ms = n.add(ms, i-5, j+1, kINPAN)
	}
	if l == 2 && i >= 6 && on.has(kITFiscalCode) && wordStart(i-6) && allUpper(s[i-6:i]) {
		ms = n.add(ms, i-6, itFiscalCodeAt(s, i-6), kITFiscalCode)
	}
	if l == 7 && on.has(kESNIF) && (s[i-1] == 'X' || s[i-1] == 'Y' || s[i-1] == 'Z') && wordStart(i-1) {
		ms = n.add(ms, i-1, esDNIAt(s, i-1, j), kESNIF)
	}
	return ms
}

func isAlnumAt(s string, i int) bool { return i < len(s) && isAlnum(s[i]) }

func allUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isUpper(s[i]) {
			return false
		}
	}
	return true
}

// ninoPrefixOK applies HMRC's rules to the two letters of a National
// Insurance number.
func ninoPrefixOK(a, b byte) bool {
	if strings.IndexByte("DFIQUV", a) >= 0 || strings.IndexByte("DFIOQUV", b) >= 0 {
		return false
	}
	switch string([]byte{a, b}) {
	case "BG", "GB", "NK", "KN", "TN", "NT", "ZZ":
		return false
	}
	return true
}

// ibanLen holds the IBAN length of each country (index (a-'A')*26+b-'A').
var ibanLen = func() (t [26 * 26]uint8) {
	const table = "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 DO28 " +
		"EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 " +
		"JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 MT31 MU30 NL18 NO15 PK24 " +
		"PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
	for _, f := range strings.Fields(table) {
		t[int(f[0]-'A')*26+int(f[1]-'A')] = uint8(atoi(f[2:]))
	}
	return t
}()

// ibanAt matches an IBAN at s[p:] (two capitals, then digits): the
// country's length, contiguous or in groups of four split by single
// spaces; mod 97 and, for BE, ES and FR, the national check digits. It
// returns the end or -1.
func ibanAt(s string, p int) int {
	want := int(ibanLen[int(s[p]-'A')*26+int(s[p+1]-'A')])
	if want == 0 || !allDigits(s, p+2, 2) {
		return -1
	}
	var buf [34]byte
	nb, q := 0, p
	if e := runEnd(s, p, clDigit|clUpper); e-p == want {
		copy(buf[:], s[p:e])
		nb, q = want, e
	} else {
		for nb < want && q < len(s) && (isDigit(s[q]) || isUpper(s[q])) {
			buf[nb] = s[q]
			nb++
			q++
			if nb%4 == 0 && nb < want {
				if q+1 >= len(s) || s[q] != ' ' {
					return -1
				}
				q++
			}
		}
	}
	if nb != want || isAlnumAt(s, q) || !mod97Valid(buf[:nb]) || !ibanNationalOK(buf[:nb]) {
		return -1
	}
	return q
}

// ibanNationalOK checks the check digits inside the BBAN of the countries
// that have them (Belgium, Spain, France); other countries pass.
func ibanNationalOK(iban []byte) bool {
	b := iban[4:]
	switch string(iban[:2]) {
	case "BE": // 10 digits, then their value mod 97 (97 for 0)
		if !allDigitsB(b) {
			return false
		}
		k := mod97Of(b[:10])
		if k == 0 {
			k = 97
		}
		return k == atoi(string(b[10:12]))
	case "ES": // bank, branch, two control digits, account
		if !allDigitsB(b) {
			return false
		}
		w := [10]int{1, 2, 4, 8, 5, 10, 9, 7, 3, 6}
		dc := func(d []byte) int {
			sum := 0
			for i, c := range d {
				sum += int(c-'0') * w[10-len(d)+i]
			}
			v := 11 - sum%11
			switch v {
			case 11:
				return 0
			case 10:
				return 1
			}
			return v
		}
		return dc(b[:8]) == int(b[8]-'0') && dc(b[10:20]) == int(b[9]-'0')
	case "FR": // clé RIB: 97 - (89 bank + 15 branch + 3 account) mod 97
		var d [23]byte
		for i, c := range b[:23] {
			switch {
			case c >= 'A' && c <= 'I':
				c = '1' + c - 'A'
			case c >= 'J' && c <= 'R':
				c = '1' + c - 'J'
			case c >= 'S' && c <= 'Z':
				c = '2' + c - 'S'
			}
			d[i] = c
		}
		if !allDigitsB(d[:]) {
			return false
		}
		sum := 89*mod97Of(d[:5]) + 15*mod97Of(d[5:10]) + 3*mod97Of(d[10:21])
		return 97-sum%97 == atoi(string(d[21:23]))
	}
	return true
}

func allDigitsB(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// itFiscalCodeAt matches a codice fiscale at s[p:]: six capitals, two
// digits (year), a month letter, two digits (day, +40 for women), a
// capital and three digits (municipality), the check letter.
func itFiscalCodeAt(s string, p int) int {
	e := p + 16
	if e > len(s) || isAlnumAt(s, e) {
		return -1
	}
	cf := s[p:e]
	if !allDigits(cf, 6, 2) || strings.IndexByte("ABCDEHLMPRST", cf[8]) < 0 || !allDigits(cf, 9, 2) ||
		!isUpper(cf[11]) || !allDigits(cf, 12, 3) || !isUpper(cf[15]) {
		return -1
	}
	if d := atoi(cf[9:11]); d < 1 || d > 71 || (d > 31 && d < 41) {
		return -1
	}
	if !itFiscalCodeValid(cf) {
		return -1
	}
	return e
}

// esDNIAt matches a Spanish DNI (8 digits) or NIE (X, Y or Z and 7
// digits) starting at p with digits ending at j, then an optional '-' and
// the control letter. It returns the end or -1.
func esDNIAt(s string, p, j int) int {
	q := j
	if q < len(s) && s[q] == '-' {
		q++
	}
	if q >= len(s) || !isUpper(s[q]) || isAlnumAt(s, q+1) {
		return -1
	}
	var d [8]byte
	copy(d[:], s[p:j])
	switch d[0] {
	case 'X', 'Y', 'Z':
		d[0] = '0' + d[0] - 'X'
	}
	if !esDNIValid(string(d[:]), s[q]) {
		return -1
	}
	return q + 1
}

// longRun tries the contiguous 11-15 digit identifiers on s[i:j]: the
// German tax id and the French NIR by their check digits alone; Aadhaar,
// CPF and CNPJ, whose contiguous forms are too common among other
// numbers, also need context.
func (n *numScan) longRun(i, j int, ms []match) []match {
	s, on := n.s, n.on
	d := s[i:j]
	switch len(d) {
	case 11:
		if on.has(kDETaxID) && steuerIDValid(d) {
			ms = n.add(ms, i, j, kDETaxID)
		}
		if on.has(kCPF) && cpfValid(d) && n.context(i, ctxCPF) {
			ms = n.add(ms, i, j, kCPF)
		}
	case 12:
		if on.has(kAadhaar) && d[0] >= '2' && verhoeffValid(d) && n.context(i, ctxAadhaar) {
			ms = n.add(ms, i, j, kAadhaar)
		}
	case 14:
		if on.has(kCNPJ) && cnpjValid(d) && n.context(i, ctxCNPJ) {
			ms = n.add(ms, i, j, kCNPJ)
		}
	case 15:
		if on.has(kFRNIR) && frNIRValid(d) {
			ms = n.add(ms, i, j, kFRNIR)
		}
	}
	return ms
}

// groups reads digit groups split by single bytes of seps at s[i:] with
// the lengths given, and returns the digits and the end, or -1. The group
// after the last must not continue the number.
func groups(s string, i int, seps string, lens ...int) ([20]byte, int, int) {
	var d [20]byte
	nd, q := 0, i
	for g, l := range lens {
		if g > 0 {
			if q >= len(s) || strings.IndexByte(seps, s[q]) < 0 {
				return d, 0, -1
			}
			q++
		}
		if !allDigits(s, q, l) {
			return d, 0, -1
		}
		copy(d[nd:], s[q:q+l])
		nd += l
		q += l
	}
	if q < len(s) && (isDigit(s[q]) || strings.IndexByte(seps, s[q]) >= 0 && q+1 < len(s) && isDigit(s[q+1])) {
		return d, 0, -1
	}
	return d, nd, q
}

// aadhaarGrouped matches an Aadhaar number printed 4-4-4 (spaces or
// dashes) at s[i:]: first digit 2-9, Verhoeff check.
func aadhaarGrouped(s string, i int) int {
	if s[i] < '2' {
		return -1
	}
	d, nd, e := groups(s, i, s[i+4:i+5], 4, 4, 4)
	if e < 0 || !verhoeffValid(d[:nd]) {
		return -1
	}
	return e
}

// cpfFormatted matches ddd.ddd.ddd-dd with valid CPF check digits.
func cpfFormatted(s string, i int) int {
	d, nd, e := groups(s, i, ".", 3, 3, 3)
	if e < 0 || e+3 > len(s) || s[e] != '-' || !allDigits(s, e+1, 2) || isDigit(byteAt(s, e+3)) {
		return -1
	}
	copy(d[nd:], s[e+1:e+3])
	if !cpfValid(d[:11]) {
		return -1
	}
	return e + 3
}

// cnpjFormatted matches dd.ddd.ddd/dddd-dd with valid CNPJ check digits.
func cnpjFormatted(s string, i int) int {
	d, nd, e := groups(s, i, ".", 2, 3, 3)
	if e < 0 || e+8 > len(s) || s[e] != '/' || !allDigits(s, e+1, 4) || s[e+5] != '-' ||
		!allDigits(s, e+6, 2) || isDigit(byteAt(s, e+8)) {
		return -1
	}
	copy(d[nd:], s[e+1:e+5])
	copy(d[nd+4:], s[e+6:e+8])
	if !cnpjValid(d[:14]) {
		return -1
	}
	return e + 8
}

func byteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// spacedID tries the identifiers printed in space-separated groups that
// start with a 1-2 digit group at s[i:j]: the German tax id (2-3-3-3),
// the French NIR (1-2-2-2-3-3-2) and the UK NINO (AB 12 34 56 C).
func (n *numScan) spacedID(i, j int, ms []match) []match {
	s, on := n.s, n.on
	if j-i == 2 && on.has(kDETaxID) {
		if d, nd, e := groups(s, i, " ", 2, 3, 3, 3); e > 0 && steuerIDValid(d[:nd]) {
			ms = n.add(ms, i, e, kDETaxID)
		}
	}
	if j-i == 1 && on.has(kFRNIR) {
		if d, nd, e := groups(s, i, " ", 1, 2, 2, 2, 3, 3, 2); e > 0 && frNIRValid(d[:nd]) {
			ms = n.add(ms, i, e, kFRNIR)
		}
	}
	if j-i == 2 && on.has(kUKNINO) && i >= 3 && s[i-1] == ' ' && isUpper(s[i-3]) && isUpper(s[i-2]) &&
		(i == 3 || !isAlnum(s[i-4])) && ninoPrefixOK(s[i-3], s[i-2]) {
		if _, _, e := groups(s, i, " ", 2, 2, 2); e > 0 && e+1 < len(s) && s[e] == ' ' &&
			s[e+1] >= 'A' && s[e+1] <= 'D' && !isAlnumAt(s, e+2) {
			ms = n.add(ms, i-3, e+2, kUKNINO)
		}
	}
	return ms
}

package redact

// The weak shapes, found only in context (see context.go): SSNs without
// dashes, passport numbers, medical record numbers, dates of birth; and
// VINs, found by their check digit.

// bareSSN matches, where the context says SSN, nine digits without dashes
// that pass the SSN (or ITIN) rules.
func (n *numScan) bareSSN(i, j int, ms []match) []match {
	s := n.s
	area, group, serial := atoi(s[i:i+3]), atoi(s[i+3:i+5]), atoi(s[i+5:j])
	k := -1
	switch {
	case ssnValid(area, group, serial):
		k = kSSN
	case itinValid(area, group, serial):
		k = kITIN
	}
	if k >= 0 && n.context(i, ctxSSN) {
		ms = n.add(ms, i, j, k)
	}
	return ms
}

// passport matches, where the context says passport, a passport number
// around the digit run s[i:j]: a token of 6-9 capitals and digits with at
// least 6 digits.
func (n *numScan) passport(i, j int, ms []match) []match {
	s := n.s
	a := i
	for a > 0 && isUpper(s[a-1]) && i-a < 2 {
		a--
	}
	e := j
	for e < len(s) && isUpper(s[e]) && e-j < 1 {
		e++
	}
	if e-a > 9 || (a > 0 && isAlnum(s[a-1])) || isAlnumAt(s, e) {
		return ms
	}
	if n.context(a, ctxPassport) {
		ms = n.add(ms, a, e, kPassport)
	}
	return ms
}

// dateYMD matches yyyy-mm-dd (or '/' or '.') at s[i:] as a date of birth
// where the context says so.
func (n *numScan) dateYMD(i int, ms []match) []match {
	s := n.s
	sep := s[i+4]
	if i+10 > len(s) || !allDigits(s, i+5, 2) || s[i+7] != sep || !allDigits(s, i+8, 2) || isDigit(byteAt(s, i+10)) {
		return ms
	}
	if validDate(atoi(s[i:i+4]), atoi(s[i+5:i+7]), atoi(s[i+8:i+10])) && n.context(i, ctxDOB) {
		ms = n.add(ms, i, i+10, kDOB)
	}
	return ms
}

// dateDMY matches dd/mm/yyyy or mm/dd/yyyy (or '.' or '-') at s[i:] as a
// date of birth where the context says so; either reading may be valid.
func (n *numScan) dateDMY(i, j int, ms []match) []match {
	s := n.s
	sep := s[j]
	q := j + 1
	k := runEnd(s, q, clDigit)
	if k-q < 1 || k-q > 2 || k+3 > len(s) || s[k] != sep {
		return ms
	}
	ye := runEnd(s, k+1, clDigit)
	if ye-k-1 != 4 && ye-k-1 != 2 {
		return ms
	}
	a, b, y := atoi(s[i:j]), atoi(s[q:k]), atoi(s[k+1:ye])
	if ye-k-1 == 2 {
		// A two-digit year (03/10/75), only in context: 19yy or 20yy.
		y += 1900
		if y < 1925 {
			y += 100
		}
	}
	if (validDate(y, b, a) || validDate(y, a, b)) && n.context(i, ctxDOB) {
		ms = n.add(ms, i, ye, kDOB)
	}
	return ms
}

// validDate reports whether y-m-d is a calendar date a living person can
// be born on.
func validDate(y, m, d int) bool {
	if y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	if m == 2 && (y%4 != 0 || y%100 == 0 && y%400 != 0) {
		return d <= 28
	}
	return d <= days[m]
}

// vin matches a VIN around the digit run s[i:j]: the token of capitals and
// digits holding it must be 17 long and pass the check digit. It is
// checked once, at the token's first digit run.
func (n *numScan) vin(i, j int, ms []match) []match {
	s := n.s
	a := i
	for a > 0 && isUpper(s[a-1]) && i-a <= 17 {
		a--
	}
	if a > 0 && isAlnum(s[a-1]) || i-a > 16 {
		return ms
	}
	e := runEnd(s[:min(len(s), a+18)], j, clDigit|clUpper)
	if e-a == 17 && !isAlnumAt(s, e) && vinValid(s[a:e]) {
		ms = n.add(ms, a, e, kVIN)
	}
	return ms
}

// mrn matches, where the context says medical record number, the token of
// capitals and digits around the digit run s[i:j]: 6-12 long, at least 6
// digits.
func (n *numScan) mrn(i, j int, ms []match) []match {
	s := n.s
	a := i
	for a > 0 && isUpper(s[a-1]) && i-a < 3 {
		a--
	}
	e := runEnd(s[:min(len(s), a+13)], j, clDigit|clUpper)
	if e-a < 6 || e-a > 12 || (a > 0 && isAlnum(s[a-1])) || isAlnumAt(s, e) || j-i < 6 {
		return ms
	}
	if n.context(a, ctxMRN) {
		ms = n.add(ms, a, e, kMRN)
	}
	return ms
}

package redact

// Values known by what is next to them: a card's security code after its
// keyword or after a card and its expiry, a date of birth written with a
// month name, a phone number without '+' where the context says phone,
// and passport numbers mixing letters and digits.

// cvv matches the 3-4 digit run s[i:j] as a card security code when a
// CVV keyword is right before it (only blanks, ':', '=', '#', quotes and
// the words is/code/no between), its key says so and it is the whole
// value, or it follows a card number and an expiry date.
func (n *numScan) cvv(i, j int, ms []match) []match {
	s := n.s
	if isAlnum(byteAt(s, j)) || i > 0 && !stringsIndexByte(" :=#\"'\t,|;", s[i-1]) ||
		j < len(s) && (s[j] == '/' || s[j] == '-' || s[j] == ':' || s[j] == '.' && isDigit(byteAt(s, j+1))) {
		return ms
	}
	if n.ctx&ctxCVV == 0 {
		// The byte before the blanks and marks: a keyword's or a filler's
		// last letter, or the expiry's last digit.
		k := i
		for k > 0 && i-k < 8 && stringsIndexByte(" :=#\"'\t,|;", s[k-1]) {
			k--
		}
		if k == 0 || !stringsIndexByte("vcnCVNdeDEsoSO0123456789", s[k-1]) {
			return ms
		}
	}
	if n.ctx&ctxCVV != 0 && i == 0 && j == len(s) || cvvWordBefore(s, i) || afterCardExpiry(s, i, j-i == 3) {
		ms = n.add(ms, i, j, kCVV)
	}
	return ms
}

// cvvWordBefore reports whether a CVV keyword ends right before i.
func cvvWordBefore(s string, i int) bool {
	k := i
	for steps := 0; steps < 4; steps++ {
		for k > 0 && i-k < 32 && stringsIndexByte(" \t:=#\"'", s[k-1]) {
			k--
		}
		if k >= 4 && s[k-1] == '2' && (hasFoldAt(s, k-4, "cvv") || hasFoldAt(s, k-4, "cvc")) {
			return true
		}
		a := k
		for a > 0 && k-a < 20 && (isAlpha(s[a-1]) || s[a-1] == ' ' && a-1 > 0 && isAlpha(s[a-2]) && k-a < 18) {
			a--
		}
		w := s[a:k]
		for _, cw := range cvvWords {
			if len(w) >= len(cw) && hasFoldAt(w, len(w)-len(cw), cw) && (len(w) == len(cw) || !isAlpha(w[len(w)-len(cw)-1])) {
				return true
			}
		}
		// A filler word between the keyword and the number.
		e := k
		for k > 0 && isAlpha(s[k-1]) && e-k < 5 {
			k--
		}
		f := s[k:e]
		if !(len(f) == 2 && (hasFoldAt(f, 0, "is") || hasFoldAt(f, 0, "no")) || len(f) == 4 && hasFoldAt(f, 0, "code")) {
			return false
		}
	}
	return false
}

// cvvPrev marks the bytes that may come right before a security code.
var cvvPrev = func() (t [256]bool) {
	for _, c := range []byte(" :=#\"'\t,|;") {
		t[c] = true
	}
	t[0] = true // the start of the string
	return t
}()

var cvvWords = []string{"cvv", "cvc", "cvv2", "cvc2", "cvn", "csc", "cid", "security code", "card code", "verification code"}

func stringsIndexByte(set string, c byte) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}

// afterCardExpiry reports whether the number at i follows an expiry date
// (MM/YY or MM/YYYY) that follows a valid card number, separated by
// blanks, '|', ',', ';' or tabs (a card row: "4111 1111 1111 1111 12/27
// 123"), or, when three is set (a code of three digits), follows the card
// number itself (a four-digit number after a card may be a year).
func afterCardExpiry(s string, i int, three bool) bool {
	k := skipSepsBack(s, i)
	if three && k < i && cardEndsAt(s, k) {
		return true // three digits right after the card number
	}
	// MM/YY or MM/YYYY ending at k.
	e := k
	for k > 0 && isDigit(s[k-1]) && e-k < 4 {
		k--
	}
	if y := e - k; y != 2 && y != 4 || k < 3 || s[k-1] != '/' || !isDigit(s[k-2]) {
		return false
	}
	m := k - 2
	if m > 0 && isDigit(s[m-1]) {
		m--
	}
	if mo := atoi(s[m : k-1]); mo < 1 || mo > 12 {
		return false
	}
	return cardEndsAt(s, skipSepsBack(s, m))
}

// cardEndsAt reports whether a valid card number (contiguous or grouped
// by blanks or dashes) ends at c.
func cardEndsAt(s string, c int) bool {
	if c == 0 || !isDigit(s[c-1]) {
		return false
	}
	var digits [19]byte
	nd := 0
	for c > 0 && nd < 19 && (isDigit(s[c-1]) || (s[c-1] == ' ' || s[c-1] == '-') && c > 1 && isDigit(s[c-2])) {
		c--
		if isDigit(s[c]) {
			nd++
			digits[19-nd] = s[c]
		}
	}
	return nd >= 13 && cardValid(digits[19-nd:])
}

func skipSepsBack(s string, k int) int {
	for k > 0 && stringsIndexByte(" \t|,;", s[k-1]) {
		k--
	}
	return k
}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august",
	"september", "october", "november", "december", "sept"}

// monthWordEnding reports whether a month name or its 3-letter abbreviation
// (optionally with '.') ends at k; it returns its start or -1.
func monthWordEnding(s string, k int) int {
	if k > 0 && s[k-1] == '.' {
		k--
	}
	a := k
	for a > 0 && k-a < 9 && isAlpha(s[a-1]) {
		a--
	}
	if a > 0 && isAlpha(s[a-1]) || k-a < 3 {
		return -1
	}
	w := s[a:k]
	for _, m := range monthNames {
		if len(w) == len(m) && hasFoldAt(w, 0, m) || len(w) == 3 && hasFoldAt(m, 0, lower3(w)) {
			return a
		}
	}
	return -1
}

func lower3(w string) string {
	return string([]byte{w[0] | 0x20, w[1] | 0x20, w[2] | 0x20})
}

// dayEnding returns the start of a day of the month (1-31, with an
// optional st/nd/rd/th) ending at k, or -1.
func dayEnding(s string, k int) int {
	if k >= 2 && (hasFoldAt(s, k-2, "st") || hasFoldAt(s, k-2, "nd") || hasFoldAt(s, k-2, "rd") || hasFoldAt(s, k-2, "th")) && isDigit(byteAt(s, k-3)) {
		k -= 2
	}
	a := k
	for a > 0 && k-a < 2 && isDigit(s[a-1]) {
		a--
	}
	if a == k || a > 0 && isAlnum(s[a-1]) {
		return -1
	}
	if d := atoi(s[a:k]); d < 1 || d > 31 {
		return -1
	}
	return a
}

// dateWords matches, where the context says date of birth, a date written
// with a month name ending in the year s[i:i+4]: "March 10, 1975",
// "Mar. 10 1975", "10 March 1975", "10th of March 1975", "10-Mar-1975".
func (n *numScan) dateWords(i int, ms []match) []match {
	s := n.s
	if y := atoi(s[i : i+4]); y < 1900 || y > 2099 || isAlnum(byteAt(s, i+4)) || i < 5 {
		return ms
	}
	k := i
	if s[k-1] == ' ' || s[k-1] == '-' {
		k--
	}
	if k > 0 && s[k-1] == ',' {
		k--
	}
	start := -1
	if d := dayEnding(s, k); d > 0 {
		// Month D, YYYY
		if m := monthWordEnding(s, sepBack(s, d)); m >= 0 {
			start = m
		}
	} else if m := monthWordEnding(s, k); m > 0 {
		// D Month YYYY, D-Mon-YYYY, Dth of Month YYYY
		p := sepBack(s, m)
		if p >= 3 && hasFoldAt(s, p-2, "of") && s[p-3] == ' ' {
			p -= 3
		}
		if d := dayEnding(s, p); d >= 0 && p < m {
			start = d
		}
	}
	if start >= 0 && n.context(start, ctxDOB) {
		ms = n.add(ms, start, i+4, kDOB)
	}
	return ms
}

// sepBack steps back over one blank, '-' or '.' before k.
func sepBack(s string, k int) int {
	if k > 0 && (s[k-1] == ' ' || s[k-1] == '-' || s[k-1] == '.') {
		return k - 1
	}
	return k
}

// phoneInContext matches, where a phone word or key is near, a number of
// 8-15 digits in up to six groups split by single blanks, dashes or dots
// and starting at the digit run s[i:]: a country code without '+'
// ("81 990888729") or a national number without a trunk 0.
func (n *numScan) phoneInContext(i int, ms []match) []match {
	s := n.s
	if i > 0 && (isAlnum(s[i-1]) || s[i-1] == '+' || s[i-1] == '.' || s[i-1] == ':' || s[i-1] == '/' ||
		i > 1 && isPhoneSep(s[i-1]) && isDigit(s[i-2])) {
		return ms
	}
	total, groups, p, sep := 0, 0, i, byte(0)
	var lens [6]int
	end := i
	for groups < len(lens) {
		j := runEnd(s, p, clDigit)
		if j == p {
			break
		}
		lens[groups] = j - p
		total += j - p
		groups++
		end = j
		if j+1 < len(s) && isPhoneSep(s[j]) && (sep == 0 || s[j] == sep) && isDigit(s[j+1]) {
			sep, p = s[j], j+1
			continue
		}
		break
	}
	if total < 8 || total > 15 || isAlnum(byteAt(s, end)) || end < len(s) && (s[end] == '/' || s[end] == ':') {
		return ms
	}
	if groups == 3 && (lens[0] == 4 && lens[1] == 2 && lens[2] == 2 || lens[0] == 2 && lens[1] == 2 && lens[2] == 4) {
		return ms // a date
	}
	if n.context(i, ctxPhone) {
		ms = n.add(ms, i, end, kPhone)
	}
	return ms
}

// passportToken matches, where the context says passport, the token of
// capitals and digits that starts with the digit run s[i:j] or the
// capitals before it: 6-9 long with at least 5 digits ("C01X00T47",
// "12AB34567", "X1234567"). It is checked once per token, at its first
// digit run.
func (n *numScan) passportToken(i, j int, ms []match) []match {
	s := n.s
	a := i
	for a > 0 && i-a < 3 && isUpper(s[a-1]) {
		a--
	}
	if a > 0 && isAlnum(s[a-1]) {
		return ms
	}
	e := runEnd(s[:min(len(s), a+10)], j, clDigit|clUpper)
	if e-a < 6 || e-a > 9 || isAlnumAt(s, e) {
		return ms
	}
	if digitsIn(s[a:e]) >= 5 && n.context(a, ctxPassport) {
		ms = n.add(ms, a, e, kPassport)
	}
	return ms
}

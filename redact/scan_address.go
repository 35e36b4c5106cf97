package redact

import "strings"

// Street addresses of the names pack: US and UK "221B Baker Street", FR
// "12 rue de Rivoli", ES, IT and PT "Calle Mayor 5", "via Roma 10", DE
// "Hauptstraße 5" and "Berliner Str. 12"; each with what follows it: a
// unit (Apt 4B, Suite 200, #12) and a postcode and city (Springfield, IL
// 62704; London SW1A 1AA; 10115 Berlin).

// houseNumber returns the end of a house number at i: 1-5 digits, maybe
// a letter (221B) or a range (12-14), or -1.
func houseNumber(s string, i int) int {
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j-i > 5 || j == i {
		return -1
	}
	if j < len(s) && isAlpha(s[j]) && !isAlpha(byteAt(s, j+1)) {
		j++
	} else if byteAt(s, j) == '-' && isDigit(byteAt(s, j+1)) {
		k := j + 1
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k-j-1 <= 5 {
			j = k
		}
	}
	if j < len(s) && (isAlnum(s[j]) || s[j] == '.' && isDigit(byteAt(s, j+1))) {
		return -1
	}
	return j
}

// addressFromNumber: a house number, then street words with a street type
// last (US, UK) or first (FR: rue, avenue, boulevard).
func addressFromNumber(s string, i int) int {
	j := houseNumber(s, i)
	if j < 0 {
		return -1
	}
	k := j
	if byteAt(s, k) == ',' {
		k++
	}
	if byteAt(s, k) != ' ' {
		return -1
	}
	k++
	e := -1
	words := 0
	for n := 0; n < 6 && k < len(s); n++ {
		w := wordEnd(s, k)
		if w == k { // an ordinal street: 5th Avenue, 42nd St
			d := k
			for d < len(s) && isDigit(s[d]) {
				d++
			}
			if d == k || d-k > 3 || !ordinal(s[d:min(len(s), d+2)]) {
				break
			}
			w = d + 2
			if isAlnum(byteAt(s, w)) {
				break
			}
			words++
		} else {
			f := nameWords[s[k:w]]
			switch {
			case f&wStreetFirst != 0 && n == 0 && !isUpper(s[k]) || f&wStreetFirst != 0 && n == 0 && s[k:w] == "Rue":
				// FR: the type first, then the name.
				if e2, nw, _ := streetName(s, w); nw > 0 {
					return addressTail(s, e2)
				}
				return -1
			case f&wStreet != 0 && words > 0:
				e = w
				if byteAt(s, e) == '.' {
					e++
				}
				// A direction may follow (NW, SE).
				if byteAt(s, e) == ' ' && direction(s, e+1) > 0 {
					e = direction(s, e+1)
				}
				return addressTail(s, e)
			case isUpper(s[k]) || f&wParticle != 0 && words > 0: // Main St
				words++
			case isUpper(s[k]) && f&wStreet != 0:
				words++
			default:
				return -1
			}
		}
		if byteAt(s, w) != ' ' {
			break
		}
		k = w + 1
	}
	return -1
}

func ordinal(t string) bool {
	return t == "st" || t == "nd" || t == "rd" || t == "th"
}

// direction returns the end of a compass direction word at i, or -1.
func direction(s string, i int) int {
	for _, d := range []string{"NW", "NE", "SW", "SE", "N", "S", "E", "W"} {
		if strings.HasPrefix(s[i:], d) && !isAlnum(byteAt(s, i+len(d))) {
			return i + len(d)
		}
	}
	return -1
}

// streetName reads the name after a street type: capitalised words and
// particles, at least one capitalised; returns its end and word count.
func streetName(s string, k int) (int, int, uint16) {
	if byteAt(s, k) != ' ' {
		return -1, 0, 0
	}
	k++
	e, words := -1, 0
	for n := 0; n < 5 && k < len(s); n++ {
		w := wordEnd(s, k)
		if w == k {
			break
		}
		for w > k && byteAt(s, w) == '-' && (isAlpha(byteAt(s, w+1)) || byteAt(s, w+1) >= 0xc0) { // Champs-Élysées
			w = wordEnd(s, w+1)
		}
		f := nameWords[s[k:w]]
		switch {
		case f&wParticle != 0:
		case isUpper(s[k]) || s[k] >= 0xc0:
			words++
			e = w
		default:
			return e, words, 0
		}
		if byteAt(s, w) != ' ' {
			break
		}
		k = w + 1
	}
	return e, words, 0
}

// addressFromType: ES, IT, PT "Calle Mayor 5", "via Roma 10", "Rua
// Augusta, 1500": a street type, a name, a house number.
func addressFromType(s string, i, j int) int {
	e, words, _ := streetName(s, j)
	if words == 0 {
		return -1
	}
	k := e
	if byteAt(s, k) == ',' {
		k++
	}
	if byteAt(s, k) != ' ' || !isDigit(byteAt(s, k+1)) {
		return -1
	}
	n := houseNumber(s, k+1)
	if n < 0 {
		return -1
	}
	return addressTail(s, n)
}

// germanStreet: "Hauptstraße 5", "Lindenweg 3a", "Berliner Str. 12",
// "Am Markt 4" is not taken (no street word).
func germanStreet(s string, i, j int) (int, int) {
	k := j
	switch {
	case j-i >= 5 && (foldSuffix(s[i:j], "straße") || foldSuffix(s[i:j], "strasse") || foldSuffix(s[i:j], "weg") ||
		foldSuffix(s[i:j], "allee") || j-i > 6 && foldSuffix(s[i:j], "platz") || foldSuffix(s[i:j], "gasse") ||
		j-i > 5 && foldSuffix(s[i:j], "damm") || byteAt(s, j) == '.' && foldSuffix(s[i:j], "str")):
		if byteAt(s, k) == '.' {
			k++
		}
	case byteAt(s, j) == ' ' && (byteAt(s, j+1) == 'S' || byteAt(s, j+1) == 'A' || byteAt(s, j+1) == 'W') &&
		(strings.HasPrefix(s[j+1:], "Straße ") || strings.HasPrefix(s[j+1:], "Str. ") ||
			strings.HasPrefix(s[j+1:], "Strasse ") || strings.HasPrefix(s[j+1:], "Allee ") || strings.HasPrefix(s[j+1:], "Weg ")):
		k = strings.IndexByte(s[j+1:], ' ') + j + 1
	default:
		return -1, -1
	}
	if byteAt(s, k) != ' ' || !isDigit(byteAt(s, k+1)) {
		return -1, -1
	}
	n := houseNumber(s, k+1)
	if n < 0 {
		return -1, -1
	}
	return i, addressTail(s, n)
}

// addressTail extends a street at e over a unit and a postcode and city.
func addressTail(s string, e int) int {
	if u := unit(s, e); u > 0 {
		e = u
	}
	if p := postcodeCity(s, e); p > 0 {
		e = p
	}
	return e
}

// unit: ", Apt 4B", " Suite 200", " #12", ", Flat 2".
func unit(s string, e int) int {
	k := e
	if byteAt(s, k) == ',' {
		k++
	}
	if byteAt(s, k) != ' ' {
		return -1
	}
	k++
	if byteAt(s, k) == '#' {
		k++
	} else {
		w := wordEnd(s, k)
		if w == k || nameWords[s[k:w]]&wUnit == 0 {
			return -1
		}
		k = w
		if byteAt(s, k) == '.' {
			k++
		}
		if byteAt(s, k) != ' ' {
			return -1
		}
		k++
		if byteAt(s, k) == '#' {
			k++
		}
	}
	j := k
	for j < len(s) && (isAlnum(s[j]) || s[j] == '-') && j-k < 8 {
		j++
	}
	if j == k || !hasDigit(s[k:j]) && j-k > 1 {
		return -1
	}
	return j
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

// postcodeCity: after ", " (or a newline): "Springfield, IL 62704",
// "London SW1A 1AA", "10115 Berlin", "75001 Paris".
func postcodeCity(s string, e int) int {
	k := e
	if byteAt(s, k) == ',' {
		k++
	}
	if byteAt(s, k) != ' ' && byteAt(s, k) != '\n' {
		return -1
	}
	k++
	if isDigit(byteAt(s, k)) { // DE, FR, ES, IT: five digits and a city
		j := k
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j-k != 5 && j-k != 4 || byteAt(s, j) != ' ' {
			return -1
		}
		if c, _, _ := namePhrase(s, j+1, 3); c > 0 {
			return c
		}
		if w := nameWord(s, j+1); w > 0 {
			return w
		}
		return -1
	}
	if p := ukPostcode(s, k); p > 0 {
		return p
	}
	// A city, then a state and ZIP or a UK postcode.
	c := k
	for n := 0; n < 3; n++ {
		w := nameWord(s, c)
		if w < 0 {
			break
		}
		c = w
		if byteAt(s, c) != ' ' || nameWord(s, c+1) < 0 {
			break
		}
		c++
	}
	if c == k {
		return -1
	}
	if z := stateZip(s, c); z > 0 {
		return z
	}
	if byteAt(s, c) == ',' {
		c++
	}
	if byteAt(s, c) == ' ' {
		if p := ukPostcode(s, c+1); p > 0 {
			return p
		}
	}
	return c
}

// usStates are the two-letter codes of the US states, DC and territories.
const usStates = "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND " +
	"OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI"

// stateZip: ", IL 62704" or " IL 62704-1234" at c; returns the end or -1.
func stateZip(s string, c int) int {
	k := c
	if byteAt(s, k) == ',' {
		k++
	}
	if byteAt(s, k) != ' ' || !isUpper(byteAt(s, k+1)) || !isUpper(byteAt(s, k+2)) || byteAt(s, k+3) != ' ' {
		return -1
	}
	if !strings.Contains(usStates, s[k+1:k+3]) {
		return -1
	}
	z := k + 4
	j := z
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j-z != 5 {
		return -1
	}
	if byteAt(s, j) == '-' && len(s) >= j+5 && isDigits(s[j+1:j+5]) {
		j += 5
	}
	if isAlnum(byteAt(s, j)) {
		return -1
	}
	return j
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

// ukPostcode: an outward code (A9, A99, AA9, AA99, A9A, AA9A), a space and
// an inward code (9AA); returns the end or -1.
func ukPostcode(s string, k int) int {
	j := k
	for j < len(s) && isUpper(s[j]) && j-k < 2 {
		j++
	}
	if j == k || !isDigit(byteAt(s, j)) {
		return -1
	}
	j++
	if isDigit(byteAt(s, j)) || isUpper(byteAt(s, j)) {
		j++
	}
	if byteAt(s, j) != ' ' || !isDigit(byteAt(s, j+1)) || !isUpper(byteAt(s, j+2)) || !isUpper(byteAt(s, j+3)) ||
		isAlnum(byteAt(s, j+4)) {
		return -1
	}
	return j + 4
}

// foldSuffix reports whether w ends in suf (lower case), ASCII letters of
// w in any case.
func foldSuffix(w, suf string) bool {
	return len(w) >= len(suf) && hasFoldAt(w, len(w)-len(suf), suf)
}

// cityBefore returns the start of one to three name words (not stop
// words) ending at e, or -1.
func cityBefore(s string, e int) int {
	a := -1
	for n := 0; n < 3; n++ {
		k := e
		for k > 0 && (isAlpha(s[k-1]) || s[k-1] >= 0x80) {
			k--
		}
		if k == e || nameWord(s, k) != e || nameWords[s[k:e]]&(wStop|wRole|wTitle|wSalute|wSignoff) != 0 {
			break
		}
		a = k
		if k < 2 || s[k-1] != ' ' || !isAlpha(s[k-2]) {
			break
		}
		e = k - 1
	}
	return a
}

// postcodeAlone: a postcode and city with no street before them. US: a
// city, a state code and the ZIP at s[i:j] ("Springfield, IL 62704");
// DE, FR: five digits and a city as a whole line or field ("10115 Berlin"
// after a line's start or a comma, before its end or a comma).
func postcodeAlone(s string, i, j int) (int, int) {
	if j-i != 5 {
		return -1, -1
	}
	if i >= 4 && s[i-1] == ' ' && isUpper(s[i-2]) && isUpper(s[i-3]) && s[i-4] == ' ' {
		if !strings.Contains(usStates, s[i-3:i-1]) {
			return -1, -1
		}
		c := i - 4
		if c > 0 && s[c-1] == ',' {
			c--
		}
		a := cityBefore(s, c)
		if a < 0 {
			return -1, -1
		}
		e := stateZip(s, c)
		if e < 0 {
			return -1, -1
		}
		return a, e
	}
	if byteAt(s, j) != ' ' || !(i == 0 || s[i-1] == '\n' || s[i-1] == ',' || s[i-1] == ' ' && i > 1 && s[i-2] == ',') {
		return -1, -1
	}
	e := nameWord(s, j+1)
	if e < 0 || nameWords[s[j+1:e]]&wStop != 0 {
		return -1, -1
	}
	if e < len(s) && s[e] != '\n' && s[e] != ',' && s[e] != ';' && s[e] != '"' && s[e] != '\r' {
		return -1, -1
	}
	return i, e
}

// ukPostcodeAlone: a UK postcode after a city ("London SW1A 1AA",
// "Oxford, OX1 2JD").
func ukPostcodeAlone(s string, i int) (int, int) {
	e := ukPostcode(s, i)
	if e < 0 || i < 2 || s[i-1] != ' ' {
		return -1, -1
	}
	c := i - 1
	if s[c-1] == ',' {
		c--
	}
	a := cityBefore(s, c)
	if a < 0 {
		return -1, -1
	}
	return a, e
}

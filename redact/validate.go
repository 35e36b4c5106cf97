package redact

// Byte classes used by the hand-written scanners. One table lookup answers
// "may this byte belong to X" for every token shape the scanners expand.
const (
	clDigit  = 1 << iota // 0-9
	clUpper              // A-Z
	clLower              // a-z
	clHex                // 0-9 A-F a-f
	clB64URL             // base64url alphabet: alnum - _
	clToken              // RFC 7235 token68: alnum - . _ ~ + / =
	clLocal              // e-mail local part: alnum . _ % + - and bytes >= 0x80
	clDomain             // e-mail domain: alnum . - and bytes >= 0x80
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		var m uint8
		switch {
		case c >= '0' && c <= '9':
			m = clDigit | clHex
		case c >= 'A' && c <= 'Z':
			m = clUpper
			if c <= 'F' {
				m |= clHex
			}
		case c >= 'a' && c <= 'z':
			m = clLower
			if c <= 'f' {
				m |= clHex
			}
		}
		if m&(clDigit|clUpper|clLower) != 0 {
			m |= clB64URL | clToken | clLocal | clDomain
		}
		switch c {
		case '-':
			m |= clB64URL | clToken | clLocal | clDomain
		case '_':
			m |= clB64URL | clToken | clLocal
		case '.':
			m |= clToken | clLocal | clDomain
		case '~', '/', '=':
			m |= clToken
		case '+':
			m |= clToken | clLocal
		case '%':
			m |= clLocal
		}
		if c >= 0x80 {
			m |= clLocal | clDomain
		}
		t[c] = m
	}
	return t
}()

func isDigit(c byte) bool  { return c-'0' < 10 }
func isAlpha(c byte) bool  { return class[c]&(clUpper|clLower) != 0 }
func isUpper(c byte) bool  { return class[c]&clUpper != 0 }
func isAlnum(c byte) bool  { return class[c]&(clDigit|clUpper|clLower) != 0 }
func isHex(c byte) bool    { return class[c]&clHex != 0 }
func isB64URL(c byte) bool { return class[c]&clB64URL != 0 }

// isB64Std reports whether c is in the standard base64 alphabet without
// padding (AWS secret keys use it).
func isB64Std(c byte) bool { return isAlnum(c) || c == '+' || c == '/' }

// isPhoneSep reports whether c may separate the groups of a US number.
func isPhoneSep(c byte) bool { return c == '-' || c == '.' || c == ' ' }

// runEnd returns the end of the run of bytes of class cl starting at i.
func runEnd(s string, i int, cl uint8) int {
	for i < len(s) && class[s[i]]&cl != 0 {
		i++
	}
	return i
}

// allDigits reports whether s[i:i+n] exists and is n ASCII digits.
func allDigits(s string, i, n int) bool {
	if i < 0 || i+n > len(s) {
		return false
	}
	for k := i; k < i+n; k++ {
		if !isDigit(s[k]) {
			return false
		}
	}
	return true
}

// atoi converts a short run of ASCII digits (callers check the bytes).
func atoi(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}

// luhnValid reports whether the ASCII digits d pass the Luhn check.
func luhnValid[T string | []byte](d T) bool {
	sum, dbl := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if dbl {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		dbl = !dbl
	}
	return sum%10 == 0
}

// cardBrandOK reports whether the digits d start with the prefix of a known
// card brand and have a length that brand issues.
func cardBrandOK[T string | []byte](d T) bool {
	n := len(d)
	if n < 13 || n > 19 {
		return false
	}
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p3 := p2*10 + int(d[2]-'0')
	p4 := p3*10 + int(d[3]-'0')
	switch {
	case d[0] == '4': // Visa (Electron, Dankort co-branded)
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p2 == 34 || p2 == 37: // Amex
		return n == 15
	case p4 == 6011, p2 == 65, p3 >= 644 && p3 <= 649: // Discover, RuPay 65
		return n >= 16
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16
	case p3 >= 300 && p3 <= 305, p2 == 36, p2 == 38: // Diners Club
		return n >= 14 && n <= 16
	case p2 == 62: // UnionPay
		return n >= 16
	case p4 >= 2200 && p4 <= 2204: // Mir
		return n >= 16
	case p2 == 60, p2 == 81, p2 == 82, p3 == 508: // RuPay
		return n == 16
	case p4 == 5018, p4 == 5020, p4 == 5038, p4 == 5893, p4 == 6304, p4 == 6759, p4 >= 6761 && p4 <= 6763: // Maestro
		return n >= 13
	case p2 == 50, p2 >= 56 && p2 <= 58: // Maestro, other ranges: issued as 16 digits
		return n == 16
	}
	return false
}

// cardValid is the whole card check: brand prefix and length, then Luhn.
func cardValid[T string | []byte](d T) bool { return cardBrandOK(d) && luhnValid(d) }

// ssnValid applies the SSA's never-issued rules to area-group-serial.
func ssnValid(area, group, serial int) bool {
	return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

// itinValid reports whether area-group-serial is an ITIN: area 9xx, group
// 50-65, 70-88, 90-92 or 94-99.
func itinValid(area, group, serial int) bool {
	return area >= 900 && area <= 999 && serial != 0 &&
		(group >= 50 && group <= 65 || group >= 70 && group <= 88 || group >= 90 && group <= 92 || group >= 94)
}

// cardGroupsOK reports whether digit group lengths look like a printed card
// number: 4-4-4-4 (a shorter last group for 13-15 digits, a fifth group for
// 17-19), or Amex / Diners 4-6-5 / 4-6-4.
func cardGroupsOK(lens []int) bool {
	if len(lens) < 2 || lens[0] != 4 {
		return false
	}
	if len(lens) == 3 && lens[1] == 6 && (lens[2] == 5 || lens[2] == 4) {
		return true
	}
	last := len(lens) - 1
	for _, l := range lens[1:last] {
		if l != 4 {
			return false
		}
	}
	return lens[last] >= 1 && lens[last] <= 4
}

// ipv4End parses a dotted quad (octets of 1-3 digits, each <= 255) at s[i:]
// and returns its end, or -1.
func ipv4End(s string, i int) int {
	for k := 0; k < 4; k++ {
		if k > 0 {
			if i >= len(s) || s[i] != '.' {
				return -1
			}
			i++
		}
		j, v := i, 0
		for j < len(s) && j-i < 3 && isDigit(s[j]) {
			v = v*10 + int(s[j]-'0')
			j++
		}
		if j == i || v > 255 || (j < len(s) && isDigit(s[j])) {
			return -1
		}
		i = j
	}
	return i
}

// validIPv6 reports whether t (bytes from [0-9A-Fa-f:.]) is an IPv6
// address: eight groups, or fewer with one "::", optionally ending in an
// embedded dotted quad. A compressed form must contain a decimal digit so
// that "dead::beef"-like identifiers are left alone; times such as
// 10:30:00 have neither eight groups nor "::" and never match.
func validIPv6(t string) bool {
	n := len(t)
	groups, dbl, digit := 0, false, false
	i := 0
	if n >= 2 && t[0] == ':' && t[1] == ':' {
		dbl, i = true, 2
	} else if n > 0 && t[0] == ':' {
		return false
	}
	for i < n {
		j := i
		for j < n && isHex(t[j]) {
			if isDigit(t[j]) {
				digit = true
			}
			j++
		}
		if j < n && t[j] == '.' {
			if ipv4End(t, i) != n {
				return false
			}
			groups += 2
			digit = true
			break
		}
		if j == i || j-i > 4 {
			return false
		}
		groups++
		if j == n {
			break
		}
		// t[j] == ':'
		if j+1 < n && t[j+1] == ':' {
			if dbl {
				return false
			}
			dbl, i = true, j+2
			if i < n && t[i] == ':' {
				return false
			}
			continue
		}
		i = j + 1
		if i == n {
			return false
		}
	}
	if dbl {
		return groups >= 1 && groups <= 7 && digit
	}
	return groups == 8
}

// hasFoldAt reports whether s[i:] starts with word, comparing ASCII letters
// case-insensitively. word must be lower case.
func hasFoldAt(s string, i int, word string) bool {
	if i < 0 || i+len(word) > len(s) {
		return false
	}
	for k := 0; k < len(word); k++ {
		c, w := s[i+k], word[k]
		if c == w {
			continue
		}
		if w < 'a' || w > 'z' || c|0x20 != w {
			return false
		}
	}
	return true
}

// Trigger bits: which scanners a string can possibly need. One pass over
// the string ORs the bits of its bytes (the JSON walker gets the mask for
// free while looking for the closing quote); a scanner whose trigger
// bytes are absent is skipped, so most strings cost one table lookup per
// byte.
const (
	tDigit   = 1 << iota // numbers: cards, SSN, phone, IPv4
	tAt                  // e-mail
	tColon               // IPv6
	tDash                // PEM "-----BEGIN "
	tUpperI              // AKIA / ASIA
	tUpperJ              // eyJ (JWT)
	tUnder               // gh?_ / github_pat_
	tKeyword             // b B z Z w W k K: anchors of bearer, basic, authorization, aws, key
	tPercent             // URL encoding: '%', '+'
	tSpecial             // not a plain byte inside a JSON string: '"', '\\', < 0x20, >= 0x80
	tDot                 // tokens with a prefix ending in '.' (SG., ya29., hvs.)
	tUpperA              // tokens with a base64 header (AWS session, Fernet, Atlassian)
	tEq                  // key=value secrets
	tTilde               // Azure client secrets (...Q~...)
)

var trig = func() (t [256]uint16) {
	for c := 0; c < 256; c++ {
		var m uint16
		switch {
		case c >= '0' && c <= '9':
			m = tDigit
		case c == '@':
			m = tAt
		case c == ':':
			m = tColon
		case c == '-':
			m = tDash
		case c == 'I':
			m = tUpperI
		case c == 'J':
			m = tUpperJ
		case c == '_':
			m = tUnder
		case c == '.':
			m = tDot
		case c == 'A':
			m = tUpperA
		case c == '=':
			m = tEq
		case c == '~':
			m = tTilde
		case kwAnchor[c]:
			m = tKeyword
		case c == '%' || c == '+':
			m = tPercent
		case c == '"' || c == '\\' || c < 0x20 || c >= 0x80:
			m = tSpecial
		}
		t[c] = m
	}
	return t
}()

// triggers returns the OR of the trigger bits of the bytes of s.
func triggers(s string) uint16 {
	var a, b uint16
	i := 0
	for ; i+2 <= len(s); i += 2 {
		a |= trig[s[i]]
		b |= trig[s[i+1]]
	}
	if i < len(s) {
		a |= trig[s[i]]
	}
	return a | b
}

package redact

import "hash/crc32"

// Check-digit validators. Each takes the ASCII characters of a candidate
// with separators already removed (callers check the character classes)
// and answers whether the check digits are right. A candidate that fails
// its check is left alone: that is what keeps order numbers, hashes and
// timestamps intact.

// mod97Valid reports whether an IBAN (upper-case letters and digits, no
// spaces) passes ISO 13616: the country code and check digits moved to the
// end, letters read as 10-35, the number mod 97 must be 1.
func mod97Valid[T string | []byte](iban T) bool {
	if len(iban) < 5 {
		return false
	}
	rem := 0
	for k := 0; k < len(iban); k++ {
		c := iban[(k+4)%len(iban)]
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// mod97Of returns the digits d (ASCII) as a number mod 97.
func mod97Of[T string | []byte](d T) int {
	rem := 0
	for k := 0; k < len(d); k++ {
		rem = (rem*10 + int(d[k]-'0')) % 97
	}
	return rem
}

// Verhoeff tables: the dihedral group D5, the position permutation.
var (
	verhoeffD = [10][10]uint8{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		{1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
		{2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
		{4, 0, 1, 2, 3, 9, 5, 6, 7, 8},
		{5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2},
		{7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
		{8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	verhoeffP = [8][10]uint8{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		{1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
		{5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
		{9, 4, 5, 3, 1, 2, 6, 8, 7, 0},
		{4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5},
		{7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
)

// verhoeffValid reports whether the ASCII digits d (check digit last) pass
// the Verhoeff check (Aadhaar).
func verhoeffValid[T string | []byte](d T) bool {
	c := uint8(0)
	for i := 0; i < len(d); i++ {
		c = verhoeffD[c][verhoeffP[i%8][d[len(d)-1-i]-'0']]
	}
	return c == 0
}

// iso7064Mod11_10 returns the ISO 7064 MOD 11,10 check digit of the ASCII
// digits d (the German Steuer-ID uses it).
func iso7064Mod11_10[T string | []byte](d T) int {
	p := 10
	for i := 0; i < len(d); i++ {
		s := (int(d[i]-'0') + p) % 10
		if s == 0 {
			s = 10
		}
		p = s * 2 % 11
	}
	c := 11 - p
	if c == 10 {
		c = 0
	}
	return c
}

// steuerIDValid checks an 11-digit German tax id (Steuerliche
// Identifikationsnummer): no leading zero; in the first ten digits exactly
// one digit occurs twice or three times (a triple not in three adjacent
// places) and the others at most once; the last digit is the ISO 7064
// MOD 11,10 check digit of the first ten.
func steuerIDValid[T string | []byte](d T) bool {
	if len(d) != 11 || d[0] == '0' {
		return false
	}
	var n [10]int
	for i := 0; i < 10; i++ {
		n[d[i]-'0']++
	}
	multi, rep := 0, byte(0)
	for v, c := range n {
		if c > 1 {
			if c > 3 {
				return false
			}
			multi++
			rep = byte('0' + v)
		}
	}
	if multi != 1 {
		return false
	}
	for i := 0; i+2 < 10; i++ {
		if d[i] == rep && d[i+1] == rep && d[i+2] == rep {
			return false
		}
	}
	return iso7064Mod11_10(d[:10]) == int(d[10]-'0')
}

// allSame reports whether every byte of d is d[0] (000.000.000-00 and
// friends pass the Brazilian checks but are never issued).
func allSame[T string | []byte](d T) bool {
	for i := 1; i < len(d); i++ {
		if d[i] != d[0] {
			return false
		}
	}
	return true
}

// cpfValid checks an 11-digit Brazilian CPF: two mod-11 check digits.
func cpfValid[T string | []byte](d T) bool {
	if len(d) != 11 || allSame(d) {
		return false
	}
	for k := 9; k <= 10; k++ {
		sum := 0
		for i := 0; i < k; i++ {
			sum += int(d[i]-'0') * (k + 1 - i)
		}
		if sum*10%11%10 != int(d[k]-'0') {
			return false
		}
	}
	return true
}

// cnpjValid checks a 14-digit Brazilian CNPJ: two mod-11 check digits with
// weights 2-9 repeating from the right.
func cnpjValid[T string | []byte](d T) bool {
	if len(d) != 14 || allSame(d) {
		return false
	}
	for k := 12; k <= 13; k++ {
		sum := 0
		for i := 0; i < k; i++ {
			sum += int(d[i]-'0') * (2 + (k-1-i)%8)
		}
		r := sum % 11
		dv := 0
		if r >= 2 {
			dv = 11 - r
		}
		if dv != int(d[k]-'0') {
			return false
		}
	}
	return true
}

const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62Value decodes s (0-9A-Za-z) or reports false.
func base62Value(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'A' && c <= 'Z':
			d = c - 'A' + 10
		case c >= 'a' && c <= 'z':
			d = c - 'a' + 36
		default:
			return 0, false
		}
		v = v*62 + uint64(d)
	}
	return v, true
}

// crc32TokenValid checks the body of a GitHub (ghp_, gho_, ...) or npm
// (npm_) token of 36 characters: 30 random characters and 6 base62
// characters of their CRC32 (IEEE).
func crc32TokenValid(body string) bool {
	if len(body) != 36 {
		return false
	}
	v, ok := base62Value(body[30:])
	return ok && v == uint64(crc32.ChecksumIEEE([]byte(body[:30])))
}

// esDNILetters maps a DNI number mod 23 to its control letter.
const esDNILetters = "TRWAGMYFPDXBNJZSQVHLCKE"

// esDNIValid checks 8 digits and a control letter (Spanish DNI; an NIE has
// X, Y or Z replaced by 0, 1 or 2 before calling).
func esDNIValid(digits string, letter byte) bool {
	return esDNILetters[atoi(digits)%23] == letter
}

// Codice fiscale check character tables: the value of a character in an
// odd (1st, 3rd, ...) position; in an even position a digit counts its
// value and a letter its index.
var itOdd = [26]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}

func itIndex(c byte) int {
	if c >= '0' && c <= '9' {
		return int(c - '0')
	}
	return int(c - 'A')
}

// itFiscalCodeValid checks a 16-character Italian codice fiscale
// (upper case): the last character is the check character of the first
// 15. Digits in odd positions take the odd value of the letter with the
// same index (0 = A).
func itFiscalCodeValid(cf string) bool {
	if len(cf) != 16 {
		return false
	}
	sum := 0
	for i := 0; i < 15; i++ {
		v := itIndex(cf[i])
		if i%2 == 0 {
			sum += itOdd[v]
		} else {
			sum += v
		}
	}
	return cf[15] == byte('A'+sum%26)
}

// frNIRValid checks a French social security number (NIR) of 15
// characters: sex digit, year, month, department (2A/2B for Corsica),
// commune, order, and a two-digit key 97 - (the first 13 as a number
// mod 97).
func frNIRValid[T string | []byte](d T) bool {
	if len(d) != 15 || (d[0] != '1' && d[0] != '2' && d[0] != '3' && d[0] != '4' && d[0] != '7' && d[0] != '8') {
		return false
	}
	if m := atoi(string(d[3:5])); !(m >= 1 && m <= 12 || m >= 20 && m <= 42 || m >= 50) {
		return false
	}
	var body [13]byte
	for i := range body {
		body[i] = d[i]
	}
	sub := 0
	if body[5] == '2' && (body[6] == 'A' || body[6] == 'B') { // Corsica: 2A is 19, 2B is 18
		sub = 1000000
		if body[6] == 'B' {
			sub = 2000000
		}
		body[6] = '0'
	}
	for _, c := range body {
		if !isDigit(c) {
			return false
		}
	}
	n := 0
	for _, c := range body {
		n = n*10 + int(c-'0')
	}
	n -= sub
	if n < 0 {
		return false
	}
	return 97-n%97 == atoi(string(d[13:15]))
}

// vinValue is the value of a VIN character in the check-digit sum (0 for
// the letters a VIN never holds: I, O, Q).
var vinValue = func() (t [256]int8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	const letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
	values := [...]int8{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9}
	for i := 0; i < len(letters); i++ {
		t[letters[i]] = values[i]
	}
	return t
}()

// vinValid checks a 17-character vehicle identification number (upper
// case, no I, O or Q, at least five digits and three letters, a model-year
// code in position 10) and its check digit (position 9: the weighted sum mod 11, 10 written
// X), as North American VINs carry.
func vinValid(v string) bool {
	if len(v) != 17 {
		return false
	}
	weights := [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}
	sum, digits := 0, 0
	for i := 0; i < 17; i++ {
		c := v[i]
		if c == 'I' || c == 'O' || c == 'Q' || !isDigit(c) && !isUpper(c) {
			return false
		}
		if isDigit(c) {
			digits++
		}
		sum += int(vinValue[c]) * weights[i]
	}
	check := byte('0' + sum%11)
	if sum%11 == 10 {
		check = 'X'
	}
	// A model-year code in position 10 (never 0, U or Z); manufacturer
	// and descriptor letters as well as digits.
	return digits >= 5 && digits <= 14 && v[8] == check && v[9] != '0' && v[9] != 'U' && v[9] != 'Z'
}

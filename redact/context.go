package redact

// Context: a weak shape (a passport number, a date, an unformatted CPF)
// counts only where an object key or a word shortly before it says what
// it is.

// keyCtx is what the JSON object key of a string value says about it.
type keyCtx uint32

const (
	ctxAuth       keyCtx = 1 << iota // value of an Authorization header
	ctxAWSSecret                     // value of an AWS secret key field
	ctxDOB                           // a date of birth
	ctxPassport                      // a passport number
	ctxAadhaar                       // an Aadhaar number
	ctxCPF                           // a CPF
	ctxCNPJ                          // a CNPJ
	ctxSSN                           // a US SSN or ITIN
	ctxMRN                           // a medical record number
	ctxPassword                      // a password
	ctxPassphrase                    // a passphrase (may hold spaces)
	ctxSecret                        // a secret, token or key
	ctxCVV                           // a card's security code
	ctxPhone                         // a phone number
	ctxMsgID                         // a Message-ID (not an e-mail address)
	ctxName                          // a person's name (any name shape)
	ctxNameWeak                      // a name, or the name of a thing ("name")
	ctxAddress                       // a street address
)

// contextWindow is how far before a candidate a context word may start.
const contextWindow = 48

// contextWords are the words that give each context in free text, lower
// case; a word must not continue a longer word on its left.
var contextWords = [...]struct {
	ctx   keyCtx
	words []string
}{
	{ctxDOB, []string{"dob", "d.o.b", "birth", "born", "geburt", "geb.", "naissance", "nacimiento", "nascita", "nascimento"}},
	{ctxPassport, []string{"passport", "passeport", "reisepass", "pasaporte", "passaporto", "passaporte"}},
	{ctxAadhaar, []string{"aadhaar", "aadhar", "uidai"}},
	{ctxCPF, []string{"cpf"}},
	{ctxCNPJ, []string{"cnpj"}},
	{ctxSSN, []string{"ssn", "social security", "itin", "taxpayer id"}},
	{ctxMRN, []string{"mrn", "medical record", "patient id", "chart no", "chart number"}},
	{ctxCVV, []string{"cvv", "cvc", "cvv2", "cvc2", "csc", "cid", "security code", "card code", "card verification"}},
	{ctxPhone, []string{"phone", "tel", "tel.", "telephone", "mobile", "cell", "cellphone", "fax", "whatsapp", "msisdn",
		"contact number", "telefon", "telefone", "telefono", "teléfono", "téléphone", "handy", "portable",
		"call me", "call us", "sms", "text me"}},
}

// wholeWord marks the contexts whose words must also end at a word
// boundary ("tel" is not "telemetry", "cell" not "cells").
const wholeWord = ctxCVV | ctxPhone

// contextFirst maps a byte to the contexts with a word starting with it
// (both cases), so that a byte starting no word of the wanted context
// costs one lookup.
var contextFirst = func() (t [256]keyCtx) {
	for _, cw := range contextWords {
		for _, w := range cw.words {
			t[w[0]] |= cw.ctx
			t[w[0]-'a'+'A'] |= cw.ctx
		}
	}
	return t
}()

// context reports whether the key gives want, or one of want's words
// starts within contextWindow bytes before i.
func (n *numScan) context(i int, want keyCtx) bool {
	if n.ctx&want != 0 {
		return true
	}
	s := n.s
	from := max(0, i-contextWindow)
	if want == ctxDOB {
		// A date's word does not reach past another value ended by a
		// sentence mark ("Date of birth: 1975-01-23. Visit on 2026-03-05").
		for k := i - 2; k > from; k-- {
			if isDigit(s[k-1]) && (s[k] == '.' || s[k] == ';' || s[k] == '\n') && (s[k+1] == ' ' || s[k] == '\n') {
				from = k + 1
				break
			}
		}
	}
	for k := from; k < i; k++ {
		if contextFirst[s[k]]&want == 0 || (k > 0 && isAlpha(s[k-1])) {
			continue
		}
		for _, cw := range contextWords {
			if cw.ctx != want {
				continue
			}
			for _, w := range cw.words {
				if hasFoldAt(s, k, w) && (want&wholeWord == 0 || !isAlpha(byteAt(s, k+len(w)))) {
					return true
				}
			}
		}
	}
	return false
}

// keyContext classifies an object key. "Authorization" (any case, also as
// a suffix: Proxy-Authorization, HTTP_AUTHORIZATION) marks an
// Authorization header value; with '_', '-', '.' and ' ' removed and
// lower-cased, a key containing "awssecret" or "secretaccesskey" marks an
// AWS secret, one that is or ends in "dob" or contains "birth" a date of
// birth, and one containing a context word of another kind that kind.
func keyContext(k string) keyCtx {
	if len(k) < 3 || len(k) > 64 {
		return 0
	}
	var ctx keyCtx
	if hasFoldAt(k, len(k)-13, "authorization") {
		ctx |= ctxAuth
	}
	var buf [64]byte
	n := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	t := string(buf[:n])
	if hasSuffix(t, "dob") {
		ctx |= ctxDOB
	}
	if hasSuffix(t, "ssn") || hasSuffix(t, "itin") {
		ctx |= ctxSSN
	}
	if hasSuffix(t, "mrn") {
		ctx |= ctxMRN
	}
	if keyMayHaveContext(t) {
		switch secretKeyKind(t) {
		case kPassword:
			ctx |= ctxPassword
			if hasSuffix(t, "passphrase") {
				ctx |= ctxPassphrase
			}
		case kSecret:
			ctx |= ctxSecret
		}
		ctx |= tailContext(t)
	}
	for i := 0; i < len(t); i++ {
		for _, kw := range keyWords[t[i]] {
			if len(t)-i >= len(kw.word) && t[i+1] == kw.word[1] && t[i:i+len(kw.word)] == kw.word {
				ctx |= kw.ctx
			}
		}
	}
	return ctx
}

type keyWord struct {
	word string
	ctx  keyCtx
}

// keyWords indexes by first byte the words (of three bytes or more) that
// give a key its context anywhere in it: awssecret, secretaccesskey,
// socialsecurity, medicalrecord, patientid, birth, geburt and the context
// words of the kinds other than DOB, SSN and MRN (whose short words must
// end the key).
var keyWords = func() (t [256][]keyWord) {
	add := func(w string, c keyCtx) { t[w[0]] = append(t[w[0]], keyWord{w, c}) }
	add("awssecret", ctxAWSSecret)
	add("secretaccesskey", ctxAWSSecret)
	add("socialsecurity", ctxSSN)
	add("medicalrecord", ctxMRN)
	add("patientid", ctxMRN)
	add("birth", ctxDOB)
	add("geburt", ctxDOB)
	for _, cw := range contextWords[1:] {
		if cw.ctx&(ctxSSN|ctxMRN|wholeWord) != 0 {
			continue
		}
		for _, w := range cw.words {
			add(w, cw.ctx)
		}
	}
	return t
}()

func contains(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

func hasSuffix(s, w string) bool { return len(s) >= len(w) && s[len(s)-len(w):] == w }

// tailContext classifies a folded key by its end: a card's security code,
// a phone number, a Message-ID.
func tailContext(t string) keyCtx {
	for _, tc := range keyTails {
		if hasSuffix(t, tc.word) {
			return tc.ctx
		}
	}
	return 0
}

var keyTails = []keyWord{
	{"cvv", ctxCVV}, {"cvc", ctxCVV}, {"cvv2", ctxCVV}, {"cvc2", ctxCVV}, {"csc", ctxCVV},
	{"securitycode", ctxCVV}, {"cardcode", ctxCVV}, {"verificationcode", 0},
	{"phone", ctxPhone}, {"phonenumber", ctxPhone}, {"phoneno", ctxPhone}, {"tel", ctxPhone},
	{"telephone", ctxPhone}, {"mobile", ctxPhone}, {"mobilenumber", ctxPhone}, {"cell", ctxPhone},
	{"cellphone", ctxPhone}, {"fax", ctxPhone}, {"msisdn", ctxPhone}, {"whatsapp", ctxPhone},
	{"contactnumber", ctxPhone}, {"telefon", ctxPhone}, {"telefone", ctxPhone}, {"telefono", ctxPhone},
	{"messageid", ctxMsgID}, {"msgid", ctxMsgID}, {"inreplyto", ctxMsgID}, {"references", ctxMsgID},
}

// keyMayHaveContext is a cheap test of a key's end before keyContext:
// whether it can end like an Authorization header, an AWS secret, a
// password, secret, card code, phone or Message-ID key. (The context
// kinds of us, in and br match anywhere in a key; with one of them on,
// every key is classified.)
func keyMayHaveContext(k string) bool {
	n := len(k)
	if n < 3 {
		return false
	}
	h := tail3Hash(k[n-3], k[n-2], k[n-1])
	return keyTailBits[h>>6]&(1<<(h&63)) != 0 && keyEndGivesContext(k)
}

// keyEndGivesContext is keyMayHaveContext past the bitset.
func keyEndGivesContext(k string) bool {
	n := len(k)
	var t [3]byte
	for i := range t {
		t[i] = lowerASCII(k[n-3+i])
	}
	ends := func(w string) bool { return hasFoldAt(k, n-len(w), w) }
	switch string(t[:]) {
	case "swd", "pwd", "ret", "ken", "key", "sig", "cvv", "cvc", "vv2", "vc2", "csc", "tel", "fax", "sdn",
		"fon", "ono", "eno", "als":
		return true
	case "ion":
		return ends("authorization")
	case "ord":
		return ends("sword") || ends("pword")
	case "ase":
		return ends("phrase")
	case "ass":
		return !ends("class")
	case "ial":
		return ends("credential")
	case "one":
		return ends("phone")
	case "ber":
		return ends("number") && (containsFold(k, "phone") || containsFold(k, "mobile") || containsFold(k, "contact"))
	case "ile":
		return ends("mobile")
	case "ell":
		return ends("cell")
	case "app":
		return ends("whatsapp")
	case "ces":
		return ends("references")
	case "ode":
		return ends("code") && (containsFold(k, "secur") || containsFold(k, "card") || containsFold(k, "pass"))
	case "_id", "-id", "eid", "gid", "_to", "-to", "yto":
		return ends("message_id") || ends("message-id") || ends("messageid") || ends("msg_id") || ends("msgid") ||
			ends("reply_to") || ends("reply-to") || ends("replyto")
	}
	return false
}

// keyTailEnds are the last three bytes keyMayHaveContext looks at;
// keyTailBits holds their hashes, so that most keys are passed by one
// lookup.
var keyTailEnds = []string{"swd", "pwd", "ret", "ken", "key", "sig", "cvv", "cvc", "vv2", "vc2", "csc", "tel", "fax",
	"sdn", "fon", "ono", "eno", "als", "ion", "ord", "ase", "ass", "ial", "one", "ber", "ile", "ell", "app", "ces",
	"ode", "_id", "-id", "eid", "gid", "_to", "-to", "yto"}

var keyTailBits = func() (b [64]uint64) {
	for _, e := range keyTailEnds {
		h := tail3Hash(e[0], e[1], e[2])
		b[h>>6] |= 1 << (h & 63)
	}
	return b
}()

// tail3Hash hashes three bytes into 12 bits, ASCII letters folded (and
// other bytes with bit 5 set, alike in the table and the lookup).
func tail3Hash(a, b, c byte) uint32 {
	return (uint32(a|0x20)*961 + uint32(b|0x20)*31 + uint32(c|0x20)) & 4095
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// containsFold reports whether k holds w (lower case), any case.
func containsFold(k, w string) bool {
	for i := 0; i+len(w) <= len(k); i++ {
		if hasFoldAt(k, i, w) {
			return true
		}
	}
	return false
}

package redact

import (
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The names pack: people's names and street addresses. A name has no
// shape of its own, so each is found by what stands around it: an object
// key naming a person, an e-mail display name, a salutation or title, a
// sign-off, and in free text only a given name of the list followed by a
// capitalised surname. An address is a house number, street words and a
// street type (or the reverse in EU forms), with its unit and its
// postcode and city.

//go:embed namedata/given.txt
var givenList string

//go:embed namedata/surnames.txt
var surnameList string

// Word flags of nameWords.
const (
	wGiven       uint16 = 1 << iota // a given name of the list
	wSurname                        // a surname of the list
	wAmbiguous                      // a given name that is also a common word or product (free text needs a listed surname)
	wTitle                          // Mr, Dr, Prof...: a name follows
	wSalute                         // Dear, Hi...: a name follows, then a comma or the line's end
	wSignoff                        // Regards, Thanks...: a name follows on the next line
	wRole                           // patient, employee...: a name of two words or a listed given name follows
	wStop                           // never a name word (Sir, Team, Customer...)
	wStreet                         // a street type ending the street's name (Street, Ave, Road)
	wStreetFirst                    // a street type before the name (rue, via, Calle) with the number before (FR) or after (ES, IT)
	wUnit                           // Apt, Suite, Unit...: a unit follows
	wParticle                       // de, la, van...: inside a name or street
)

var nameWords = func() map[string]uint16 {
	m := map[string]uint16{}
	add := func(f uint16, words string) {
		for _, w := range strings.Fields(words) {
			m[w] |= f
		}
	}
	for _, l := range strings.Split(givenList, "\n") {
		if l != "" && l[0] != '#' {
			m[l] |= wGiven
		}
	}
	for _, l := range strings.Split(surnameList, "\n") {
		if l != "" && l[0] != '#' {
			m[l] |= wSurname
		}
	}
	add(wAmbiguous, `Claude Ruby Julia Jasmine Will Grace Rose Amber Victoria Jordan Hope Mark Bill Pat Chase Max Jack
		Frank Joy June May April Dawn Holly Ivy Sage Miles Georgia Paris Austin Dallas Phoenix Lincoln Sam Gemini
		Hazel Aurora Stella Maya Harper Avery Riley Aria Leo Hudson Victor Oscar Ben Tom Dan Rob Art Bob Will Don
		Ray Rich Hunter Lane Mason Logan Wayne Carl Eugene Chad Troy Blake Sophia Alexa Siri Jean Nora Mila Andre`)
	add(wTitle, "Mr Mrs Ms Miss Mx Dr Prof Professor Doctor Herr Frau Mme Mlle Madame Monsieur Sr Sra Dott Dra")
	add(wSalute, "Dear Hi Hello Hey Dear Greetings Morning Hallo Bonjour Hola Ciao Liebe Lieber Querida Querido Olá")
	add(wSignoff, "Regards regards Sincerely sincerely Thanks thanks Cheers cheers Best Cordially Respectfully Signed signed "+
		"Yours yours Warmly Gruß Grüße Cordialement Saludos Atenciosamente Thank")
	add(wRole, "patient Patient employee Employee recipient Recipient customer Customer applicant Applicant caller "+
		"Caller attendee Attendee tenant Tenant guest Guest member Member")
	add(wStop, `Sir Madam Madame Team Customer Customers Colleague Colleagues All Everyone There Folks Friends Valued Sirs
		Hiring Support Manager Admin Administrator User Users Client Partner Member Members Guest World Guys Ladies
		Gentlemen Reviewer Reviewers Committee Board Staff Owner Owners Applicant Developer Developers Hi Hello Dear
		The This That These Those It Its We Our Your You He She They His Her Their A An And Or Of In On At To For
		From With By As Is Are Was Be If When Then Please Thank Thanks Regards Best Note Team Monday Tuesday Wednesday
		Thursday Friday Saturday Sunday January February March April May June July August September October November
		December Street Road Avenue Code Sonnet Opus Haiku Pro Max Mini Ultra Cloud Server Service Services API
		Inc Ltd LLC GmbH Corp Company Group Bot Notifications Notification Billing Sales Security Ops Engineering
		Account Accounts Care Desk Help Info News Newsletter Alerts Alert No Reply Noreply Update Updates Order Orders
		Ticket Tickets Main Test Tests Build Release Version Error Warning Debug Request Response New Old Good Great
		OK Okay Yes Not Sure Also Just Here Now Today Tomorrow Again Again Sorry Welcome Unit Id ID Name Number
		Record Chart Care Portal Platform Studio Assistant Agent Agents Model Models Python Java Rust Go Ruby Rails
		Kubernetes Docker Linux Windows Mac Apple Google Amazon Microsoft Github GitHub Slack Jira Confluence
		Street Lane Way Drive Court Place Square Park Center Centre Hospital Clinic Bank University School
		Doe Dr Mr Mrs Ms Prof Department Dept Office Manager Director Officer Lead Head Chief Nurse`)
	add(wStreet, `Street St Avenue Ave Av Road Rd Boulevard Blvd Lane Ln Drive Dr Court Ct Way Place Pl Terrace Ter
		Parkway Pkwy Highway Hwy Close Crescent Cres Circle Cir Square Sq Trail Trl Row Gardens Grove Mews Hill Walk
		Alley Plaza Pike Broadway Turnpike Expressway Loop Run Path Heights Park`)
	add(wStreetFirst, `rue Rue avenue boulevard allée chemin impasse quai place via Via viale Viale piazza Piazza corso Corso
		calle Calle Avenida avenida Rua rua Carrer carrer Plaza plaza Paseo paseo Camino Travessa Largo`)
	add(wUnit, "Apt Apartment Suite Ste Unit Flat Floor Fl Room Rm Bldg Building Wohnung Etage Piso")
	add(wParticle, "de la du des le di da del dos das van von der den ter bin al el of the y e")
	return m
}()

// germanEnd and germanNext are the last bytes of German street words
// (straße, weg, allee, platz, gasse, damm, str.) and the first bytes of
// a separate one (Straße, Str., Allee, Weg): a word passes germanStreet
// only if one of them fits.
var germanEnd = [256]bool{'e': true, 'E': true, 'g': true, 'G': true, 'z': true, 'Z': true, 'm': true, 'M': true, 'r': true, 'R': true}
var germanNext = [256]bool{'S': true, 'A': true, 'W': true}

// trigBits holds trigHash of the words that start a rule in scanNames
// (given names, titles, salutations, sign-offs, roles, street types
// before the name), so that most words are passed by one lookup, without
// hashing the word for the map.
var trigBits = func() (b [128]uint64) {
	for w, f := range nameWords {
		if len(w) > 1 && f&(wGiven|wTitle|wSalute|wSignoff|wRole|wStreetFirst) != 0 {
			h := trigHash(w[0], w[1], len(w))
			b[h>>6] |= 1 << (h & 63)
		}
	}
	return b
}()

// lowerPairs holds the first two bytes of the lower-case words that start
// a rule (those of trigBits), so that most lower-case words of a sentence
// are passed before their end is looked for.
var lowerPairs = func() (b [26 * 256 / 64]uint64) {
	for w, f := range nameWords {
		if len(w) > 1 && isLower(w[0]) && f&(wGiven|wTitle|wSalute|wSignoff|wRole|wStreetFirst) != 0 {
			h := uint32(w[0]-'a')<<8 | uint32(w[1])
			b[h>>6] |= 1 << (h & 63)
		}
	}
	return b
}()

// lowerStartsRule reports whether a word starting with the lower-case
// letter a and the byte b may start a rule.
func lowerStartsRule(a, b byte) bool {
	h := uint32(a-'a')<<8 | uint32(b)
	return lowerPairs[h>>6]&(1<<(h&63)) != 0
}

// trigHash hashes a word's first two bytes and its length into 13 bits.
func trigHash(a, b byte, n int) uint32 {
	return (uint32(a)*131 + uint32(b)*17 + uint32(n)) & 8191
}

// nameWord returns the end of the name-shaped word starting at i (an
// upper-case letter, then lower-case letters; an apostrophe or hyphen
// followed by an upper-case letter: O'Brien, Jean-Luc; Mc and Mac before
// one), or -1.
func nameWord(s string, i int) int {
	r, n := utf8.DecodeRuneInString(s[i:])
	if !unicode.IsUpper(r) {
		return -1
	}
	j := i + n
	lower := 0
	for j < len(s) {
		c := s[j]
		switch {
		case c >= 'a' && c <= 'z':
			j++
			lower++
		case c >= 0x80:
			r, n := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsLetter(r) {
				return end(lower, j)
			}
			j += n
			lower++
		case (c == '\'' || c == '-') && j+1 < len(s) && startsUpper(s[j+1:]) && (lower > 0 || c == '\'' && j == i+1):
			j++
			if k := nameWord(s, j); k > 0 {
				return k
			}
			return -1
		case isUpper(c) && (s[i:j] == "Mc" || s[i:j] == "Mac"):
			j++
		case isAlnum(c) || c == '_':
			return -1
		default:
			return end(lower, j)
		}
	}
	return end(lower, j)
}

func end(lower, j int) int {
	if lower == 0 {
		return -1
	}
	return j
}

// namePhrase reads up to max name words from i, separated by one space
// (an initial "F." or a particle may stand between them), and returns the
// end of the last word, the number of words and the flags of the first.
func namePhrase(s string, i, max int) (e, words int, first uint16) {
	e = -1
	for words < max && i < len(s) {
		j := nameWord(s, i)
		if j < 0 {
			if isUpper(s[i]) && byteAt(s, i+1) == '.' && byteAt(s, i+2) == ' ' && words > 0 { // a middle initial
				i += 3
				continue
			}
			if k := wordEnd(s, i); k > i && nameWords[s[i:k]]&wParticle != 0 && words > 0 && byteAt(s, k) == ' ' &&
				isUpper(byteAt(s, k+1)) {
				i = k + 1
				continue
			}
			break
		}
		f := nameWords[s[i:j]]
		if f&wStop != 0 {
			break
		}
		if words == 0 {
			first = f
		}
		words++
		e = j
		if byteAt(s, j) != ' ' {
			break
		}
		i = j + 1
	}
	return e, words, first
}

// wordEnd returns the end of the run of letters (and non-ASCII bytes)
// from i.
func wordEnd(s string, i int) int {
	j := i
	for j < len(s) && letterByte[s[j]] {
		j++
	}
	return j
}

// letterByte: ASCII letters and the bytes of non-ASCII characters.
var letterByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isAlpha(byte(c)) || c >= 0x80
	}
	return t
}()

func scanNames(s string, ctx keyCtx, on kindSet, ms []match) []match {
	if ctx&ctxName != 0 && on.has(kName) {
		if a, b, ok := wholeName(s); ok {
			return append(ms, match{a, b, kName})
		}
	}
	if ctx&ctxNameWeak != 0 && on.has(kName) {
		if a, b, ok := wholeName(s); ok && weakName(s[a:b]) {
			return append(ms, match{a, b, kName})
		}
	}
	if ctx&ctxAddress != 0 && on.has(kAddress) {
		if a, b, ok := wholeAddress(s); ok {
			return append(ms, match{a, b, kAddress})
		}
	}
	// A rule starts only where the byte before ends no word: the scan
	// steps from one such start to the next, a word (letters, digits,
	// '_' and non-ASCII bytes) and the byte after it at a time.
	for i := 0; i < len(s); {
		c := s[i]
		k := i + 1 // the word goes on from here
		switch {
		case !nameWordByte[c]:
			if c == '<' && on.has(kName) {
				ms = displayName(s, i, ms)
			} else if c == '-' && on.has(kName) && (i == 0 || s[i-1] == '\n') {
				if m, ok := dashSignoff(s, i); ok {
					ms = append(ms, m)
					i = nextNameStart(s, m.end)
					continue
				}
			}
			i++
			continue
		case isDigit(c):
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			k = j
			// A house number is 1-5 digits, then a blank, a comma, a
			// letter or a range: timestamps, ids and hashes stop here.
			if j-i <= 5 && (j == len(s) || s[j] == ' ' || s[j] == ',' || s[j] == '-' || isAlpha(s[j]) || j-i == 5) && on.has(kAddress) {
				if e := addressFromNumber(s, i); e > 0 {
					ms = append(ms, match{i, e, kAddress})
					i = nextNameStart(s, e)
					continue
				}
				if a, e := postcodeAlone(s, i, j); e > 0 {
					ms = append(ms, match{a, e, kAddress})
					i = nextNameStart(s, e)
					continue
				}
			}
		case c == 0xe2:
			if on.has(kName) && (i == 0 || s[i-1] == '\n') {
				if m, ok := dashSignoff(s, i); ok {
					ms = append(ms, m)
					i = nextNameStart(s, m.end)
					continue
				}
			}
		case isLower(c) && !lowerStartsRule(c, byteAt(s, i+1)):
			// A lower-case word starting no rule's word: skipped whole.
		case isAlpha(c) || c >= 0xc0:
			j := wordEnd(s, i)
			k = j
			var f uint16
			if j-i > 1 {
				if h := trigHash(s[i], s[i+1], j-i); trigBits[h>>6]&(1<<(h&63)) != 0 {
					f = nameWords[s[i:j]]
				}
			}
			if j-i <= 2 && isUpper(c) && j < len(s) && isDigit(s[j]) && on.has(kAddress) {
				if a, e := ukPostcodeAlone(s, i); e > 0 {
					ms = append(ms, match{a, e, kAddress})
					i = nextNameStart(s, e)
					continue
				}
			}
			if f&(wGiven|wTitle|wSalute|wSignoff|wRole|wStreetFirst) == 0 {
				if on.has(kAddress) && isUpper(c) && j < len(s) && (germanEnd[s[j-1]] || s[j] == ' ' && germanNext[byteAt(s, j+1)]) {
					if a, e := germanStreet(s, i, j); e > 0 {
						ms = append(ms, match{a, e, kAddress})
						i = nextNameStart(s, e)
						continue
					}
				}
			} else if m, ok := nameAt(s, i, j, f, on); ok {
				ms = append(ms, m)
				i = nextNameStart(s, m.end)
				continue
			}
		}
		// Nothing starts inside this word, nor at the byte after it.
		for k < len(s) && nameWordByte[s[k]] {
			k++
		}
		i = k + 1
	}
	return ms
}

// nameWordByte: the bytes of a word for the names scan (ASCII letters and
// digits, '_', and the bytes of non-ASCII characters). No rule starts
// right after one.
var nameWordByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isAlnum(byte(c)) || c == '_' || c >= 0x80
	}
	return t
}()

// nextNameStart returns the first position from k at which a rule of the
// names scan may start: one whose byte before ends no word.
func nextNameStart(s string, k int) int {
	for k > 0 && k < len(s) && nameWordByte[s[k-1]] {
		k++
	}
	return k
}

// nameAt tries the rules of the word s[i:j] with flags f.
func nameAt(s string, i, j int, f uint16, on kindSet) (match, bool) {
	if f&wStreetFirst != 0 && on.has(kAddress) {
		if e := addressFromType(s, i, j); e > 0 {
			return match{i, e, kAddress}, true
		}
	}
	if !on.has(kName) {
		return match{}, false
	}
	k := j
	switch {
	case f&wTitle != 0:
		if byteAt(s, k) == '.' {
			k++
		}
		if byteAt(s, k) != ' ' {
			return match{}, false
		}
		if e, n, _ := namePhrase(s, k+1, 3); n > 0 {
			return match{k + 1, e, kName}, true
		}
	case f&wSalute != 0:
		if byteAt(s, k) != ' ' {
			return match{}, false
		}
		if e, n, _ := namePhrase(s, k+1, 3); n > 0 && nameEnds(s, e) {
			return match{k + 1, e, kName}, true
		}
	case f&wSignoff != 0:
		return signoff(s, i, j)
	case f&wRole != 0:
		for k < len(s) && (s[k] == ':' || s[k] == ' ') && k-j < 3 {
			k++
		}
		if k == j || k >= len(s) {
			return match{}, false
		}
		if e, n, first := namePhrase(s, k, 3); n >= 2 || n == 1 && first&wGiven != 0 && first&wAmbiguous == 0 {
			return match{k, e, kName}, true
		}
	}
	if f&wGiven != 0 && isUpper(s[i]) && byteAt(s, j) == ' ' {
		return freeName(s, i, j, f)
	}
	return match{}, false
}

// nameEnds reports whether a name after a salutation ends the greeting.
func nameEnds(s string, e int) bool {
	if e >= len(s) {
		return true
	}
	switch s[e] {
	case ',', '!', ':', '\n', '\r', ';':
		return true
	}
	return false
}

// freeName: a listed given name, a middle initial maybe, and a
// capitalised surname: a listed one, or after an unambiguous given name
// any name-shaped word but a stop word.
func freeName(s string, i, j int, f uint16) (match, bool) {
	k := j + 1
	if isUpper(byteAt(s, k)) && byteAt(s, k+1) == '.' && byteAt(s, k+2) == ' ' {
		k += 3
	}
	e := nameWord(s, k)
	if e < 0 {
		return match{}, false
	}
	sf := nameWords[s[k:e]]
	if sf&wStop != 0 || sf&(wStreet|wUnit) != 0 {
		return match{}, false
	}
	if sf&wSurname == 0 && f&wAmbiguous != 0 {
		return match{}, false
	}
	if sf&wSurname == 0 && (isUpper(byteAt(s, e+1)) && byteAt(s, e) == ' ' || byteAt(s, e) == '.' && isAlpha(byteAt(s, e+1))) {
		return match{}, false // a run of capitalised words (a title, a product) or a dotted name
	}
	// A listed surname may follow (Maria Garcia Lopez).
	if byteAt(s, e) == ' ' {
		if e2 := nameWord(s, e+1); e2 > 0 && nameWords[s[e+1:e2]]&wSurname != 0 {
			e = e2
		}
	}
	return match{i, e, kName}, true
}

// signoff: "Regards,\nDana Whitfield", "Thanks, Dana", "Signed: Dana
// Whitfield", "Kind regards -- Dana".
func signoff(s string, i, j int) (match, bool) {
	k := j
	if s[i:j] == "Thank" {
		if !strings.HasPrefix(s[k:], " you") {
			return match{}, false
		}
		k += 4
	}
	if (s[i:j] == "Best" || s[i:j] == "Warm" || s[i:j] == "Kind") && strings.HasPrefix(s[k:], " regards") {
		k += 8
	}
	if (s[i:j] == "Signed" || s[i:j] == "signed") && strings.HasPrefix(s[k:], " by") {
		k += 3
	}
	if (s[i:j] == "Yours" || s[i:j] == "yours") && !strings.HasPrefix(s[k:], " truly") && !strings.HasPrefix(s[k:], " sincerely") {
		return match{}, false
	}
	for _, w := range []string{" truly", " sincerely", " wishes"} {
		if strings.HasPrefix(s[k:], w) {
			k += len(w)
		}
	}
	sep := s[i:j] == "Signed" && k > j || s[i:j] == "signed" && k > j
	for k < len(s) && k-j < 12 {
		c := s[k]
		if c == '<' && (strings.HasPrefix(s[k:], "<br>") || strings.HasPrefix(s[k:], "<br/>") || strings.HasPrefix(s[k:], "<br />")) {
			k = strings.IndexByte(s[k:], '>') + k + 1
			continue
		}
		if c == ',' || c == ':' || c == '\n' || c == '\r' || c == '-' || c == '.' || c == '!' {
			sep = true
		} else if c != ' ' {
			break
		}
		k++
	}
	if !sep || k >= len(s) {
		return match{}, false
	}
	e, n, first := namePhrase(s, k, 3)
	if n == 0 || n == 1 && first&wGiven == 0 {
		return match{}, false
	}
	if e < len(s) && !nameEnds(s, e) && s[e] != '.' && s[e] != ' ' && s[e] != '<' && s[e] != '|' && s[e] != '\\' {
		return match{}, false
	}
	return match{k, e, kName}, true
}

// displayName finds the display name before an address in angle
// brackets: "Dana Whitfield" <dana@example.com>, Dana Whitfield <dana@...>.
func displayName(s string, i int, ms []match) []match {
	gt := strings.IndexByte(s[i:min(len(s), i+256)], '>')
	if gt < 0 || !strings.Contains(s[i:i+gt], "@") || strings.ContainsAny(s[i:i+gt], " \n") {
		return ms
	}
	e := i
	for e > 0 && s[e-1] == ' ' {
		e--
	}
	if e == 0 {
		return ms
	}
	if s[e-1] == '"' {
		q := strings.LastIndexByte(s[max(0, e-1-96):e-1], '"')
		if q < 0 {
			return ms
		}
		a, b := max(0, e-1-96)+q+1, e-1
		if s[b-1] == '\\' { // \"Dana Whitfield\" inside a quoted log value
			b--
		}
		if a < b && quotedName(s[a:b]) {
			ms = append(ms, match{a, b, kName})
		}
		return ms
	}
	// Back over up to four name words.
	a := e
	for words := 0; words < 4; words++ {
		k := a
		for k > 0 && (isAlpha(s[k-1]) || s[k-1] >= 0x80 || s[k-1] == '\'' || s[k-1] == '-' || s[k-1] == '.') {
			k--
		}
		if k == a || nameWord(s, k) < 0 && !(isUpper(s[k]) && s[a-1] == '.') {
			break
		}
		a = k
		if a < 2 || s[a-1] != ' ' || !isAlpha(s[a-2]) {
			break
		}
		a--
	}
	for a < e && s[a] == ' ' {
		a++
	}
	if a >= e {
		return ms
	}
	if q := s[a:e]; quotedName(q) {
		if e2, n, first := namePhrase(s, a, 4); e2 == e && (n >= 2 || first&wGiven != 0) {
			ms = append(ms, match{a, e, kName})
		}
	}
	return ms
}

// quotedName reports whether q reads as a person's name: 1-4 name words,
// "Last, First" allowed, no stop word.
func quotedName(q string) bool {
	if len(q) < 2 || len(q) > 80 {
		return false
	}
	words := 0
	for _, w := range strings.FieldsFunc(q, func(r rune) bool { return r == ' ' || r == ',' }) {
		if nameWords[w]&wParticle != 0 || len(w) == 2 && isUpper(w[0]) && w[1] == '.' {
			continue
		}
		if nameWord(w, 0) != len(w) || nameWords[w]&wStop != 0 {
			return false
		}
		words++
	}
	return words >= 1 && words <= 4
}

// weakName reports whether the value of a key naming things as well as
// people ("name") is a person's name: name words only, the first a listed
// given name (an ambiguous one before a listed surname), the last a listed
// surname, or "Surname, Given" with a listed given name.
func weakName(v string) bool {
	if !quotedName(v) {
		return false
	}
	ws := strings.Fields(strings.ReplaceAll(v, ",", " "))
	first, last := nameWords[ws[0]], nameWords[ws[len(ws)-1]]
	switch {
	case strings.Contains(v, ","):
		return last&wGiven != 0 || first&wSurname != 0 && len(ws) > 1
	case len(ws) == 1:
		return first&wGiven != 0 && first&wAmbiguous == 0
	}
	return first&wGiven != 0 && (first&wAmbiguous == 0 || last&wSurname != 0) || last&wSurname != 0 && first&wStop == 0
}

// wholeName reports whether a value under a name key is a name: 1-5 words
// of letters (any case), apostrophes, hyphens, dots and commas, at most
// 80 bytes, a letter first. Words are separated by any white space (a
// tab, a no-break space, a line separator), and the span excludes the
// white space around them.
func wholeName(s string) (int, int, bool) {
	a := len(s) - len(strings.TrimLeftFunc(s, unicode.IsSpace))
	b := max(a, len(strings.TrimRightFunc(s, unicode.IsSpace)))
	if b-a < 2 || b-a > 80 {
		return 0, 0, false
	}
	if r, _ := utf8.DecodeRuneInString(s[a:]); !unicode.IsLetter(r) {
		return 0, 0, false
	}
	words, upper := 1, false
	for _, r := range s[a:b] {
		switch {
		case r == ' ' || unicode.IsSpace(r):
			words++
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLetter(r) || r == '\'' || r == '-' || r == '.' || r == ',' || r == '’':
		default:
			return 0, 0, false
		}
	}
	return a, b, words <= 5 && upper
}

// wholeAddress reports whether a value under an address key is a street
// address: a digit, a letter and a blank, at most 200 bytes, no braces.
func wholeAddress(s string) (int, int, bool) {
	if len(s) < 6 || len(s) > 200 || strings.ContainsAny(s, "{}[]<>=@") || strings.HasPrefix(s, "http") {
		return 0, 0, false
	}
	var digit, letter, space bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		digit = digit || isDigit(c)
		letter = letter || isAlpha(c)
		space = space || c == ' '
	}
	return 0, len(s), digit && letter && space
}

// Object keys naming a person or a street address, folded (lower case,
// '_', '-', '.' and ' ' removed). "name" alone names things too (a tool,
// a cluster): its value must read as a person's name.
var nameKeys = func() map[string]keyCtx {
	m := map[string]keyCtx{"name": ctxNameWeak, "displayname": ctxNameWeak, "author": ctxNameWeak,
		"owner": ctxNameWeak, "assignee": ctxNameWeak, "contact": ctxNameWeak}
	for _, k := range strings.Fields(`fullname firstname lastname givenname surname familyname middlename legalname
		maidenname preferredname customername clientname patient patientname contactname employee employeename
		recipient recipientname sendername payeename payername cardholder cardholdername accountholder
		accountholdername holdername beneficiary beneficiaryname guardian guardianname spouse spousename
		nextofkin emergencycontact emergencycontactname physician physicianname doctor doctorname referrer
		insured insuredname subscribername membername applicantname tenantname guestname passengername
		travellername travelername attendeename authorname ownername signer signatory signedby requester
		requestername requestedby approvedby reviewedby fname lname vorname nachname nom prenom prénom nombre
		apellido apellidos cognome nome sobrenome`) {
		m[k] = ctxName
	}
	for _, k := range strings.Fields(`address streetaddress street addressline addressline1 addressline2 address1
		address2 homeaddress shippingaddress billingaddress mailingaddress postaladdress residentialaddress
		deliveryaddress workaddress patientaddress customeraddress line1 line2 anschrift adresse direccion
		dirección indirizzo endereco endereço`) {
		m[k] = ctxAddress
	}
	return m
}()

// nameKeyEnds holds the last two bytes (lower case) of the keys of
// nameKeys, so that most keys are passed by one lookup.
var nameKeyEnds = func() (b [1024]uint64) {
	for k := range nameKeys {
		h := tail2(k[len(k)-2], k[len(k)-1])
		b[h>>6] |= 1 << (h & 63)
	}
	return b
}()

func tail2(a, b byte) uint32 { return uint32(lowerASCII(a))<<8 | uint32(lowerASCII(b)) }

// nameKeyContext classifies an object key for the names pack.
func nameKeyContext(k string) keyCtx {
	if len(k) < 3 || len(k) > 40 {
		return 0
	}
	if h := tail2(k[len(k)-2], k[len(k)-1]); nameKeyEnds[h>>6]&(1<<(h&63)) == 0 {
		return 0
	}
	var buf [40]byte
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
	return nameKeys[string(buf[:n])]
}

// dashSignoff: a line "-- Dana Whitfield", "— Dana" or "- Dana" that ends
// with the name.
func dashSignoff(s string, i int) (match, bool) {
	k := i
	switch {
	case strings.HasPrefix(s[i:], "-- "):
		k += 3
	case strings.HasPrefix(s[i:], "— "), strings.HasPrefix(s[i:], "– "):
		k += 4
	case strings.HasPrefix(s[i:], "- "):
		k += 2
	default:
		return match{}, false
	}
	e, n, first := namePhrase(s, k, 3)
	if n == 0 || n == 1 && first&wGiven == 0 || e < len(s) && s[e] != '\n' && s[e] != '\r' {
		return match{}, false
	}
	return match{k, e, kName}, true
}

// startsUpper reports whether s starts with an upper-case letter.
func startsUpper(s string) bool {
	if s[0] < 0x80 {
		return isUpper(s[0])
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsUpper(r)
}

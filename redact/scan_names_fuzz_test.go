package redact

import (
	"slices"
	"testing"
)

// scanNamesEveryByte is the free-text loop of scanNames as it was before
// it stepped from word to word: every byte is looked at and skipped
// unless the byte before it ends a word. It is the reference the
// stepping scan must agree with.
func scanNamesEveryByte(s string, on kindSet) []match {
	var ms []match
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i > 0 && (isAlnum(s[i-1]) || s[i-1] >= 0x80 || s[i-1] == '_') {
			continue
		}
		switch {
		case isDigit(c):
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			// A house number is 1-5 digits, then a blank, a comma, a
			// letter or a range: timestamps, ids and hashes stop here.
			if j-i <= 5 && (j == len(s) || s[j] == ' ' || s[j] == ',' || s[j] == '-' || isAlpha(s[j]) || j-i == 5) && on.has(kAddress) {
				if e := addressFromNumber(s, i); e > 0 {
					ms = append(ms, match{i, e, kAddress})
					i = e - 1
					continue
				}
				if a, e := postcodeAlone(s, i, j); e > 0 {
					ms = append(ms, match{a, e, kAddress})
					i = e - 1
					continue
				}
			}
			i = j - 1
		case c == '<':
			if on.has(kName) {
				ms = displayName(s, i, ms)
			}
		case c == '-' || c == 0xe2:
			if on.has(kName) && (i == 0 || s[i-1] == '\n') {
				if m, ok := dashSignoff(s, i); ok {
					ms = append(ms, m)
					i = m.end - 1
				}
			}
		case isAlpha(c) || c >= 0xc0:
			j := wordEnd(s, i)
			var f uint16
			if j-i > 1 && trigBits[trigHash(s[i], s[i+1], j-i)>>6]&(1<<(trigHash(s[i], s[i+1], j-i)&63)) != 0 {
				f = nameWords[s[i:j]]
			}
			if j-i <= 2 && isUpper(c) && j < len(s) && isDigit(s[j]) && on.has(kAddress) {
				if a, e := ukPostcodeAlone(s, i); e > 0 {
					ms = append(ms, match{a, e, kAddress})
					i = e - 1
					continue
				}
			}
			if f&(wGiven|wTitle|wSalute|wSignoff|wRole|wStreetFirst) == 0 {
				if on.has(kAddress) && isUpper(c) && j < len(s) && (germanEnd[s[j-1]] || s[j] == ' ' && germanNext[byteAt(s, j+1)]) {
					if a, e := germanStreet(s, i, j); e > 0 {
						ms = append(ms, match{a, e, kAddress})
						i = e - 1
						continue
					}
				}
				i = j - 1
				continue
			}
			if m, ok := nameAt(s, i, j, f, on); ok {
				ms = append(ms, m)
				i = m.end - 1
				continue
			}
			i = j - 1
		}
	}
	return ms
}

// FuzzNames_Steps: the names scan finds in free text what it found when it
// looked at every byte, with either kind of the pack on or both.
func FuzzNames_Steps(f *testing.F) {
	for _, s := range []string{
		"Dear Dana Whitfield,\nThanks, Dana\n-- Dana Whitfield\n— Jean-Luc O'Brien",
		"Regards,\nMaria Garcia Lopez; patient: John Smith; Dr. Ana de la Cruz",
		"ship to 127 Main St Apt 4, Springfield, IL 62704; 12 rue de la Paix 75002 Paris",
		"Hauptstraße 5, 10115 Berlin; London SW1A 1AA; via Roma 10; Calle Mayor 5",
		`"Dana Whitfield" <dana@example.com>, Whitfield, Dana <d@x.io> a<b 1<2`,
		"evt_fe29497f88973254 Column coupon delayed address match. Customer client IP 192.168.47.190.",
		"x-Dana_Whitfield3 Élodie Dupont Ünal 12ab 123456 9-5 a—b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, on := range []kindSet{nameKinds, setOf(kName), setOf(kAddress)} {
			got := scanNames(s, 0, on, nil)
			want := scanNamesEveryByte(s, on)
			if !slices.Equal(got, want) {
				t.Fatalf("%q (kinds %b): found %v, looking at every byte %v", s, on, got, want)
			}
		}
	})
}

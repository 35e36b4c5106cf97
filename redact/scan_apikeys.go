package redact

import "strings"

// Vendor API keys (type API_KEY), each recognised by its documented
// prefix and body: Slack xox?- and xapp- tokens, GitLab glpat-, OpenAI and
// Anthropic sk-, Stripe secret and restricted keys, npm tokens (with their
// CRC32 checksum) and Google API keys. The prefixes end in '-' or '_', so
// the scan stops only at those bytes.

// scanDashKeys matches the keys whose prefix ends in '-'.
func scanDashKeys(s string, ms []match) []match {
	for off := 0; off < len(s); {
		k := strings.IndexByte(s[off:], '-')
		if k < 0 {
			break
		}
		p := off + k // the dash
		off = p + 1
		var a, e int
		switch {
		case p >= 4 && s[p-4:p-1] == "xox" && strings.IndexByte("abeprs", s[p-1]) >= 0,
			p >= 4 && s[p-4:p] == "xapp":
			a, e = p-4, runEnd(s, p+1, clB64URL)
			if e-p-1 < 20 {
				continue
			}
		case p >= 5 && s[p-5:p] == "glpat":
			a, e = p-5, runEnd(s, p+1, clB64URL)
			if e-p-1 < 20 {
				continue
			}
		case p >= 2 && s[p-2:p] == "sk":
			a, e = p-2, runEnd(s, p+1, clB64URL)
			if e-p-1 < 32 || !mixedCase(s[p+1:e]) {
				continue
			}
		default:
			continue
		}
		if a > 0 && isAlnum(s[a-1]) {
			continue
		}
		ms = append(ms, match{a, e, kAPIKey})
		off = e
	}
	return ms
}

// mixedCase reports whether t has a digit, a capital and a small letter,
// as random key material does and hyphenated words do not.
func mixedCase(t string) bool {
	var m uint8
	for i := 0; i < len(t); i++ {
		m |= class[t[i]] & (clDigit | clUpper | clLower)
	}
	return m == clDigit|clUpper|clLower
}

// scanUnderKeys matches the keys whose prefix ends in '_': Stripe
// sk_live_, rk_live_, sk_test_, rk_test_ and 24+ alphanumerics; npm_ and
// 36 alphanumerics whose last six are the CRC32 of the first 30.
func scanUnderKeys(s string, ms []match) []match {
	for off := 0; off < len(s); {
		k := strings.IndexByte(s[off:], '_')
		if k < 0 {
			break
		}
		p := off + k
		off = p + 1
		var a, e int
		switch {
		case p >= 3 && s[p-3:p] == "npm":
			a, e = p-3, runEnd(s, p+1, clDigit|clUpper|clLower)
			if !crc32TokenValid(s[p+1 : e]) {
				continue
			}
		case p >= 2 && (s[p-2:p] == "sk" || s[p-2:p] == "rk") &&
			(strings.HasPrefix(s[p+1:], "live_") || strings.HasPrefix(s[p+1:], "test_")):
			a, e = p-2, runEnd(s, p+6, clDigit|clUpper|clLower)
			if e-p-6 < 24 {
				continue
			}
		default:
			continue
		}
		if a > 0 && isAlnum(s[a-1]) || isAlnumAt(s, e) && s[e] != '_' {
			continue
		}
		ms = append(ms, match{a, e, kAPIKey})
		off = e
	}
	return ms
}

// scanGoogleKeys matches AIza and 35 of [A-Za-z0-9_-].
func scanGoogleKeys(s string, ms []match) []match {
	for off := 0; off < len(s); {
		k := strings.Index(s[off:], "AIza")
		if k < 0 {
			break
		}
		p := off + k
		off = p + 4
		if e := runEnd(s, p+4, clB64URL); e-p == 39 && (p == 0 || !isB64URL(s[p-1])) {
			ms = append(ms, match{p, e, kAPIKey})
			off = e
		}
	}
	return ms
}

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
		if p+1 < len(s) && strings.IndexByte("pPau", s[p+1]) >= 0 {
			ms = cliPassword(s, p, ms)
		}
		// Each anchor looks at a bounded number of bytes to decide, so
		// the scan stays linear; only an accepted key is read to its end.
		var a, need int
		switch {
		case p >= 4 && s[p-4:p-1] == "xox" && strings.IndexByte("abeprs", s[p-1]) >= 0,
			p >= 4 && s[p-4:p] == "xapp":
			a, need = p-4, 20
		case p >= 5 && s[p-5:p] == "glpat":
			a, need = p-5, 20
		case p >= 2 && s[p-2:p] == "sk":
			a, need = p-2, 32
		default:
			if !mayPrefix(s, p, 1) {
				continue
			}
			if a, e := prefixedToken(s, p, 1); e > 0 {
				ms = append(ms, match{a, e, kAPIKey})
				off = e
			}
			continue
		}
		if a > 0 && isAlnum(s[a-1]) {
			continue
		}
		head := s[p+1 : runEndMax(s, p+1, clB64URL, need)]
		if len(head) < need || need == 32 && !mixedCase(head) && !keyMaterial(head) {
			continue
		}
		e := runEnd(s, p+1, clB64URL)
		ms = append(ms, match{a, e, kAPIKey})
		off = e
	}
	return ms
}

// keyMaterial reports whether t (the first 32 bytes after "sk-") is a
// key of one case: hex or lower-case alphanumerics with a digit and a
// letter and at most two dashes (sk-or-v1-..., DeepSeek's sk-<hex>), as
// hyphenated words are not.
func keyMaterial(t string) bool {
	var m uint8
	dashes := 0
	for i := 0; i < len(t); i++ {
		m |= class[t[i]] & (clDigit | clUpper | clLower)
		if t[i] == '-' || t[i] == '_' {
			dashes++
		}
	}
	return m&clDigit != 0 && m&(clUpper|clLower) != 0 && dashes <= 2 && digitsIn(t) >= 8
}

func digitsIn(t string) int {
	n := 0
	for i := 0; i < len(t); i++ {
		if isDigit(t[i]) {
			n++
		}
	}
	return n
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
			a, e = p-3, runEndMax(s, p+1, clDigit|clUpper|clLower, 37)
			if !crc32TokenValid(s[p+1 : e]) {
				continue
			}
		case p >= 2 && (s[p-2:p] == "sk" || s[p-2:p] == "rk") &&
			(strings.HasPrefix(s[p+1:], "live_") || strings.HasPrefix(s[p+1:], "test_")):
			a, e = p-2, runEndMax(s, p+6, clDigit|clUpper|clLower, 24)
			if e-p-6 < 24 {
				continue
			}
			e = runEnd(s, e, clDigit|clUpper|clLower)
		default:
			if !mayPrefix(s, p, 0) {
				continue
			}
			if a, e := prefixedToken(s, p, 0); e > 0 {
				ms = append(ms, match{a, e, kAPIKey})
				off = e
			}
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
		if e := runEndMax(s, p+4, clB64URL, 36); e-p == 39 && (p == 0 || !isB64URL(s[p-1])) {
			ms = append(ms, match{p, e, kAPIKey})
			off = e
		}
	}
	return ms
}

// runEndMax is runEnd looking at no more than n bytes from i.
func runEndMax(s string, i int, cl uint8, n int) int {
	return i + runEnd(s[i:min(len(s), i+n)], 0, cl)
}

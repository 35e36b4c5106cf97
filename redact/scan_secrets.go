package redact

import "strings"

// The secrets pack: PEM private keys, AWS access key ids and secret keys,
// GitHub tokens, JWTs, and HTTP Authorization credentials. Each scanner is
// anchored on a literal (strings.Index is vectorised) or, for the
// case-insensitive keywords, on a rare letter of the keyword.

// keyCtx is what the JSON object key of a string value says about it.
type keyCtx uint8

const (
	ctxAuth      keyCtx = 1 << iota // value of an Authorization header
	ctxAWSSecret                    // value of an AWS secret key field
)

// keyContext classifies an object key. "Authorization" (any case, also as
// a suffix: Proxy-Authorization, HTTP_AUTHORIZATION) marks an
// Authorization header value; a key that, with '_', '-', '.' and ' '
// removed, contains "awssecret" or "secretaccesskey" marks an AWS secret.
func keyContext(k string) keyCtx {
	if len(k) < 9 || len(k) > 64 {
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
	if t := buf[:n]; containsASCII(t, "awssecret") || containsASCII(t, "secretaccesskey") {
		ctx |= ctxAWSSecret
	}
	return ctx
}

func containsASCII(b []byte, w string) bool {
	for i := 0; i+len(w) <= len(b); i++ {
		if string(b[i:i+len(w)]) == w {
			return true
		}
	}
	return false
}

func scanSecrets(s string, ctx keyCtx, mask uint16, ms []match) []match {
	if mask&tDash != 0 {
		ms = scanPEM(s, ms)
	}
	if mask&tUpperI != 0 {
		ms = scanAWSKeyID(s, "AKIA", ms)
		ms = scanAWSKeyID(s, "ASIA", ms)
	}
	if mask&tUnder != 0 {
		ms = scanGitHub(s, ms)
	}
	if mask&tUpperJ != 0 {
		ms = scanJWT(s, ms)
	}
	if ctx&ctxAuth != 0 {
		ms, _ = authValue(s, 0, ms)
	}
	if ctx&ctxAWSSecret != 0 {
		ms = awsSecretAfter(s, 0, ms)
	}
	if mask&tKeyword != 0 {
		ms = scanKeywords(s, ms)
	}
	return ms
}

const (
	pemBegin = "-----BEGIN "
	pemEnd   = "-----END "
)

// scanPEM matches a private key block from its BEGIN line to the END line
// with the same label, or to the end of s when that line is missing
// (a truncated key is still a key). Labels not ending in "PRIVATE KEY"
// (certificates, public keys) are left alone.
func scanPEM(s string, ms []match) []match {
	off := 0
	for off < len(s) {
		k := strings.Index(s[off:], pemBegin)
		if k < 0 {
			break
		}
		p := off + k
		q := p + len(pemBegin)
		j := q
		for j < len(s) && j-q < 64 && (isAlnum(s[j]) || s[j] == ' ') {
			j++
		}
		label := strings.TrimRight(s[q:j], " ")
		if !strings.HasSuffix(label, "PRIVATE KEY") {
			off = q
			continue
		}
		end := len(s)
		for from := j; from < len(s); {
			e := strings.Index(s[from:], pemEnd)
			if e < 0 {
				break
			}
			e += from + len(pemEnd)
			if strings.HasPrefix(s[e:], label) && strings.HasPrefix(s[e+len(label):], "-----") {
				end = e + len(label) + 5
				break
			}
			from = e
		}
		ms = append(ms, match{p, end, kPrivateKey})
		off = end
	}
	return ms
}

// scanAWSKeyID matches prefix + 16 of [A-Z0-9] as a whole word.
func scanAWSKeyID(s, prefix string, ms []match) []match {
	off := 0
	for off < len(s) {
		k := strings.Index(s[off:], prefix)
		if k < 0 {
			break
		}
		p := off + k
		off = p + len(prefix)
		e := p + 20
		if e > len(s) || (p > 0 && isAlnum(s[p-1])) || (e < len(s) && isAlnum(s[e])) {
			continue
		}
		ok := true
		for i := p + 4; i < e; i++ {
			if c := s[i]; !isDigit(c) && (c < 'A' || c > 'Z') {
				ok = false
				break
			}
		}
		if ok {
			ms = append(ms, match{p, e, kAWSAccessKey})
			off = e
		}
	}
	return ms
}

// scanGitHub matches ghp_/gho_/ghu_/ghs_/ghr_ followed by at least 36
// alphanumerics, and github_pat_ followed by at least 82 of [A-Za-z0-9_].
func scanGitHub(s string, ms []match) []match {
	off := 0
	for off < len(s) {
		k := strings.Index(s[off:], "gh")
		if k < 0 {
			break
		}
		p := off + k
		off = p + 2
		if p+4 > len(s) || strings.IndexByte("pousr", s[p+2]) < 0 || s[p+3] != '_' || (p > 0 && isAlnum(s[p-1])) {
			continue
		}
		if e := runEnd(s, p+4, clDigit|clUpper|clLower); e-(p+4) >= 36 {
			ms = append(ms, match{p, e, kGitHubToken})
			off = e
		}
	}
	const pat = "github_pat_"
	for off = 0; off < len(s); {
		k := strings.Index(s[off:], pat)
		if k < 0 {
			break
		}
		p := off + k
		off = p + len(pat)
		if p > 0 && isAlnum(s[p-1]) {
			continue
		}
		e := off
		for e < len(s) && (isAlnum(s[e]) || s[e] == '_') {
			e++
		}
		if e-off >= 82 {
			ms = append(ms, match{p, e, kGitHubToken})
		}
		off = e // a later github_pat_ inside this run has a shorter run
	}
	return ms
}

// scanJWT matches eyJ<header>.<payload>.<signature>: base64url segments,
// the first two at least 10 characters and of a length base64 can have
// (not 1 mod 4). The signature must be at least 10 characters, unless the
// payload itself starts with "eyJ" (an unsigned or truncated token still
// carries its claims). Further segments (JWE) are included.
func scanJWT(s string, ms []match) []match {
	off := 0
	for off < len(s) {
		k := strings.Index(s[off:], "eyJ")
		if k < 0 {
			break
		}
		p := off + k
		off = p + 3
		if p > 0 && isB64URL(s[p-1]) {
			continue
		}
		e1 := runEnd(s, p, clB64URL)
		if l := e1 - p; l < 10 || l%4 == 1 || e1 >= len(s) || s[e1] != '.' {
			continue
		}
		e2 := runEnd(s, e1+1, clB64URL)
		if l := e2 - e1 - 1; l < 10 || l%4 == 1 {
			continue
		}
		claims := strings.HasPrefix(s[e1+1:], "eyJ")
		end := e2
		if e2 < len(s) && s[e2] == '.' {
			e3 := runEnd(s, e2+1, clB64URL)
			if e3-e2-1 >= 10 || claims {
				end = e3
			} else {
				continue
			}
		} else if !claims {
			continue
		}
		for end+1 < len(s) && s[end] == '.' && isB64URL(s[end+1]) {
			end = runEnd(s, end+1, clB64URL)
		}
		ms = append(ms, match{p, end, kJWT})
		off = end
	}
	return ms
}

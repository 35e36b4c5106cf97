package redact

import "strings"

// Keyword-anchored secrets: HTTP Authorization credentials and AWS secret
// keys. The keywords are matched case-insensitively; the scan stops only at
// bytes that can anchor one (b/B for bearer and basic, z/Z for
// authorization, w/W for aws, k/K for ...access_key), which are rare enough
// that the loop costs about as much as a plain byte scan.

var kwAnchor = [256]bool{'b': true, 'B': true, 'z': true, 'Z': true, 'w': true, 'W': true, 'k': true, 'K': true}

func scanKeywords(s string, ms []match) []match {
	n := len(s)
	for i := 0; i < n; i++ {
		if !kwAnchor[s[i]] {
			continue
		}
		switch s[i] | 0x20 {
		case 'b':
			if i > 0 && isAlnum(s[i-1]) {
				continue
			}
			if hasFoldAt(s, i, "bearer") && (i+6 == n || !isAlnum(s[i+6])) {
				ms = bareCred(s, i+6, 4, ms)
			} else if s[i] == 'B' && hasFoldAt(s, i, "basic") && (i+5 == n || !isAlnum(s[i+5])) {
				ms = bareCred(s, i+5, 8, ms)
			}
		case 'z':
			p := i - 7 // the z of authorization
			if hasFoldAt(s, p, "authorization") && (p == 0 || !isAlnum(s[p-1])) &&
				(p+13 == n || !isAlnum(s[p+13])) {
				if v := headerValue(s, p+13); v >= 0 {
					var end int
					ms, end = authValue(s, v, ms)
					i = max(i, end-1) // a credential is not searched again for keywords
				}
			}
		case 'w':
			ms = flagPassword(s, i, ms)
			p := i - 1
			if hasFoldAt(s, p, "aws") && (p == 0 || !isAlpha(s[p-1])) {
				q := p + 3
				if q < n && (s[q] == '_' || s[q] == '-' || s[q] == ' ') {
					q++
				}
				if hasFoldAt(s, q, "secret") {
					ms = awsSecretAfter(s, q+6, ms)
				}
			}
		case 'k':
			// secret_access_key, secret-access-key, SecretAccessKey
			if !hasFoldAt(s, i, "key") {
				continue
			}
			q := sepBefore(s, i) - 6
			if hasFoldAt(s, q, "access") && hasFoldAt(s, sepBefore(s, q)-6, "secret") {
				ms = awsSecretAfter(s, i+3, ms)
			}
		}
	}
	return ms
}

// sepBefore steps back over one '_', '-' or ' ' before i.
func sepBefore(s string, i int) int {
	if i > 0 && i <= len(s) && (s[i-1] == '_' || s[i-1] == '-' || s[i-1] == ' ') {
		return i - 1
	}
	return i
}

// headerValue returns where the value starts after an "authorization"
// keyword ending at p: optional closing quote (also JSON-escaped), ':' or
// '=', optional blanks and opening quote. It returns -1 if no separator
// follows.
func headerValue(s string, p int) int {
	n := len(s)
	i := skipQuote(s, p)
	for i < n && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= n || (s[i] != ':' && s[i] != '=') {
		return -1
	}
	i++
	for i < n && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return skipQuote(s, i)
}

func skipQuote(s string, i int) int {
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		return i + 1
	}
	if i+1 < len(s) && s[i] == '\\' && s[i+1] == '"' {
		return i + 2
	}
	return i
}

// authValue redacts the credential of an Authorization header value
// starting at v: the token after a known scheme word (the scheme is kept),
// or the whole first token if it is not a scheme. Nothing about the
// credential's shape is required: the header says it is one. It also
// returns where the scanned value ends.
func authValue(s string, v int, ms []match) ([]match, int) {
	n := len(s)
	e := v
	for e < n && isValueByte(s[e]) {
		e++
	}
	if e == v {
		return ms, e
	}
	if !isAuthScheme(s[v:e]) {
		return append(ms, match{v, e, kAuth}), e
	}
	q := e
	for q < n && (s[q] == ' ' || s[q] == '\t') {
		q++
	}
	if q == e {
		return ms, e
	}
	c := q
	for c < n && isValueByte(s[c]) {
		c++
	}
	if c > q {
		ms = append(ms, match{q, c, kAuth})
	}
	return ms, c
}

// isValueByte reports whether c may be part of a header credential token.
func isValueByte(c byte) bool {
	return c > ' ' && c != '"' && c != '\'' && c != ',' && c != ';' && c != '\\' && c != 0x7f
}

var authSchemes = []string{
	"bearer", "basic", "token", "digest", "negotiate", "ntlm", "apikey", "api-key",
	"dpop", "hoba", "mutual", "vapid", "gnap", "aws4-hmac-sha256", "hmac", "key", "sso-key",
}

func isAuthScheme(w string) bool {
	for _, a := range authSchemes {
		if len(w) == len(a) && hasFoldAt(w, 0, a) {
			return true
		}
	}
	return false
}

// bareCred redacts the token68 credential after a "Bearer" or "Basic"
// found in free text (p is just after the word). Prose uses these words
// too ("the bearer token", "Basic plan"), so the token must look like a
// credential: a digit, a symbol or an inner capital and at least minMixed
// bytes, or 20 bytes of anything.
func bareCred(s string, p, minMixed int, ms []match) []match {
	q := p
	for q < len(s) && (s[q] == ' ' || s[q] == '\t') {
		q++
	}
	if q == p {
		return ms
	}
	e := runEnd(s, q, clToken)
	for e > q && s[e-1] == '.' {
		e--
	}
	if authParam(s, q, e) {
		return ms // Bearer realm="api", error="invalid_token": a challenge, not a credential
	}
	if e-q >= 20 || (e-q >= minMixed && credLike(s[q:e])) {
		ms = append(ms, match{q, e, kAuth})
	}
	return ms
}

func credLike(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if isDigit(c) || !isAlpha(c) || (i > 0 && c >= 'A' && c <= 'Z') {
			return true
		}
	}
	return false
}

// awsSecretAfter matches a 40-byte run of the base64 alphabet starting
// within 48 bytes after p (the end of an AWS secret keyword).
func awsSecretAfter(s string, p int, ms []match) []match {
	lim := min(len(s), p+48)
	for j := p; j < lim; {
		if !isB64Std(s[j]) {
			j++
			continue
		}
		k := j
		for k < len(s) && k-j <= 40 && isB64Std(s[k]) {
			k++
		}
		if k-j == 40 {
			return append(ms, match{j, k, kAWSSecretKey})
		}
		for k < lim && isB64Std(s[k]) { // rest of a longer run, within the window
			k++
		}
		j = k
	}
	return ms
}

// authParam reports whether the token at s[q:e] is the name of an
// auth-param (name=value, or name="value"): a word of letters and '_'
// then '=' followed by more than padding or by a quote.
func authParam(s string, q, e int) bool {
	eq := strings.IndexByte(s[q:e], '=')
	if eq <= 0 || eq > 24 {
		return false
	}
	for i := q; i < q+eq; i++ {
		if !isAlpha(s[i]) && s[i] != '_' && s[i] != '-' {
			return false
		}
	}
	return strings.TrimRight(s[q+eq:e], "=") != "" || e < len(s) && s[e] == '"'
}

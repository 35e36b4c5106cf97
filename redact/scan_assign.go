package redact

import "strings"

// Values known by their key: a password or a secret written as key=value,
// key: value, a command-line flag, or the password of a URL's userinfo
// (postgres://app:PASS@host keeps its user and host). The key names the
// value; the value needs no shape beyond not being a placeholder (and, for
// a secret or token, looking like key material).

// secretKeyKind classifies a key (lower-cased, '_', '-', '.' and ' '
// removed): kPassword, kSecret, or -1.
func secretKeyKind(t string) int {
	if len(t) < 3 {
		return -1
	}
	switch t[len(t)-1] {
	case 'd', 'e', 's':
		if hasSuffix(t, "password") || hasSuffix(t, "passwd") || hasSuffix(t, "pwd") ||
			hasSuffix(t, "passphrase") || hasSuffix(t, "passcode") ||
			hasSuffix(t, "pass") && !hasSuffix(t, "bypass") && !hasSuffix(t, "compass") && !hasSuffix(t, "overpass") {
			return kPassword
		}
		if hasSuffix(t, "credentials") {
			return kSecret
		}
	case 't':
		if hasSuffix(t, "secret") {
			return kSecret
		}
	case 'n':
		if hasSuffix(t, "token") && !contains(t, "page") && !contains(t, "cursor") &&
			!contains(t, "next") && !contains(t, "continuation") && !contains(t, "count") {
			return kSecret
		}
	case 'y':
		for _, w := range secretKeySuffixes {
			if hasSuffix(t, w) {
				return kSecret
			}
		}
	case 'l':
		if hasSuffix(t, "credential") {
			return kSecret
		}

	case 'g':
		if t == "sig" {
			return kSecret // an Azure SAS signature
		}
	}
	return -1
}

var secretKeySuffixes = []string{"apikey", "secretkey", "privatekey", "accesskey", "authkey", "signingkey",
	"encryptionkey", "masterkey", "sessionkey", "accountkey", "clientkey", "licensekey", "subscriptionkey",
	"functionskey", "consumerkey", "appkey"}

// keyFold appends the key k lower-cased without separators to dst.
func keyFold(dst []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// scanAssign tries assignAt at each sep (':' or '=') of s.
func scanAssign(s string, sep byte, ms []match) []match {
	for off := 0; off < len(s); {
		k := strings.IndexByte(s[off:], sep)
		if k < 0 {
			break
		}
		i := off + k
		off = i + 1
		// Only a key can end before it: skip what cannot (digits of a
		// time, a URL's scheme is handled in assignAt).
		if i == 0 {
			continue
		}
		if isDigit(s[i-1]) {
			if sep == ':' && i+3 < len(s) && s[i+1] == 'A' {
				if a, e := telegramToken(s, i); e > 0 {
					ms = append(ms, match{a, e, kAPIKey})
					off = e
				}
			}
			continue
		}
		var e int
		if ms, e = assignAt(s, i, ms); e > i {
			off = e + 1
		}
	}
	return ms
}

// assignAt handles the ':' or '=' at i: when the word before it is a
// password or secret key, the value after it is redacted. It returns where
// the scan may go on.
func assignAt(s string, i int, ms []match) ([]match, int) {
	n := len(s)
	if i+1 < n && (s[i+1] == '=' || s[i] == ':' && (s[i+1] == ':' || s[i+1] == '/')) {
		return ms, i
	}
	// The key, possibly closed by a quote (also JSON-escaped), then blanks.
	k := i
	for k > 0 && i-k < 2 && (s[k-1] == ' ' || s[k-1] == '\t') {
		k--
	}
	if k > 0 && (s[k-1] == '"' || s[k-1] == '\'') {
		k--
		if k > 0 && s[k-1] == '\\' {
			k--
		}
	}
	a := k
	for a > 0 && k-a < 48 && (isAlnum(s[a-1]) || s[a-1] == '_' || s[a-1] == '-' || s[a-1] == '.') {
		a--
	}
	if a == k || a > 0 && isAlnum(s[a-1]) || !isAlpha(lastLetter(s[a:k])) {
		return ms, i
	}
	var buf [64]byte
	t := string(keyFold(buf[:0], s[a:k]))
	kind := secretKeyKind(t)
	if kind < 0 && sessionCookie(s[a:k]) {
		kind = kSecret
	}
	if kind < 0 {
		return ms, i
	}
	v, e := valueAfter(s, i+1)
	if e <= v {
		return ms, i
	}
	val := s[v:e]
	if !secretValueOK(val, kind, t) || s[i] == ':' && prose(s, v, e) {
		return ms, i
	}
	return append(ms, match{v, e, uint16(kind)}), e - 1
}

// sessionCookie reports whether k names a session cookie of a web
// framework (sessionid=, PHPSESSID=, JSESSIONID=, connect.sid=); a
// session_id of an agent's events is an identifier, not a credential.
func sessionCookie(k string) bool {
	for _, c := range []string{"sessionid", "phpsessid", "jsessionid", "connect.sid", "asp.net_sessionid"} {
		if len(k) == len(c) && hasFoldAt(k, 0, c) {
			return true
		}
	}
	return false
}

func lastLetter(k string) byte {
	if k == "" {
		return 0
	}
	return k[len(k)-1]
}

// valueAfter returns the span of the value starting at or after p:
// blanks skipped, a quoted value to its closing quote (also a JSON-escaped
// one), else a run of bytes up to a blank, a quote or a separator of
// query strings and lists.
func valueAfter(s string, p int) (int, int) {
	n := len(s)
	for p < n && (s[p] == ' ' || s[p] == '\t') {
		p++
	}
	if p >= n {
		return p, p
	}
	if q := s[p]; q == '"' || q == '\'' || q == '\\' && p+1 < n && s[p+1] == '"' {
		close := string(q)
		if q == '\\' {
			close, p = `\"`, p+1
		}
		v := p + 1
		e := strings.Index(s[v:min(n, v+130)], close)
		if e < 0 {
			return v, v
		}
		return v, v + e
	}
	e := p
	for e < n && e-p < 128 && s[e] > ' ' && s[e] != '"' && s[e] != '\'' && s[e] != ',' && s[e] != ';' &&
		s[e] != '<' && s[e] != '>' && s[e] != '\\' && s[e] != 0x7f && !(s[e] == '&' && nextParam(s, e+1)) {
		e++
	}
	for e > p && (s[e-1] == '.' || s[e-1] == ')' || s[e-1] == ']' || s[e-1] == '}') {
		e--
	}
	return p, e
}

// secretValueOK reports whether val may be the secret its key names: not
// a placeholder, a variable, a masked or already redacted value or a word
// of prose, and for a secret or token, key material.
func secretValueOK(val string, kind int, key string) bool {
	if val == "" || len(val) > 128 {
		return false
	}
	switch val[0] {
	case '<', '{', '$', '[', '(', '*', '#', '`', '/', '-', '~':
		return false // a placeholder, a variable, a mask, a path or a flag
	case '%':
		if len(val) < 3 || !isHex(val[1]) || !isHex(val[2]) {
			return false // a format verb, not a URL-encoded byte
		}
	}
	if strings.IndexByte(val, ' ') >= 0 && !hasSuffix(key, "passphrase") {
		return false
	}
	same := true
	for i := 1; i < len(val); i++ {
		if val[i] != val[0] {
			same = false
			break
		}
	}
	if same && len(val) > 2 || strings.HasPrefix(val, "\xe2\x80\xa2") { // ***, xxx, •••
		return false
	}
	for _, w := range placeholders {
		if len(val) == len(w) && hasFoldAt(val, 0, w) {
			return false
		}
	}
	if kind == kSecret {
		return credMaterial(val) && !objectID(val)
	}
	if hasSuffix(key, "pass") && runEnd(val, 0, clDigit) == len(val) {
		return false // "Pass: 12, Fail: 0" counts tests
	}
	return true
}

// objectID reports whether a value under a token key is the id of an
// object, not a secret: a short lower-case prefix, '_' and up to 32
// alphanumerics (pm_..., cus_..., tok_... of payment APIs; vendor secrets
// of this shape are API_KEY formats, found by their prefix).
func objectID(val string) bool {
	u := strings.IndexByte(val, '_')
	if u < 2 || u > 6 || len(val)-u-1 > 32 {
		return false
	}
	for i := 0; i < u; i++ {
		if !isLower(val[i]) {
			return false
		}
	}
	return runEnd(val, u+1, clDigit|clUpper|clLower) == len(val)
}

// credMaterial: at least 8 bytes with a digit and a letter, or 20 bytes.
func credMaterial(t string) bool {
	if len(t) >= 20 {
		return true
	}
	var m uint8
	for i := 0; i < len(t); i++ {
		m |= class[t[i]] & (clDigit | clUpper | clLower)
	}
	return len(t) >= 8 && m&clDigit != 0 && m&(clUpper|clLower) != 0
}

var placeholders = []string{
	"null", "none", "nil", "true", "false", "undefined", "redacted", "hidden", "masked", "required",
	"optional", "string", "str", "text", "password", "secret", "token", "env", "is", "was", "must", "should",
	"reset", "changed", "updated", "expired", "invalid", "incorrect", "wrong", "missing", "empty",
	"forgotten", "field", "prompt", "the", "and", "for", "not", "will", "set", "unset", "n/a", "na", "tbd",
}

// keyedValue matches the whole string under a JSON key naming a password
// or a secret (a secret must look like key material).
func keyedValue(s string, ctx keyCtx, ms []match) []match {
	kind, key := kPassword, "password"
	if ctx&ctxPassword == 0 {
		kind, key = kSecret, "secret"
	} else if ctx&ctxPassphrase != 0 {
		key = "passphrase"
	}
	v, e := 0, len(s)
	for v < e && (s[v] == ' ' || s[v] == '\t') {
		v++
	}
	for e > v && (s[e-1] == ' ' || s[e-1] == '\t') {
		e--
	}
	if e > v && secretValueOK(s[v:e], kind, key) {
		ms = append(ms, match{v, e, uint16(kind)})
	}
	return ms
}

// nextParam reports whether a query parameter (name=) starts at i.
func nextParam(s string, i int) bool {
	k := i
	for k < len(s) && k-i < 64 && (isAlnum(s[k]) || s[k] == '_' || s[k] == '-' || s[k] == '.' || s[k] == '[' || s[k] == ']') {
		k++
	}
	return k > i && k < len(s) && s[k] == '='
}

// prose reports whether the value s[v:e] after "key:" is a word of a
// sentence: small letters only, followed by a blank and another small
// word ("Forgot password: use the reset link").
func prose(s string, v, e int) bool {
	for k := v; k < e; k++ {
		if !isLower(s[k]) {
			return false
		}
	}
	return e+1 < len(s) && s[e] == ' ' && isLower(s[e+1])
}

func isLower(c byte) bool { return class[c]&clLower != 0 }

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

// flagPassword handles "--password X" (and --db-password, --passwd) in
// free text; w is the 'w' of password at i.
func flagPassword(s string, i int, ms []match) []match {
	p := i - 4
	var e int
	switch {
	case hasFoldAt(s, p, "password"):
		e = p + 8
	case hasFoldAt(s, p, "passwd"):
		e = p + 6
	default:
		return ms
	}
	if p < 1 || s[p-1] != '-' || e >= len(s) || s[e] != ' ' {
		return ms
	}
	v, end := valueAfter(s, e)
	if end > v && s[v] != '-' && secretValueOK(s[v:end], kPassword, "password") {
		ms = append(ms, match{v, end, kPassword})
	}
	return ms
}

// Commands whose short flag takes a password: -p of the MySQL and MongoDB
// clients and sshpass, -P of sqlcmd and bcp, -a of redis-cli, and -u
// user:password of curl.
var flagCommands = []struct {
	flag byte
	cmds []string
}{
	{'p', []string{"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck", "mysqlsh",
		"mariadb", "mariadb-dump", "mariadb-admin", "mongo", "mongosh", "mongodump", "mongorestore",
		"mongoexport", "mongoimport", "sshpass", "login"}}, // docker, podman, helm registry, oc login
	{'P', []string{"sqlcmd", "bcp", "osql"}},
	{'a', []string{"redis-cli"}},
	{'u', []string{"curl"}},
}

// cliPassword handles a short flag at the '-' at p (after a blank or at
// the start) when the command of its line takes a password with it.
func cliPassword(s string, p int, ms []match) []match {
	n := len(s)
	if p+2 > n || p > 0 && s[p-1] != ' ' && s[p-1] != '\t' {
		return ms
	}
	f := s[p+1]
	var cmds []string
	for _, fc := range flagCommands {
		if fc.flag == f {
			cmds = fc.cmds
		}
	}
	if cmds == nil {
		return ms
	}
	var v, e int
	switch {
	case p+2 < n && s[p+2] == ' ':
		v, e = valueAfter(s, p+2)
	case f == 'p' && p+2 < n && s[p+2] > ' ' && s[p+2] != '-':
		v, e = valueAfter(s, p+2) // mysql -pSECRET
	default:
		return ms
	}
	if e <= v || s[v] == '-' || !commandBefore(s, p, cmds) {
		return ms
	}
	if f == 'u' {
		c := strings.IndexByte(s[v:e], ':')
		if c < 0 {
			return ms
		}
		v += c + 1
	}
	if e > v && secretValueOK(s[v:e], kPassword, "password") {
		ms = append(ms, match{v, e, kPassword})
	}
	return ms
}

// commandBefore reports whether one of cmds is a word (or a path's last
// element) of the command line before p, back to the start of the line or
// a shell separator, at most 256 bytes.
func commandBefore(s string, p int, cmds []string) bool {
	a := p
	for a > 0 && p-a < 256 && strings.IndexByte("\n;|&`(", s[a-1]) < 0 {
		a--
	}
	line := s[a:p]
	for _, c := range cmds {
		for off := 0; off < len(line); {
			k := strings.Index(line[off:], c)
			if k < 0 {
				break
			}
			w := off + k
			off = w + 1
			e := w + len(c)
			if (w == 0 || line[w-1] == ' ' || line[w-1] == '/' || line[w-1] == '\t') &&
				(e == len(line) || line[e] == ' ' || line[e] == '.') {
				return true
			}
		}
	}
	return false
}

// userinfoStart returns where the userinfo of a URL ends by the '@' at
// at starts ("scheme://user:pass@host"), or -1 if the '@' does not close
// a URL's userinfo.
func userinfoStart(s string, at int) int {
	a := at
	for a > 0 && at-a < 256 && isUserinfoByte(s[a-1]) {
		a--
	}
	if a < 4 || s[a-1] != '/' || s[a-2] != '/' || s[a-3] != ':' {
		return -1
	}
	if k := a - 3; k == 0 || !isAlpha(s[k-1]) {
		return -1
	}
	return a
}

func isUserinfoByte(c byte) bool {
	// '#', '?' and the like belong to no userinfo, yet passwords in
	// connection strings are often written unencoded.
	return isAlnum(c) || strings.IndexByte("-._~%!$&'()*+,;=:#?^|[]{}", c) >= 0
}

// scanUserinfo matches the password of each URL userinfo
// (scheme://user:password@host, and Go's MySQL DSN
// user:password@tcp(host)): after the first ':' of the userinfo, to the
// last '@' of the authority (a password holding an unencoded '@').
func scanUserinfo(s string, ms []match) []match {
	for off := 0; off < len(s); {
		k := strings.IndexByte(s[off:], '@')
		if k < 0 {
			break
		}
		at := off + k
		off = at + 1
		a := userinfoStart(s, at)
		if a < 0 && (strings.HasPrefix(s[at+1:], "tcp(") || strings.HasPrefix(s[at+1:], "unix(")) {
			// Go's MySQL DSN: user:password@tcp(host:port)/db
			for a = at; a > 0 && at-a < 256 && isUserinfoByte(s[a-1]) && s[a-1] != '='; a-- {
			}
		}
		if a < 0 {
			continue
		}
		c := strings.IndexByte(s[a:at], ':')
		if c < 0 {
			continue
		}
		last := at
		for j := at + 1; j < len(s) && j-at < 256; j++ {
			b := s[j]
			if b == '/' || b == '?' || b == '#' || b <= ' ' || b == '"' || b == '\'' || b == '<' || b == '>' || b == '\\' {
				break
			}
			if b == '@' {
				last = j
			}
		}
		v := a + c + 1
		if last > v && secretValueOK(s[v:last], kPassword, "password") {
			ms = append(ms, match{v, last, kPassword})
		}
		off = last + 1
	}
	return ms
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

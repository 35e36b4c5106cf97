package redact

import "strings"

// The secrets pack: PEM private keys, AWS access key ids and secret keys,
// GitHub tokens, JWTs, and HTTP Authorization credentials. Each scanner is
// anchored on a literal (strings.Index is vectorised) or, for the
// case-insensitive keywords, on a rare letter of the keyword.

func scanSecrets(s string, ctx keyCtx, mask uint16, ms []match) []match {
	if mask&tDash != 0 {
		ms = scanPEM(s, ms)
		ms = scanDashKeys(s, ms)
	}
	if mask&tUpperI != 0 {
		ms = scanAWSKeyID(s, "AKIA", ms)
		ms = scanAWSKeyID(s, "ASIA", ms)
		ms = scanGoogleKeys(s, ms)
	}
	if mask&tUnder != 0 {
		ms = scanGitHub(s, ms)
		ms = scanUnderKeys(s, ms)
	}
	if mask&tUpperJ != 0 {
		ms = scanJWT(s, ms)
		ms = scanBase64PEM(s, ms) // "LS0tLS1CRUdJTi" has a J
	}
	if mask&tDot != 0 {
		ms = scanDotKeys(s, ms)
	}
	if mask&(tUpperA|tUpperI|tUpperJ) != 0 {
		ms = scanNoSepTokens(s, mask, ms)
	}
	if ctx&ctxAuth != 0 {
		ms, _ = authValue(s, 0, ms)
	}
	if ctx&ctxAWSSecret != 0 {
		ms = awsSecretAfter(s, 0, ms)
	}
	if ctx&(ctxPassword|ctxSecret) != 0 {
		ms = keyedValue(s, ctx, ms)
	}
	if mask&tAt != 0 {
		ms = scanUserinfo(s, ms)
	}
	if mask&tKeyword != 0 {
		ms = scanKeywords(s, ms)
	}
	if mask&tColon != 0 {
		ms = scanAssign(s, ':', ms)
	}
	if mask&tTilde != 0 {
		ms = scanAzureSecrets(s, ms)
	}
	if mask&tEq != 0 {
		ms = scanAssign(s, '=', ms)
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
		if !strings.HasSuffix(label, "PRIVATE KEY") && label != "PGP PRIVATE KEY BLOCK" {
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

// b64Begin is "-----BEGIN" in base64, as a PEM file starts in the data of
// a Kubernetes Secret.
const b64Begin = "LS0tLS1CRUdJTi"

// scanBase64PEM matches a run of base64 that starts with b64Begin and
// decodes to a private key's BEGIN line; the whole run is the key.
func scanBase64PEM(s string, ms []match) []match {
	for off := 0; off < len(s); {
		k := strings.Index(s[off:], b64Begin)
		if k < 0 {
			break
		}
		p := off + k
		off = p + len(b64Begin)
		if p > 0 && (isB64Std(s[p-1]) || s[p-1] == '=') {
			continue
		}
		e := p
		for e < len(s) && (isB64Std(s[e]) || s[e] == '=') {
			e++
		}
		var head [48]byte
		n := base64Prefix(head[:], s[p:e])
		if line := string(head[:n]); strings.HasPrefix(line, pemBegin) &&
			(strings.Contains(line, "PRIVATE KEY") || n < len(head) && strings.Contains(line, "PRIVATE")) {
			ms = append(ms, match{p, e, kPrivateKey})
			off = e
		}
	}
	return ms
}

// base64Prefix decodes standard base64 from src into dst until dst is
// full or src ends (or a byte outside the alphabet), and returns the
// number of bytes written.
func base64Prefix(dst []byte, src string) int {
	n, acc, bits := 0, uint(0), 0
	for i := 0; i < len(src) && n < len(dst); i++ {
		c := src[i]
		var v byte
		switch {
		case c >= 'A' && c <= 'Z':
			v = c - 'A'
		case c >= 'a' && c <= 'z':
			v = c - 'a' + 26
		case c >= '0' && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		default:
			return n
		}
		acc = acc<<6 | uint(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst[n] = byte(acc >> bits)
			n++
		}
	}
	return n
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

// scanGitHub matches ghp_/gho_/ghu_/ghs_/ghr_ followed by 36
// alphanumerics whose last six are the base62 CRC32 of the first 30 (a
// run of 36 that fails the checksum is not a token), or by more than 36
// (GitHub may lengthen tokens; no checksum is known for those), and
// github_pat_ followed by at least 82 of [A-Za-z0-9_].
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
		if e := runEnd(s, p+4, clDigit|clUpper|clLower); e-(p+4) > 36 || crc32TokenValid(s[p+4:e]) {
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

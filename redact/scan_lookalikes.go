package redact

import "strings"

// Look-alikes left alone: what the address, card and IP address scanners
// find that is something else (the host of a URL's userinfo, an scp
// remote, an asset name, a Message-ID; a hex id holding a Luhn-valid run;
// loopback and unspecified addresses).

// notAnAddress reports whether local@domain at s[a:b] is something else
// written with an '@': the host of a URL's userinfo
// (postgres://app:pw@db.internal), an scp-style remote
// (git@github.com:org/repo.git), an asset name (icon@2x.png) or a
// Message-ID (<id@mx.example.net> after a Message-ID, In-Reply-To or
// References header).
func notAnAddress(s string, a, at, b int) bool {
	if userinfoStart(s, at) >= 0 || a > 0 && s[a-1] == '@' && userinfoStart(s, a-1) >= 0 {
		return true
	}
	if b+1 < len(s) && s[b] == ':' && !isDigit(s[b+1]) && s[b+1] > ' ' {
		e := b + 1
		for e < len(s) && s[e] > ' ' && s[e] != '"' && s[e] != '\'' {
			e++
		}
		if strings.IndexByte(s[b+1:e], '/') >= 0 || strings.HasSuffix(s[b+1:e], ".git") {
			return true // user@host:path
		}
	}
	dom := s[at+1 : b]
	if tld := dom[strings.LastIndexByte(dom, '.')+1:]; len(tld) <= 4 && assetExt(tld) {
		return true
	}
	if l := strings.IndexByte(dom, '.'); l >= 2 && dom[l-1] == 'x' && isDigit(dom[0]) {
		scale := true
		for _, c := range []byte(dom[:l-1]) {
			scale = scale && (isDigit(c) || c == '.')
		}
		if scale {
			return true // a scale suffix: icon@2x.png, logo@1.5x.webp
		}
	}
	if a > 0 && s[a-1] == '<' && b < len(s) && s[b] == '>' {
		return messageIDHeader(s, a-1) ||
			(machineLocal(s[a:at]) || mailHost(dom)) && !lineHas(s, a-1, addressHeaders)
	}
	return false
}

// machineLocal reports whether the local part of a bracketed address was
// made by a program (a Message-ID's left part): six digits or more, 16
// bytes or more with three digits, or '=' or '$' in it (an address of
// digits alone, as some mail services give, is an address).
func machineLocal(l string) bool {
	d := digitsIn(l)
	return d >= 6 && d < len(l) || len(l) >= 16 && d >= 3 || strings.ContainsAny(l, "=$")
}

// mailHost reports whether a domain of three labels or more starts with
// the name of a mail server (mx, mx1, smtp, mta, mail, relay, outbound).
func mailHost(dom string) bool {
	l := strings.IndexByte(dom, '.')
	if l < 0 || strings.Count(dom, ".") < 2 {
		return false
	}
	h := strings.TrimRight(dom[:l], "0123456789-")
	for _, w := range []string{"mx", "smtp", "mta", "mail", "relay", "outbound", "mailer"} {
		if len(h) == len(w) && hasFoldAt(h, 0, w) {
			return true
		}
	}
	return false
}

var addressHeaders = []string{"from:", "to:", "cc:", "bcc:", "reply-to:", "sender:", "return-path:", "delivered-to:"}

// lineHas reports whether one of words (lower case) occurs on the line of
// s before i (at most 1 KiB back).
func lineHas(s string, i int, words []string) bool {
	a := i
	for a > 0 && i-a < 1024 && s[a-1] != '\n' && s[a-1] != '\r' {
		a--
	}
	line := s[a:i]
	for _, h := range words {
		for k := 0; k+len(h) <= len(line); k++ {
			if hasFoldAt(line, k, h) && (k == 0 || !isAlpha(line[k-1])) {
				return true
			}
		}
	}
	return false
}

// assetExt reports whether tld is a file extension that is no top-level
// domain.
func assetExt(tld string) bool {
	var b [4]byte
	for i := 0; i < len(tld); i++ {
		b[i] = lowerASCII(tld[i])
	}
	switch string(b[:len(tld)]) {
	case "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff", "avif", "heic",
		"pdf", "js", "css", "json", "yaml", "yml", "txt", "ttf", "woff", "otf", "mp3", "wav", "webm":
		return true
	}
	return false
}

// messageIDHeader reports whether a header naming Message-IDs starts the
// line of the '<' at lt (or an earlier item of its list).
func messageIDHeader(s string, lt int) bool { return lineHas(s, lt, messageIDWords) }

var messageIDWords = []string{"message-id", "message_id", "messageid", "in-reply-to", "references", "msg-id", "content-id"}

// localIPv4 reports whether a dotted quad names no host of anyone: a
// loopback address (127/8), the unspecified 0.0.0.0 or the broadcast
// 255.255.255.255.
func localIPv4(q string) bool {
	return strings.HasPrefix(q, "127.") || q == "0.0.0.0" || q == "255.255.255.255"
}

// localIPv6 reports whether an IPv6 address is the loopback (::1) or
// unspecified address, or a loopback IPv4 address mapped (::ffff:127.0.0.1).
func localIPv6(t string) bool {
	switch t {
	case "::1", "::", "0:0:0:0:0:0:0:1", "0:0:0:0:0:0:0:0":
		return true
	}
	if k := strings.LastIndexByte(t, ':'); k >= 0 && strings.IndexByte(t[k:], '.') > 0 {
		return localIPv4(t[k+1:])
	}
	return false
}

// hexToken reports whether the alphanumeric token around s[i:j] is all
// hex digits (a hash, a trace or object id), in which a digit run that
// passes as a card number is a coincidence.
func hexToken(s string, i, j int) bool {
	a, e := i, j
	for a > 0 && isAlnum(s[a-1]) {
		a--
	}
	for e < len(s) && isAlnum(s[e]) {
		e++
	}
	for k := a; k < e; k++ {
		if !isHex(s[k]) {
			return false
		}
	}
	return true
}

package redact

import "strings"

// Passwords on command lines and in URLs: --password X, the short flags of
// database clients and sshpass, curl -u user:X, and the password of a
// URL's userinfo or of a Go MySQL DSN.

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

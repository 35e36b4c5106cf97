// Package jsonscan walks JSON text without building values: it validates
// per RFC 8259 and hands out raw members, so a line is decoded once.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// ErrNotObject is returned by Object for valid JSON that is not an object.
var ErrNotObject = errors.New("not a JSON object")

// Object walks a JSON text that must be exactly one object (surrounding
// white space allowed) and calls fn with each member's raw key (quotes
// included) and raw value. It validates the whole text per RFC 8259 as it
// goes, without building any value, so a line is decoded once.
func Object(s []byte, fn func(key, val []byte) error) error {
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return ErrNotObject
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return trailing(s, i+1)
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return syntaxErr(i)
		}
		kEnd, err := skipString(s, i)
		if err != nil {
			return err
		}
		key := s[i:kEnd]
		i = skipWS(s, kEnd)
		if i >= len(s) || s[i] != ':' {
			return syntaxErr(i)
		}
		i = skipWS(s, i+1)
		vEnd, err := skipValue(s, i, 0)
		if err != nil {
			return err
		}
		if err := fn(key, s[i:vEnd]); err != nil {
			return err
		}
		var done bool
		if i, done, err = afterMember(s, vEnd, '}'); done || err != nil {
			return err
		}
	}
}

// maxDepth bounds nesting so that a hostile line cannot exhaust the stack.
const maxDepth = 1000

func trailing(s []byte, i int) error {
	if i = skipWS(s, i); i != len(s) {
		return syntaxErr(i)
	}
	return nil
}

func syntaxErr(i int) error {
	return errors.New("invalid JSON: syntax error at byte " + strconv.Itoa(i))
}

func skipWS(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at s[i]=='"'.
func skipString(s []byte, i int) (int, error) {
	for i++; i < len(s); i++ {
		for i+8 <= len(s) && plain8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			i++
			if i >= len(s) {
				return 0, syntaxErr(i)
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) || !isHex(s[i+3]) || !isHex(s[i+4]) {
					return 0, syntaxErr(i)
				}
				i += 4
			default:
				return 0, syntaxErr(i)
			}
		case c < 0x20:
			return 0, syntaxErr(i)
		}
	}
	return 0, syntaxErr(i)
}

// plain8 reports whether none of the 8 bytes packed in w ends a string,
// starts an escape or is a control character: no '"', no '\\', none
// below 0x20. (x-lsb*n)&^x&msb is non-zero exactly when some byte of x is
// below n (n <= 0x80); applied to w xor a repeated byte it finds that byte.
func plain8(w uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q := w ^ (lsb * '"')
	b := w ^ (lsb * '\\')
	return ((q-lsb)&^q|(b-lsb)&^b|(w-lsb*0x20)&^w)&msb == 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipValue returns the index just past the value starting at s[i].
func skipValue(s []byte, i, depth int) (int, error) {
	if i >= len(s) {
		return 0, syntaxErr(i)
	}
	switch c := s[i]; {
	case c == '"':
		return skipString(s, i)
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return 0, errors.New("invalid JSON: nested too deeply")
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == end {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(s) || s[i] != '"' {
					return 0, syntaxErr(i)
				}
				k, err := skipString(s, i)
				if err != nil {
					return 0, err
				}
				i = skipWS(s, k)
				if i >= len(s) || s[i] != ':' {
					return 0, syntaxErr(i)
				}
				i = skipWS(s, i+1)
			}
			v, err := skipValue(s, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = skipWS(s, v)
			if i >= len(s) {
				return 0, syntaxErr(i)
			}
			if s[i] == end {
				return i + 1, nil
			}
			if s[i] != ',' {
				return 0, syntaxErr(i)
			}
			i = skipWS(s, i+1)
		}
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(s, i)
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if len(s)-i >= len(lit) && string(s[i:i+len(lit)]) == lit {
				return i + len(lit), nil
			}
		}
		return 0, syntaxErr(i)
	}
}

func skipNumber(s []byte, i int) (int, error) {
	start := i
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return 0, syntaxErr(start)
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return 0, syntaxErr(i)
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, syntaxErr(i)
		}
	}
	return i, nil
}

// Unquote returns the value of a raw JSON string (quotes included).
// Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func Unquote(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errors.New("not a JSON string")
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// ErrNotArray is returned by Array for valid JSON that is not an array.
var ErrNotArray = errors.New("not a JSON array")

// Array walks a JSON text that must be exactly one array (surrounding
// white space allowed) and calls fn with each element's raw value,
// validating the whole text as Object does.
func Array(s []byte, fn func(val []byte) error) error {
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '[' {
		return ErrNotArray
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return trailing(s, i+1)
	}
	for {
		vEnd, err := skipValue(s, i, 0)
		if err != nil {
			return err
		}
		if err := fn(s[i:vEnd]); err != nil {
			return err
		}
		var done bool
		if i, done, err = afterMember(s, vEnd, ']'); done || err != nil {
			return err
		}
	}
}

// afterMember reads what follows a member of an object or an array ending
// at vEnd: a comma, and then next is where the next member starts; or
// close, and then done is set and err says whether only blanks follow.
func afterMember(s []byte, vEnd int, close byte) (next int, done bool, err error) {
	i := skipWS(s, vEnd)
	switch {
	case i >= len(s):
		return 0, false, syntaxErr(i)
	case s[i] == ',':
		return skipWS(s, i+1), false, nil
	case s[i] == close:
		return 0, true, trailing(s, i+1)
	}
	return 0, false, syntaxErr(i)
}

// Interner turns byte strings into strings, allocating once per distinct
// value: the keys of agent events and most of their field values (user,
// tenant, model, tool, session) repeat from line to line. It holds at
// most maxInterned values, each of at most maxInternLen bytes (longer
// ones are converted as they come, as are all once it is full: it then
// starts over). The zero value is ready; it is not safe for concurrent
// use.
type Interner struct {
	m map[string]string
}

const (
	maxInterned  = 1024
	maxInternLen = 64
)

// String returns string(b), the same string for the same bytes.
func (in *Interner) String(b []byte) string {
	if len(b) > maxInternLen {
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok { // no allocation: the compiler looks up b itself
		return s
	}
	s := string(b)
	if in.m == nil {
		in.m = make(map[string]string, 64)
	} else if len(in.m) >= maxInterned {
		clear(in.m)
	}
	in.m[s] = s
	return s
}

// UnquoteIn is Unquote with the value of a string without escapes taken
// from in.
func UnquoteIn(raw []byte, in *Interner) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return in.String(raw[1 : len(raw)-1]), nil
	}
	return Unquote(raw)
}

package parse

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fips-agents/audit-sidecar/record"
)

// pyArgs returns a Python repr of tool arguments as JSON when it is a
// literal (dict, list, tuple, set, str, int, float, True, False, None),
// else the repr as a JSON string: either way the raw values are where
// redaction looks.
func pyArgs(repr string) json.RawMessage {
	if v, ok := pyToJSON(repr); ok {
		return v
	}
	return quote(repr)
}

func pyToJSON(s string) (json.RawMessage, bool) {
	p := pyParser{s: s}
	out, err := p.value(nil, 0)
	if err != nil {
		return nil, false
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, false
	}
	return out, true
}

type pyParser struct {
	s string
	i int
	// calls reads a call of keyword arguments, Name(k=v, ...), as the
	// JSON object of its arguments (the repr of a dataclass).
	calls bool
}

var errPy = errors.New("not a Python literal")

func (p *pyParser) ws() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *pyParser) value(dst []byte, depth int) ([]byte, error) {
	if depth > 100 {
		return nil, errPy
	}
	p.ws()
	if p.i >= len(p.s) {
		return nil, errPy
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.dict(dst, depth)
	case c == '[' || c == '(':
		end := byte(']')
		if c == '(' {
			end = ')'
		}
		return p.seq(dst, end, depth)
	case c == '\'' || c == '"':
		str, err := p.str()
		if err != nil {
			return nil, err
		}
		return record.AppendString(dst, str), nil
	}
	for _, w := range []struct{ py, js string }{{"True", "true"}, {"False", "false"}, {"None", "null"}} {
		if strings.HasPrefix(p.s[p.i:], w.py) {
			p.i += len(w.py)
			return append(dst, w.js...), nil
		}
	}
	if p.calls && isIdentStart(p.s[p.i]) {
		return p.call(dst, depth)
	}
	start := p.i
	for p.i < len(p.s) && strings.IndexByte("+-0123456789.eE_", p.s[p.i]) >= 0 {
		p.i++
	}
	num := strings.ReplaceAll(p.s[start:p.i], "_", "")
	if num == "" {
		return nil, errPy
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		return strconv.AppendInt(dst, n, 10), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return nil, errPy
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, errPy
	}
	return append(dst, b...), nil
}

// seq reads a list, tuple or set body as a JSON array.
func (p *pyParser) seq(dst []byte, end byte, depth int) ([]byte, error) {
	p.i++
	dst = append(dst, '[')
	for n := 0; ; n++ {
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == end {
			p.i++
			return append(dst, ']'), nil
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = p.value(dst, depth+1); err != nil {
			return nil, err
		}
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		} else if p.i >= len(p.s) || p.s[p.i] != end {
			return nil, errPy
		}
	}
}

// dict reads a dict (or a set, as an array) as a JSON object; keys that
// are not strings become their JSON text.
func (p *pyParser) dict(dst []byte, depth int) ([]byte, error) {
	save := p.i
	p.i++
	dst = append(dst, '{')
	for n := 0; ; n++ {
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return append(dst, '}'), nil
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		key, err := p.value(nil, depth+1)
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			if n == 0 { // {1, 2}: a set
				p.i = save
				return p.seq(dst[:len(dst)-1], '}', depth)
			}
			return nil, errPy
		}
		p.i++
		if key[0] != '"' {
			key = record.AppendString(nil, string(key))
		}
		dst = append(append(dst, key...), ':')
		if dst, err = p.value(dst, depth+1); err != nil {
			return nil, err
		}
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		} else if p.i >= len(p.s) || p.s[p.i] != '}' {
			return nil, errPy
		}
	}
}

// str reads a Python string literal.
func (p *pyParser) str() (string, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\' && p.i+1 < len(p.s):
			p.i++
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'x', 'u', 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if p.i+n > len(p.s) {
					return "", errPy
				}
				r, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
				if err != nil || !utf8.ValidRune(rune(r)) {
					return "", errPy
				}
				b.WriteRune(rune(r))
				p.i += n
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", errPy
}

func isIdentStart(c byte) bool { return c == '_' || c|0x20 >= 'a' && c|0x20 <= 'z' }

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// ident reads a Python identifier.
func (p *pyParser) ident() string {
	start := p.i
	for p.i < len(p.s) && isIdent(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// call reads Name(k=v, ...) as {"k": v, ...}; a positional argument is
// not read.
func (p *pyParser) call(dst []byte, depth int) ([]byte, error) {
	p.ident()
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, errPy
	}
	p.i++
	dst = append(dst, '{')
	for n := 0; ; n++ {
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
			return append(dst, '}'), nil
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		k := p.ident()
		if k == "" || p.i >= len(p.s) || p.s[p.i] != '=' {
			return nil, errPy
		}
		p.i++
		dst = append(record.AppendString(dst, k), ':')
		var err error
		if dst, err = p.value(dst, depth+1); err != nil {
			return nil, err
		}
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		} else if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, errPy
		}
	}
}

package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
)

// plain8 must agree with a byte-by-byte check for every byte value at
// every position of the word, next to both plain and special neighbours.
func TestPlain8(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	for _, fill := range []byte{'a', 0xff, 0x80, 0x20, '"'} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				want := true
				for _, b := range w {
					want = want && !special(b)
				}
				if got := plain8(binary.LittleEndian.Uint64(w[:])); got != want {
					t.Fatalf("plain8(%q) = %v, want %v", w, got, want)
				}
			}
		}
	}
}

func TestObject_Strings(t *testing.T) {
	long := strings.Repeat("abcdefgh", 9)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"k":"` + long + `"}`, true},
		{`{"k":"` + long + `\"` + long + `"}`, true},
		{`{"k":"` + long + `\\"}`, true},
		{`{"k":"` + long + `\u00e9` + long + `"}`, true},
		{`{"k":"` + long + "\x01" + `"}`, false},
		{`{"k":"` + long + `\x"}`, false},
		{`{"k":"` + long + `\u00g9"}`, false},
		{`{"k":"` + long + `}`, false},
		{`{"k":"` + long + `é` + long + `"}`, true},
	} {
		err := Object([]byte(tc.in), func(_, _ []byte) error { return nil })
		if (err == nil) != tc.ok {
			t.Errorf("Object(%.40q…) error %v, want ok %v", tc.in[6+len(long):], err, tc.ok)
		}
	}
}

// FuzzObject checks Object against encoding/json on validity and on the
// members it hands out.
func FuzzObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"x\"y","b":[1,{"c":null}]}`, `{"a":"abcdefghijklmnop\\q"}`, `[1]`, `{"a":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var keys []string
		err := Object(in, func(k, v []byte) error {
			var key string
			if json.Unmarshal(k, &key) != nil || !json.Valid(v) {
				t.Fatalf("member %q: %q not valid JSON", k, v)
			}
			keys = append(keys, key)
			return nil
		})
		var m map[string]json.RawMessage
		jerr := json.Unmarshal(in, &m)
		if jerr == nil && m == nil { // null
			jerr = ErrNotObject
		}
		if (err == nil) != (jerr == nil) {
			t.Fatalf("Object(%q): %v; encoding/json: %v", in, err, jerr)
		}
		if err == nil {
			for _, k := range keys {
				if _, ok := m[k]; !ok {
					t.Fatalf("key %q not seen by encoding/json", k)
				}
			}
		}
	})
}

func TestArray(t *testing.T) {
	for in, want := range map[string]string{
		`[]`:                          ``,
		` [1, "a", {"b":[2]}, null] `: `1|"a"|{"b":[2]}|null`,
		`[1,]`:                        `error`,
		`[1 2]`:                       `error`,
		`{"a":1}`:                     `error`,
		`[1] x`:                       `error`,
		`["\x"]`:                      `error`,
	} {
		var got []string
		err := Array([]byte(in), func(v []byte) error { got = append(got, string(v)); return nil })
		g := strings.Join(got, "|")
		if err != nil {
			g = "error"
		}
		if g != want {
			t.Errorf("Array(%s) = %q, want %q", in, g, want)
		}
	}
}

func FuzzArray(f *testing.F) {
	for _, s := range []string{`[]`, `[1,"a",{"b":[2]}]`, `[1,]`, `{}`, `[null] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n := 0
		err := Array(in, func(v []byte) error {
			if !json.Valid(v) {
				t.Fatalf("element %q not valid JSON", v)
			}
			n++
			return nil
		})
		var a []json.RawMessage
		jerr := json.Unmarshal(in, &a)
		if jerr == nil && a == nil { // null
			jerr = ErrNotArray
		}
		if (err == nil) != (jerr == nil) {
			t.Fatalf("Array(%q): %v; encoding/json: %v", in, err, jerr)
		}
		if err == nil && n != len(a) {
			t.Fatalf("Array(%q): %d elements, encoding/json %d", in, n, len(a))
		}
	})
}

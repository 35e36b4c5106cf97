package parse

import (
	"encoding/json"
	"testing"
)

func TestPyArgs(t *testing.T) {
	cases := map[string]string{
		`{'email': 'dana@example.com', 'amount': 249}`:          `{"email":"dana@example.com","amount":249}`,
		`{"it's": 'a "q"', 'n': None, 'ok': True, 'f': -1.5}`:   `{"it's":"a \"q\"","n":null,"ok":true,"f":-1.5}`,
		`{'ids': [1, 2, (3, 4)], 'tags': {'a', 'b'}, 1: False}`: `{"ids":[1,2,[3,4]],"tags":["a","b"],"1":false}`,
		`{'s': 'line\nnext \\ \x41\u00e9', 'big': 1_000}`:       `{"s":"line\nnext \\ Aé","big":1000}`,
		`{}`:                                    `{}`,
		`{'when': datetime.date(2026, 11, 26)}`: `"{'when': datetime.date(2026, 11, 26)}"`,
		`{'a': 1`:                               `"{'a': 1"`,
		`{'a': float('inf')}`:                   `"{'a': float('inf')}"`,
	}
	for in, want := range cases {
		if got := string(pyArgs(in)); got != want {
			t.Errorf("pyArgs(%s) = %s, want %s", in, got, want)
		}
	}
}

func FuzzPyArgs(f *testing.F) {
	f.Add(`{'email': 'dana@example.com', 'amount': 249, 'x': [1, (2,), {3}], 'y': None}`)
	f.Add(`'\x00\uffff\U0001F600'`)
	f.Fuzz(func(t *testing.T, s string) {
		if out := pyArgs(s); !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, s)
		}
	})
}

package parse

import (
	"encoding/json"
	"strings"
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

func TestPyCall(t *testing.T) {
	deep := "Interrupt(value=" + strings.Repeat("[", 200) + strings.Repeat("]", 200) + ")"
	cases := map[string]string{
		`Interrupt(value={'action_requests': [{'name': 't', 'args': {}}]}, id='9f')`: `{"value":{"action_requests":[{"name":"t","args":{}}]},"id":"9f"}`,
		`Interrupt(value=[1], resumable=True, ns=['n:1'], when='during')`:            `{"value":[1],"resumable":true,"ns":["n:1"],"when":"during"}`,
		`Command(resume={'decisions': [{'type': 'approve'}]})`:                       `{"resume":{"decisions":[{"type":"approve"}]}}`,
		`Command(resume={'k': Interrupt(value=None, id='x')})`:                       `{"resume":{"k":{"value":null,"id":"x"}}}`,
		`Interrupt('positional')`:                                                    ``,
		`Interrupt(value=1`:                                                          ``,
		`Interrupt(value=1) trailing`:                                                ``,
		`Send(node='x')`:                                                             ``,
		deep:                                                                         ``,
		`Interrupt(value={'when': datetime.date(2026, 11, 26)}, id='y')`:             ``,
		`Interrupt(value={'d': Decision(type='edit', args={'a': 1})}, id='z')`:       `{"value":{"d":{"type":"edit","args":{"a":1}}},"id":"z"}`,
	}
	for in, want := range cases {
		got, ok := pyCall(in)
		if want == "" && ok || want != "" && string(got) != want {
			t.Errorf("pyCall(%.60s) = %s %v, want %s", in, got, ok, want)
		}
		if ok && !json.Valid(got) {
			t.Errorf("pyCall(%.60s): invalid JSON %s", in, got)
		}
	}
	if got := string(pyArgs(`{'x': Foo(a=1)}`)); got != `"{'x': Foo(a=1)}"` {
		t.Errorf("pyArgs reads calls: %s", got)
	}
}

func FuzzPyCall(f *testing.F) {
	f.Add(`Interrupt(value={'action_requests': [{'name': 't', 'args': {'a': (1, 2)}}]}, id='9f')`)
	f.Add(`Command(resume={'k': Interrupt(value=None, resumable=True, ns=['a:1'], when='during')})`)
	f.Fuzz(func(t *testing.T, s string) {
		if out, ok := pyCall(s); ok && !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, s)
		}
	})
}

package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestJSON(t *testing.T) {
	r := mustNew(t, Config{})
	for _, tc := range []struct {
		name, in, want string
		counts         map[string]int
	}{
		{"nested", `{"a":{"b":["x@y.com",{"c":"call 415-555-0132"}]},"n":1.50e+10,"t":true,"f":false,"z":null}`,
			`{"a":{"b":["[REDACTED:EMAIL]",{"c":"call [REDACTED:PHONE]"}]},"n":1.50e+10,"t":true,"f":false,"z":null}`,
			map[string]int{"EMAIL": 1, "PHONE": 1}},
		{"escaped at sign", `{"to":"a\u0040b.com"}`, `{"to":"[REDACTED:EMAIL]"}`, one("EMAIL")},
		{"escaped digits", `"ssn \u0031\u0032\u0033-45-6789"`, `"ssn [REDACTED:SSN]"`, one("SSN")},
		{"pii in key", `{"dana@example.com":{"10.0.0.1":1}}`, `{"[REDACTED:EMAIL]":{"[REDACTED:IPV4]":1}}`,
			map[string]int{"EMAIL": 1, "IPV4": 1}},
		{"whitespace dropped", " {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : { } , \"c\" : [ ] } \n", `{"a":[1,2],"b":{},"c":[]}`, nil},
		{"numbers verbatim", `[-0.0e-0,12345678901234567890123,1E400,0,-1,2.5E+3]`, `[-0.0e-0,12345678901234567890123,1E400,0,-1,2.5E+3]`, nil},
		{"key order and duplicates", `{"z":1,"a":2,"z":3}`, `{"z":1,"a":2,"z":3}`, nil},
		{"no html escaping", `{"h":"<b>a&amp;b</b>","e":"\u003ci\u003e \u0026"}`, `{"h":"<b>a&amp;b</b>","e":"\u003ci\u003e \u0026"}`, nil},
		{"escapes kept", `"\/ \" \\ \n\r\t \b\f \u0001 \u00e9 \u2028"`, `"\/ \" \\ \n\r\t \b\f \u0001 \u00e9 \u2028"`, nil},
		{"escapes kept around a replacement", `"\u003c\/a\u003e dana@example.com \u0026 \u00e9"`,
			`"\u003c\/a\u003e [REDACTED:EMAIL] \u0026 \u00e9"`, one("EMAIL")},
		{"escaped key in minimal escapes", `{"\u0061\/b":1}`, `{"a/b":1}`, nil},
		{"nul escape rewritten", `"a\u0000b"`, `"a\u0000b"`, nil},
		{"surrogate pair", `"\ud83d\ude00"`, `"\ud83d\ude00"`, nil},
		{"lone surrogate", `"a\ud800b\udc00"`, "\"a\uFFFDb\uFFFD\"", nil},
		{"invalid utf8", "\"a\xffb\"", "\"a\uFFFDb\"", nil},
		{"raw utf8 kept", `"naïve café"`, `"naïve café"`, nil},
		{"top-level string", `"dana@example.com"`, `"[REDACTED:EMAIL]"`, one("EMAIL")},
		{"top-level number", ` 42 `, `42`, nil},
		{"top-level literal", `null`, `null`, nil},
		{"json in a string", `{"arguments":"{\"email\":\"dana@example.com\",\"n\":1}"}`,
			`{"arguments":"{\"email\":\"[REDACTED:EMAIL]\",\"n\":1}"}`, one("EMAIL")},
		{"authorization key", `{"headers":{"Authorization":"Bearer abc","X":"Bearer abc"}}`,
			`{"headers":{"Authorization":"Bearer [REDACTED:AUTH]","X":"Bearer abc"}}`, one("AUTH")},
		{"authorization bare value", `{"authorization":"s3cr3t"}`, `{"authorization":"[REDACTED:AUTH]"}`, one("AUTH")},
		{"authorization object", `{"Authorization":{"x":"abc"}}`, `{"Authorization":{"x":"abc"}}`, nil},
		{"aws secret key field", `{"aws_secret_access_key":"` + testAWSSecret + `","SecretAccessKey":"` + testAWSSecret + `"}`,
			`{"aws_secret_access_key":"[REDACTED:AWS_SECRET_KEY]","SecretAccessKey":"[REDACTED:AWS_SECRET_KEY]"}`,
			map[string]int{"AWS_SECRET_KEY": 2}},
		{"pem in json", `{"key":"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}`,
			`{"key":"[REDACTED:PRIVATE_KEY]\n"}`, one("PRIVATE_KEY")},
		{"card grouped", `{"card":"4111 1111 1111 1111","amount":249}`, `{"card":"[REDACTED:CARD]","amount":249}`, one("CARD")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := map[string]int{}
			got, err := r.JSON(nil, []byte(tc.in), counts)
			if err != nil {
				t.Fatalf("JSON: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("JSON(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
			want := tc.counts
			if want == nil {
				want = map[string]int{}
			}
			if !maps.Equal(counts, want) {
				t.Errorf("counts = %v, want %v", counts, want)
			}
		})
	}
}

func TestJSON_Invalid(t *testing.T) {
	r := mustNew(t, Config{})
	for _, in := range []string{
		"", " ", "{", "}", `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{1:2}`, `[1,]`, `[1 2]`,
		`01`, `1.`, `-`, `.5`, `1e`, `+1`, `"abc`, `"\x"`, `"\u12"`, `"\u12zz"`, "\"a\x01\"", "\"a\tb\"",
		`tru`, `nul`, `{"a":1}x`, `{"a":1}{}`, "\xef\xbb\xbf{}", `{"e":"a@b.com",`, `NaN`, `'a'`,
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	} {
		dst := []byte("keep")
		counts := map[string]int{"EMAIL": 7}
		got, err := r.JSON(dst, []byte(in), counts)
		if !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("JSON(%.30q): err = %v, want ErrInvalidJSON", in, err)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("JSON(%.30q): err %T is not a *SyntaxError", in, err)
		}
		if string(got) != "keep" {
			t.Errorf("JSON(%.30q): dst changed to %q", in, got)
		}
		if len(counts) != 1 || counts["EMAIL"] != 7 {
			t.Errorf("JSON(%.30q): counts changed to %v", in, counts)
		}
		if json.Valid([]byte(in)) {
			t.Errorf("encoding/json accepts %.30q", in)
		}
	}
	// Just inside the depth limit is fine.
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if _, err := r.JSON(nil, []byte(deep), nil); err != nil {
		t.Errorf("depth %d: %v", maxDepth, err)
	}
}

func TestJSON_ErrorNeverQuotesInput(t *testing.T) {
	r := mustNew(t, Config{})
	for _, in := range []string{`{"ssn":"123-45-6789" Q}`, `{"ssn":"123-45-6789`, `["a@b.co", Q]`, `["\Q"]`} {
		_, err := r.JSON(nil, []byte(in), nil)
		if err == nil || strings.ContainsAny(err.Error(), "Q@") || strings.Contains(err.Error(), "6789") {
			t.Errorf("JSON(%q): err = %v", in, err)
		}
	}
}

func TestJSON_AppendsToDst(t *testing.T) {
	r := mustNew(t, Config{})
	got, err := r.JSON([]byte("prefix:"), []byte(`["a@b.co"]`), nil)
	if err != nil || string(got) != `prefix:["[REDACTED:EMAIL]"]` {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestJSON_FailClosed(t *testing.T) {
	r := mustNew(t, Config{})
	big := `{"small":"dana@example.com","big":"` + strings.Repeat("x", MaxValueBytes+1) + `","n":1}`
	counts := map[string]int{}
	got, err := r.JSON(nil, []byte(big), counts)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"small":"[REDACTED:EMAIL]","big":"[REDACTED:UNPROCESSABLE]","n":1}`; string(got) != want {
		t.Errorf("got %.200s, want %s", got, want)
	}
	if want := map[string]int{"EMAIL": 1, "UNPROCESSABLE": 1}; !maps.Equal(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}

	// A scanner that panics on one value costs that value only.
	r.hook = func(s string) {
		if strings.Contains(s, "boom") {
			panic("scanner bug")
		}
	}
	counts = map[string]int{}
	got, err = r.JSON(nil, []byte(`{"a":"boom 4111111111111111","boom":1,"c":"ok 4111111111111111"}`), counts)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":"[REDACTED:UNPROCESSABLE]","[REDACTED:UNPROCESSABLE]":1,"c":"ok [REDACTED:CARD]"}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if want := map[string]int{"CARD": 1, "UNPROCESSABLE": 2}; !maps.Equal(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
}

// TestJSON_SameValueAsEncodingJSON checks, on inputs without PII, that the
// output decodes to the same value as the input.
func TestJSON_SameValueAsEncodingJSON(t *testing.T) {
	r := mustNew(t, Config{})
	for _, in := range []string{
		`{"a":[1,2,{"b":null}],"c":"x\u00e9\n\"q\"","d":-1.5e3,"e":true}`,
		`["\u0000\u001f\u007f", "tab\there", "\\", "/\/"]`,
		`{"ts":"2025-06-02T09:00:00.001261673Z","seq":1,"trace_id":"8b1d80ceb337c836ede58c0576b0f10f"}`,
	} {
		out, err := r.JSON(nil, []byte(in), nil)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal([]byte(in), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("output %s: %v", out, err)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("value changed:\n in %s\nout %s", in, out)
		}
	}
}

func TestJSON_NoAllocWithoutPII(t *testing.T) {
	r := mustNew(t, Config{})
	in := []byte(`{"ts":"2025-06-02T09:00:00.001261673Z","seq":1,"type":"decision","trace_id":"8b1d80ceb337c836ede58c0576b0f10f",` +
		`"reasoning_summary":"Team rollout metric log. Verify sku automatic denied.","tokens":{"prompt":459,"completion":424}}`)
	dst := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { r.JSON(dst[:0], in, nil) }); n != 0 {
		t.Errorf("JSON without PII: %v allocs, want 0", n)
	}
}

func TestJSON_Concurrent(t *testing.T) {
	r := mustNew(t, Config{Rules: []Rule{{Name: "acct", Pattern: `ACCT-\d+`, Action: "hash"}},
		HashKey: []byte("0123456789abcdef0123456789abcdef")})
	in := []byte(`{"a":"dana@example.com ACCT-1","b":"x\u0040y.io","c":[1,"4111111111111111"]}`)
	want, err := r.JSON(nil, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	for range 8 {
		go func() {
			var out []byte
			for range 200 {
				out, _ = r.JSON(out[:0], in, nil)
			}
			done <- out
		}()
	}
	for range 8 {
		if got := <-done; !bytes.Equal(got, want) {
			t.Errorf("concurrent output %s, want %s", got, want)
		}
	}
}

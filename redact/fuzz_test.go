package redact

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// addJSONSeeds seeds f with testdata/json/*.json and the first lines of
// testdata/events.jsonl.
func addJSONSeeds(f *testing.F) {
	files, err := filepath.Glob("testdata/json/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/json: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ev, err := os.Open("testdata/events.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	defer ev.Close()
	sc := bufio.NewScanner(ev)
	sc.Buffer(nil, 1<<20)
	for n := 0; n < 50 && sc.Scan(); n++ {
		f.Add(bytes.Clone(sc.Bytes()))
	}
}

// FuzzJSON: JSON accepts exactly what encoding/json accepts, its output is
// valid JSON with the same structure (delimiters, numbers, literals), and
// no scanner ever fails (which would show as UNPROCESSABLE).
func FuzzJSON(f *testing.F) {
	addJSONSeeds(f)
	r := mustNew(f, Config{
		Packs:   allPacks,
		Rules:   []Rule{{Name: "emp", Pattern: `EMP-\d+`, Action: "hash"}, {Name: "tkt", Pattern: `(?i)tkt-\d+`}},
		HashKey: []byte("fuzz-key-0123456789abcdef0123456"),
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		counts := map[string]int{}
		out, err := r.JSON([]byte("pre"), in, counts)
		if errors.Is(err, ErrInternal) {
			t.Fatalf("walker failed on %q", in)
		}
		if valid := json.Valid(in); valid != (err == nil) {
			t.Fatalf("json.Valid=%v but err=%v for %q", valid, err, in)
		}
		if err != nil {
			if string(out) != "pre" || len(counts) != 0 {
				t.Fatalf("error %v but dst=%q counts=%v", err, out, counts)
			}
			return
		}
		if !bytes.HasPrefix(out, []byte("pre")) {
			t.Fatalf("dst prefix lost: %q", out)
		}
		out = out[3:]
		if !json.Valid(out) {
			t.Fatalf("invalid output %q for input %q", out, in)
		}
		if counts[TypeUnprocessable] != 0 {
			t.Fatalf("a scanner failed on %q", in)
		}
		sameShape(t, in, out)
		// Output grows by at most one replacement per hit. Invalid UTF-8
		// grows anyway (each bad byte becomes a 3-byte U+FFFD), and so do
		// \b and \f, which the canonical encoding writes as \u0008, \u000c.
		_, hits, _ := r.ExplainJSON(nil, in, "", nil)
		slack := 4 * (bytes.Count(in, []byte(`\b`)) + bytes.Count(in, []byte(`\f`)))
		if utf8.Valid(in) && len(out) > len(in)+slack+len(hits)*maxReplacement(r) {
			t.Fatalf("output %d bytes for %d input bytes and %d hits: %q -> %q", len(out), len(in), len(hits), in, out)
		}
	})
}

// maxReplacement bounds what one hit can add: the longest mask, partial
// form or hash, and the quotes of a number replaced by a string.
func maxReplacement(r *Redactor) int {
	n := len(r.hashPrefix) + 64
	for _, k := range r.kinds {
		n = max(n, len(k.mask)+len(":last4=1234"))
	}
	return max(n, len(Unprocessable)) + 2
}

// sameShape compares the token streams of two JSON texts, ignoring the
// content of strings (redaction rewrites them).
func sameShape(t *testing.T, a, b []byte) {
	t.Helper()
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	for {
		ta, ea := da.Token()
		tb, eb := db.Token()
		if ea == io.EOF && eb == io.EOF {
			return
		}
		if ea != nil || eb != nil {
			t.Fatalf("token errors %v / %v\n in %q\nout %q", ea, eb, a, b)
		}
		if _, ok := ta.(string); ok {
			if _, ok := tb.(string); !ok {
				t.Fatalf("string became %T (%v)\n in %q\nout %q", tb, tb, a, b)
			}
			continue
		}
		if s, ok := tb.(string); ok && (strings.HasPrefix(s, "[REDACTED:") || strings.HasPrefix(s, "hmac-sha256:")) {
			if _, ok := ta.(json.Number); ok {
				continue // a long integer found to be a card, a phone number, ...
			}
		}
		if ta != tb {
			t.Fatalf("token %v became %v\n in %q\nout %q", ta, tb, a, b)
		}
	}
}

// fuzzLiterals are PII and secrets with the part that must never survive.
var fuzzLiterals = []struct{ text, secret string }{
	{"dana.scully@example.com", "dana.scully@example.com"},
	{"4111 1111 1111 1111", "4111 1111 1111 1111"},
	{"5555555555554444", "5555555555554444"},
	{"3782-822463-10005", "3782-822463-10005"},
	{"078-05-1120", "078-05-1120"},
	{"(415) 555-0132", "(415) 555-0132"},
	{"415.555.0132", "415.555.0132"},
	{"+1 415 555 0132", "+1 415 555 0132"},
	{"+44 20 7946 0958", "+44 20 7946 0958"},
	{"192.168.47.190", "192.168.47.190"},
	{"2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"},
	{testAWSID, testAWSID},
	{"aws_secret_access_key=" + testAWSSecret, testAWSSecret},
	{testGHP, testGHP},
	{testJWT, testJWT},
	{testPEM, "MIIEowIBAAKCAQEA7"},
	{"Authorization: Bearer Zq9xCred", "Zq9xCred"},
	{"Bearer Zq9xCredential0", "Zq9xCredential0"},
	{"DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"},
	{"GB82WEST12345698765432", "GB82WEST12345698765432"},
	{"529.982.247-25", "529.982.247-25"},
	{"11.222.333/0001-81", "11.222.333/0001-81"},
	{"86095742719", "86095742719"},
	{"RSSMRA85T10A562S", "RSSMRA85T10A562S"},
	{"12345678Z", "12345678Z"},
	{"ABCPE1234F", "ABCPE1234F"},
	{"AB 12 34 56 C", "AB 12 34 56 C"},
	{"(11) 98765-4321", "(11) 98765-4321"},
	{"xoxb-2048761234-4096123456789-Zq9xWv8uT7sR6qP5oN4m", "xoxb-2048761234-4096123456789-Zq9xWv8uT7sR6qP5oN4m"},
}

// allPacks switches on every built-in kind.
var allPacks = []string{"hipaa", "gdpr", "in", "br"}

// FuzzString: scanners never panic and return sorted, disjoint spans
// inside the string; a known PII literal set apart by " | " never
// survives, whatever surrounds it.
func FuzzString(f *testing.F) {
	for i, seed := range []struct{ prefix, suffix string }{
		{"", ""},
		{"Customer card", "thanks."},
		{"4111", "1111 2222"},
		{"x@", "@y.com"},
		{"-----BEGIN PRIVATE KEY", ""},
		{"naïve café 10:30:00", "ééé@ü.de"},
		{"1.2.3.4.", ".5.6"},
		{"+1", "0132-"},
		{"authorization:", "bearer"},
	} {
		f.Add(seed.prefix, seed.suffix, uint8(i))
	}
	r := mustNew(f, Config{Packs: allPacks})
	f.Fuzz(func(t *testing.T, prefix, suffix string, which uint8) {
		s := prefix + suffix
		for _, ctx := range []keyCtx{0, ctxAuth | ctxAWSSecret} {
			ms := r.find(s, ctx, maskUnknown, nil) // no recover here: a panic fails the test
			for i, m := range ms {
				if m.start < 0 || m.end > len(s) || m.start >= m.end || (i > 0 && m.start < ms[i-1].end) {
					t.Fatalf("bad spans %v for %q", ms, s)
				}
			}
		}
		lit := fuzzLiterals[int(which)%len(fuzzLiterals)]
		// Separated by punctuation, not only a space: a digit group right
		// before a grouped number makes it part of a longer one.
		out := r.String(prefix+" | "+lit.text+" | "+suffix, nil)
		if strings.Count(out, lit.secret) > strings.Count(prefix, lit.secret)+strings.Count(suffix, lit.secret) {
			t.Fatalf("%q survived in %q", lit.secret, out)
		}
	})
}

// FuzzJSON_Rules: with path rules, drops and partial actions the output is
// still valid JSON whenever the input is, and redaction never fails.
func FuzzJSON_Rules(f *testing.F) {
	addJSONSeeds(f)
	f.Add([]byte(`{"a":{"token":[1,{"password":"x"}],"cc1":"4111","cc2":"1111","cc3":"1111","cc4":"1111"},"iban":"DE89370400440532013000"}`))
	r := mustNew(f, Config{
		Packs:   allPacks,
		Paths:   []PathRule{{Path: "token", Action: "drop"}, {Path: "*.password", Action: "hash"}, {Path: "a.*", Action: "partial"}},
		Actions: map[string]string{"IBAN": "drop", "CARD": "partial", "EMAIL": "hash"},
		HashKey: []byte("fuzz-key-0123456789abcdef0123456"),
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, root := range []string{"", "a", "token"} {
			counts := map[string]int{}
			out, err := r.JSONAt(nil, in, root, counts)
			if errors.Is(err, ErrInternal) {
				t.Fatalf("walker failed on %q", in)
			}
			if err != nil {
				if json.Valid(in) {
					t.Fatalf("valid input rejected: %v: %q", err, in)
				}
				continue
			}
			if !json.Valid(out) || counts[TypeUnprocessable] != 0 {
				t.Fatalf("root %q: output %q for %q (counts %v)", root, out, in, counts)
			}
			out2, hits, err := r.ExplainJSON(nil, in, root, nil)
			n := 0
			for _, c := range counts {
				n += c
			}
			if err != nil || !bytes.Equal(out, out2) || len(hits) < n { // a split number is counted once, hit per part
				t.Fatalf("explain differs: %v %q %q %d hits, counts %v", err, out, out2, len(hits), counts)
			}
		}
	})
}

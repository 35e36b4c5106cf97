package redact

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// bestCPU runs f five times and returns the least CPU time its thread
// spent: the work f does, whatever else the machine is running.
func bestCPU(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := time.Duration(1 << 62)
	for range 5 {
		t0 := threadCPU()
		f()
		best = min(best, threadCPU()-t0)
	}
	return best
}

// TestString_LinearTime guards against scanners that rescan the rest of
// the string from each anchor: 16 times the input must cost far less than
// the 256 times a quadratic scanner would need. Costs are CPU time of the
// scanning thread, so a busy machine does not make them fail.
func TestString_LinearTime(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	r := mustNew(t, Config{Packs: []string{"hipaa", "gdpr", "in", "br"}})
	units := []string{
		"1-", "1 ", "1.", "0", "+", "(", "+1 ", "(415) ", "415-555-", "1111 1111 1111 1111 ",
		"a@", "@a.", "a.", "b@a.", "x@y.com.", "é", ":", "1:", "a:", "2001:db8::",
		"eyJ", "eyJaaaaaaaaaa.", "eyJaaaaaaaaaaa.eyJaaaaaaaaaaa.", "-----BEGIN ", "-----BEGIN PRIVATE KEY-----",
		"-----END ", "gh", "ghp_", "github_pat_", "AKIA", "bearer ", "Bearer\t", "Basic ", "authorization:",
		"Authorization: Basic ", "aws secret ", "awssecret", "aws_secret=", "secret_access_key ", "SecretAccessKey",
		"Key", "k", "-", "--",
		"DE89 ", "DE89", "AB123456", "AB 12 ", "ABCPE", "RSSMRA85", "X1234567", "0 ", "00 ", "030/", "01 23 ",
		"(0", "(11) ", "(020) 79 ", "+44 (0)", "98765 ", "1 84 ", "86 095 ", "123.456.", "11.222.", "2345 6789 ",
		"dob 1985-03-14 ", "born 14.03.", "passport 123456789 ", "passport A", "cpf ", "aadhaar 2345",
		"%40", "%4", "%", "\\u0040", "\\u00", "a=b+c", "+", "q=%2540+", "{\"a\":\"", "[\"{\\\"", "4111111111111111,",
		"1HGCM82633A00435", "1HGCM", "MRN 1234567 ", "mrn A123456",
		"xoxb-", "axoxb-", "sk-", "sk-Ab1", "glpat-", "sk_live_", "npm_", "AIza", "LS0tLS1CRUdJTi", "=LS0tLS1CRUdJTi",
	}
	cost := func(s string) time.Duration {
		return bestCPU(func() { r.String(s, nil) })
	}
	for _, u := range units {
		small := strings.Repeat(u, (64<<10)/len(u))
		large := strings.Repeat(u, (MaxValueBytes-16)/len(u))
		ts, tl := cost(small), cost(large)
		if tl > 64*ts+10*time.Millisecond {
			t.Errorf("%q: 64 KiB %v, 1 MiB %v: not linear", u, ts, tl)
		}
	}
}

// TestJSON_LinearTime: the same for documents: deep nesting, many members,
// split-number candidates, JSON held in strings, long integers.
func TestJSON_LinearTime(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	r := mustNew(t, Config{Packs: allPacks, Paths: []PathRule{{Path: "a.*.b"}, {Path: "x", Action: "drop"}}})
	docs := []struct{ open, unit, close string }{
		{"[", `{"a":{"k":{"b":1}},"x":2,"c":"4111"},`, "0]"},
		{"[", `"{\"a\":[1,{\"b\":\"c@d.ef\"}]}",`, "0]"},
		{"[", `4111111111111111,123456789012,`, "0]"},
		{`{"k":{`, `"cc1":"4111","cc2":"1111","cc3":"1111","cc4":"1112","m":1,`, `"z":0}}`},
		{"", `[{"a":`, ``},
	}
	cost := func(b []byte) time.Duration {
		var err error
		d := bestCPU(func() { _, err = r.JSON(nil, b, nil) })
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	build := func(d struct{ open, unit, close string }, size int) []byte {
		n := size / len(d.unit)
		if d.unit == `[{"a":` { // nesting, within the depth limit
			n = min(n, maxDepth/2-1)
			return []byte(strings.Repeat(d.unit, n) + "1" + strings.Repeat("}]", n))
		}
		s := d.open + strings.Repeat(d.unit, n) + d.close
		return []byte(s)
	}
	for _, d := range docs {
		small, large := build(d, 16<<10), build(d, 256<<10)
		ts, tl := cost(small), cost(large)
		if tl > 64*ts+10*time.Millisecond {
			t.Errorf("%q: 16 KiB %v, 256 KiB %v: not linear", d.unit, ts, tl)
		}
	}
}

package redact

import (
	"strings"
	"testing"
	"time"
)

// TestString_LinearTime guards against scanners that rescan the rest of
// the string from each anchor: 16 times the input must cost far less than
// the 256 times a quadratic scanner would need.
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
		"xoxb-", "axoxb-", "sk-", "sk-Ab1", "glpat-", "sk_live_", "npm_", "AIza", "LS0tLS1CRUdJTi", "=LS0tLS1CRUdJTi",
	}
	cost := func(s string) time.Duration {
		best := time.Duration(1 << 62)
		for range 5 {
			t0 := time.Now()
			r.String(s, nil)
			best = min(best, time.Since(t0))
		}
		return best
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

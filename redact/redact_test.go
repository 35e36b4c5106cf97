package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestNew_ConfigErrors(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error, each naming the item
	}{
		{"unknown pack", Config{Packs: []string{"core", "xx"}}, []string{`packs[1]: unknown pack "xx"`}},
		{"bad pattern", Config{Rules: []Rule{{Name: "a", Pattern: "a"}, {Name: "b", Pattern: "("}}},
			[]string{"rules[1].pattern: error parsing regexp: "}},
		{"bad action", Config{Rules: []Rule{{Name: "a", Pattern: "a", Action: "burn"}}},
			[]string{"rules[0].action: must be mask, hash, partial or drop"}},
		{"missing name", Config{Rules: []Rule{{Pattern: "a"}}}, []string{"rules[0].name: required"}},
		{"bad name", Config{Rules: []Rule{{Name: "a b", Pattern: "a"}}}, []string{"rules[0].name: must be of [A-Za-z0-9_-]"}},
		{"missing pattern", Config{Rules: []Rule{{Name: "a"}}}, []string{"rules[0].pattern: required"}},
		{"hash without key", Config{Rules: []Rule{{Name: "a", Pattern: "a", Action: "hash"}}},
			[]string{"hash_key: must be at least 32 bytes"}},
		{"hash short key", Config{Rules: []Rule{{Name: "a", Pattern: "a", Action: "hash"}}, HashKey: key[:31]},
			[]string{"hash_key: must be at least 32 bytes"}},
		{"bad kid", Config{HashKeyID: "k:1"}, []string{"hash_key_id: "}},
		{"all joined", Config{Packs: []string{"nope"}, Rules: []Rule{{Name: "x", Pattern: "[", Action: "zap"}}},
			[]string{"packs[0]", "rules[0].pattern", "rules[0].action"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cfg)
			if err == nil || r != nil {
				t.Fatalf("New = %v, %v; want error", r, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %v is not a *ConfigError", err)
			}
		})
	}
}

func TestNew_ErrorsNeverContainKey(t *testing.T) {
	for _, key := range [][]byte{
		[]byte("TOPSECRET-hash-key-material-31b"), // too short: the key itself is the problem
		[]byte("TOPSECRET-hash-key-material-long-enough-32+"),
	} {
		_, err := New(Config{
			Packs:     []string{"bogus"},
			Rules:     []Rule{{Name: "r", Pattern: "(", Action: "hash"}, {Name: "", Pattern: "x", Action: "hash"}},
			HashKey:   key,
			HashKeyID: "bad kid!",
		})
		if err == nil {
			t.Fatal("want error")
		}
		if strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), string(key)) {
			t.Errorf("error leaks key material: %q", err)
		}
	}
}

func TestNew_Defaults(t *testing.T) {
	r := mustNew(t, Config{})
	if want := packs["core"] | packs["secrets"]; r.on != want {
		t.Errorf("nil Packs: kinds %b, want core and secrets %b", r.on, want)
	}
	r = mustNew(t, Config{Packs: []string{}})
	if r.on != 0 {
		t.Errorf("empty Packs: kinds %b, want none", r.on)
	}
	if got := r.String("dana@example.com", nil); got != "dana@example.com" {
		t.Errorf("no packs redacted %q", got)
	}
}

func hmacHex(key []byte, s string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

func TestString_CustomRules(t *testing.T) {
	key1 := []byte("key-one-0123456789abcdef01234567")
	key2 := []byte("key-two-0123456789abcdef01234567")
	rules := []Rule{
		{Name: "employee-id", Pattern: `EMP-\d{6}`},
		{Name: "ticket", Pattern: `(?i)tkt-\d+`, Action: "mask"}, // no literal prefix: runs on every string
		{Name: "acct", Pattern: `ACCT-[0-9]{4}`, Action: "hash"},
	}
	r1 := mustNew(t, Config{Packs: []string{}, Rules: rules, HashKey: key1})
	r1b := mustNew(t, Config{Packs: []string{}, Rules: rules, HashKey: key1})
	r2 := mustNew(t, Config{Packs: []string{}, Rules: rules, HashKey: key2})
	rk := mustNew(t, Config{Packs: []string{}, Rules: rules, HashKey: key1, HashKeyID: "k1"})

	runStringCases(t, r1, []redactCase{
		{"mask", "by EMP-123456 today", "by [REDACTED:EMPLOYEE_ID] today", one("EMPLOYEE_ID")},
		{"no prefix rule", "see TKT-42 and tkt-7", "see [REDACTED:TICKET] and [REDACTED:TICKET]", map[string]int{"TICKET": 2}},
		{"hash", "acct ACCT-1234.", "acct hmac-sha256:" + hmacHex(key1, "ACCT-1234") + ".", one("ACCT")},
		{"no match", "EMP-12345", "EMP-12345", nil},
	})

	in := "ACCT-1234"
	h1, h1b, h2, hk := r1.String(in, nil), r1b.String(in, nil), r2.String(in, nil), rk.String(in, nil)
	if h1 != h1b {
		t.Errorf("same key, different output: %q vs %q", h1, h1b)
	}
	if h1 == h2 {
		t.Errorf("different keys, same output %q", h1)
	}
	if want := "hmac-sha256:k1:" + hmacHex(key1, in); hk != want {
		t.Errorf("with key id: got %q, want %q", hk, want)
	}
	if other := r1.String("ACCT-9999", nil); other == h1 {
		t.Errorf("different inputs hash alike: %q", other)
	}
}

func TestString_FailClosed(t *testing.T) {
	r := mustNew(t, Config{})
	big := strings.Repeat("a", MaxValueBytes+1)
	counts := map[string]int{}
	if got := r.String(big, counts); got != Unprocessable || counts[TypeUnprocessable] != 1 {
		t.Errorf("oversized value: got %.40q, counts %v", got, counts)
	}
	if got := r.String(strings.Repeat("a", MaxValueBytes), nil); got == Unprocessable {
		t.Error("value of exactly MaxValueBytes was not scanned")
	}

	r.hook = func(string) { panic("scanner bug") }
	counts = map[string]int{}
	if got := r.String("dana@example.com", counts); got != Unprocessable || counts[TypeUnprocessable] != 1 || len(counts) != 1 {
		t.Errorf("panicking scanner: got %q, counts %v", got, counts)
	}
}

func TestString_NoAllocWithoutPII(t *testing.T) {
	r := mustNew(t, Config{Rules: []Rule{{Name: "emp", Pattern: `EMP-\d{6}`}}})
	for _, s := range []string{
		"The customer asked about the refund policy for order ORD-22 at 10:30:00.",
		"2025-06-02T09:00:00.001261673Z",
		"8b1d80ceb337c836ede58c0576b0f10f",
	} {
		if n := testing.AllocsPerRun(100, func() { r.String(s, nil) }); n != 0 {
			t.Errorf("String(%q): %v allocs, want 0", s, n)
		}
	}
}

func TestTypes(t *testing.T) {
	r := mustNew(t, Config{Rules: []Rule{{Name: "emp-id", Pattern: "x"}, {Name: "email", Pattern: "y"}}})
	got := strings.Join(r.Types(), ",")
	want := "PRIVATE_KEY,AWS_ACCESS_KEY,AWS_SECRET_KEY,GITHUB_TOKEN,API_KEY,JWT,AUTH,PASSWORD,SECRET,CARD,CVV,SSN,PHONE,IPV4,IPV6,EMAIL,EMP_ID,UNPROCESSABLE"
	if got != want {
		t.Errorf("Types() = %s\nwant %s", got, want)
	}
}

func TestNormalize(t *testing.T) {
	ms := []match{{10, 20, kEmail}, {0, 5, kCard}, {15, 25, kPhone}, {25, 30, kIPv4}, {3, 4, kSSN}}
	got := normalize(ms)
	want := []match{{0, 5, kCard}, {10, 25, kPhone}, {25, 30, kIPv4}}
	if len(got) != len(want) {
		t.Fatalf("normalize = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("normalize = %v, want %v", got, want)
		}
	}
}

package redact

import (
	"errors"
	"strings"
	"testing"
)

// emailStrings is a JSON array of n strings of e-mail addresses, each just
// under MaxValueBytes: masked, they grow about two and a half times.
func emailStrings(n int) []byte {
	s := `"` + strings.Repeat("a@b.co ", (MaxValueBytes-64)/7) + `"`
	return []byte("[" + strings.Repeat(s+",", n-1) + s + "]")
}

// A long value dense in findings shorter than their masks is replaced
// whole rather than grown without bound; a shorter one, or one that
// grows less, is redacted. (JSON held in a string is at most
// MaxValueBytes long: it grows within the bound of the value holding it.)
func TestJSON_OutputBound(t *testing.T) {
	r := mustNew(t, Config{})
	hash := mustNew(t, Config{Actions: map[string]string{"EMAIL": "hash"}, HashKey: []byte(strings.Repeat("k", MinHashKeyBytes))})
	tests := []struct {
		name    string
		r       *Redactor
		in      []byte
		tooLong bool
	}{
		{"one string of addresses", r, emailStrings(1), false},
		{"four strings of addresses", r, emailStrings(4), true},
		{"hashed, 100 KiB", hash, []byte(`"` + strings.Repeat("a@b.co ", 100<<10/7) + `"`), false},
		{"hashed, four strings", hash, emailStrings(4), true},
		{"plain, 16 MiB", r, []byte(`["` + strings.Repeat("x", MaxValueBytes-64) + strings.Repeat(`","`+strings.Repeat("x", MaxValueBytes-64), 15) + `"]`), false},
	}
	for _, tt := range tests {
		counts := map[string]int{}
		out, err := tt.r.JSON(nil, tt.in, counts)
		if tt.tooLong {
			if !errors.Is(err, ErrTooLarge) || len(out) != 0 || len(counts) != 0 {
				t.Errorf("%s: err %v, %d bytes out, counts %v; want ErrTooLarge and nothing", tt.name, err, len(out), counts)
			}
			continue
		}
		if err != nil || len(out) > MaxOutputBytes(len(tt.in)) {
			t.Errorf("%s: err %v, %d bytes out of %d", tt.name, err, len(out), len(tt.in))
		}
	}
}

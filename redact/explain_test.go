package redact

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestExplainJSON(t *testing.T) {
	r := mustNew(t, Config{
		Packs: []string{"core", "secrets"},
		Rules: []Rule{{Name: "emp", Pattern: `EMP-\d+`}},
		Paths: []PathRule{{Path: "*.password", Action: "drop"}},
	})
	in := `{"to":["x","mail dana@example.com"],"a b":{"password":"p"},"dana@example.com":"EMP-12",` +
		`"args":"{\"card\":\"4111111111111111\"}","n":4111111111111111,"cc":{"c1":"4111","c2":"1111","c3":"1111","c4":"1111"}}`
	out, hits, err := r.ExplainJSON(nil, []byte(in), "arguments", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hits {
		got = append(got, fmt.Sprintf("%s %s %s %s key=%v %d-%d", h.Rule, h.Type, h.Action, h.Path, h.Key, h.Start, h.End))
	}
	want := []string{
		"builtin:EMAIL EMAIL mask arguments.to[1] key=false 5-21",
		"path:*.password PASSWORD drop arguments[\"a b\"].password key=false 0-3",
		"builtin:EMAIL EMAIL mask arguments key=true 0-16",
		"rule:emp EMP mask arguments[\"[REDACTED:EMAIL]\"] key=false 0-6",
		"builtin:CARD CARD mask arguments.args.card key=false 0-16",
		"builtin:CARD CARD mask arguments.n key=false 0-16",
		"builtin:CARD CARD mask arguments.cc.c1 key=false 0-4",
		"builtin:CARD CARD mask arguments.cc.c2 key=false 0-4",
		"builtin:CARD CARD mask arguments.cc.c3 key=false 0-4",
		"builtin:CARD CARD mask arguments.cc.c4 key=false 0-4",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	plain, err := r.JSONAt(nil, []byte(in), "arguments", nil)
	if err != nil || string(plain) != string(out) {
		t.Errorf("ExplainJSON output differs from JSONAt:\n%s\n%s", out, plain)
	}
	for _, h := range got {
		if strings.Contains(h, "dana@") || strings.Contains(h, "4111") {
			t.Errorf("hit names a value: %s", h)
		}
	}
}

func TestExplainString(t *testing.T) {
	r := mustNew(t, Config{})
	out, hits := r.ExplainString("mail dana@example.com, card 4111 1111 1111 1111", nil)
	if out != "mail [REDACTED:EMAIL], card [REDACTED:CARD]" || len(hits) != 2 ||
		hits[0].Start != 5 || hits[0].End != 21 || hits[1].Type != TypeCard || hits[1].Path != "" {
		t.Errorf("%q %+v", out, hits)
	}
}

func TestPolicy(t *testing.T) {
	a := mustNew(t, Config{})
	b := mustNew(t, Config{Packs: []string{"core", "secrets"}})
	c := mustNew(t, Config{Actions: map[string]string{"CARD": "partial"}})
	d := mustNew(t, Config{Paths: []PathRule{{Path: "password"}}})
	if a.Policy() != b.Policy() || a.Policy() == c.Policy() || a.Policy() == d.Policy() || c.Policy() == d.Policy() {
		t.Errorf("policies %s %s %s %s", a.Policy(), b.Policy(), c.Policy(), d.Policy())
	}
	if len(a.Policy()) != 20 || a.Policy()[:4] != "rp1-" {
		t.Errorf("policy %q", a.Policy())
	}
}

// TestExplainJSON_Concurrent: pooled walkers, sub-walkers for JSON held in
// strings and path segments are never shared between calls.
func TestExplainJSON_Concurrent(t *testing.T) {
	r := mustNew(t, Config{Packs: allPacks, Paths: []PathRule{{Path: "*.password"}}})
	in := []byte(`{"a":{"to":["dana@example.com"],"password":"x"},"s":"{\"k\":{\"m\":\"b@c.de\",\"cc\":{\"c1\":\"4111\",\"c2\":\"1111\",\"c3\":\"1111\",\"c4\":\"1111\"}}}"}`)
	want, wantHits, err := r.ExplainJSON(nil, in, "arguments", nil)
	if err != nil || len(wantHits) != 7 {
		t.Fatalf("%v %d hits: %+v", err, len(wantHits), wantHits)
	}
	type result struct {
		out  []byte
		hits []Hit
	}
	done := make(chan result)
	for range 8 {
		go func() {
			var res result
			for range 200 {
				res.out, res.hits, _ = r.ExplainJSON(res.out[:0], in, "arguments", nil)
			}
			done <- res
		}()
	}
	for range 8 {
		res := <-done
		if !bytes.Equal(res.out, want) || fmt.Sprint(res.hits) != fmt.Sprint(wantHits) {
			t.Errorf("concurrent: %s %v\nwant %s %v", res.out, res.hits, want, wantHits)
		}
	}
}

func TestExplainString_FailClosed(t *testing.T) {
	r := mustNew(t, Config{})
	r.hook = func(string) { panic("scanner bug") }
	counts := map[string]int{}
	out, hits := r.ExplainString("mail dana@example.com", counts)
	if out != Unprocessable || len(hits) != 1 || hits[0].Type != TypeUnprocessable || counts[TypeUnprocessable] != 1 {
		t.Errorf("%q %+v %v", out, hits, counts)
	}
}

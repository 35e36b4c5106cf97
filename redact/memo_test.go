package redact

import (
	"fmt"
	"testing"
)

// TestJSON_Memo: a string remembered by a pooled walker gives the same
// output, context and paths as one seen for the first time, for each
// Redactor apart; a value kept under one key is still redacted under a
// key that gives it context, and a key holding PII every time.
func TestJSON_Memo(t *testing.T) {
	in := []byte(`{"note":"hunter2x","ref":"81 990888729","customer_name":"Dana Whitfield","password":"hunter2x",` +
		`"phone":"81 990888729","dana@example.com":1,"card":"4111 1111 1111 1111","a":{"customer_name":"x"}}`)
	rs := []*Redactor{mustNew(t, Config{}), mustNew(t, Config{Packs: []string{"names"}}),
		mustNew(t, Config{Packs: []string{}}), mustNew(t, Config{Packs: allPacks})}
	first := make([]string, len(rs))
	for round := range 4 {
		for i, r := range rs {
			out, hits, err := r.ExplainJSON(nil, in, "arguments", nil)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%s %+v", out, hits)
			if round == 0 {
				first[i] = got
				continue
			}
			if got != first[i] {
				t.Errorf("redactor %d, round %d:\n got %s\nwant %s", i, round, got, first[i])
			}
		}
	}
	for i, want := range []string{
		`{"note":"hunter2x","ref":"81 990888729","customer_name":"Dana Whitfield","password":"[REDACTED:PASSWORD]",` +
			`"phone":"[REDACTED:PHONE]","[REDACTED:EMAIL]":1,"card":"[REDACTED:CARD]","a":{"customer_name":"x"}}`,
		`{"note":"hunter2x","ref":"81 990888729","customer_name":"[REDACTED:NAME]","password":"hunter2x",` +
			`"phone":"81 990888729","dana@example.com":1,"card":"4111 1111 1111 1111","a":{"customer_name":"x"}}`,
	} {
		out, err := rs[i].JSON(nil, in, nil)
		if err != nil || string(out) != want {
			t.Errorf("redactor %d: got %s (%v), want %s", i, out, err, want)
		}
	}
}

// TestJSON_MemoMaskAsText: a string in which a rule matched is not
// remembered as one in which nothing was found, even when its replacement
// reads as the text replaced (an agent writing a mask itself): the member
// is dropped, counted and explained every time.
func TestJSON_MemoMaskAsText(t *testing.T) {
	for _, act := range []string{"mask", "drop"} {
		r := mustNew(t, Config{Rules: []Rule{{Name: "tag", Pattern: `\[REDACTED:TAG\]`, Action: act}}})
		want := `{"a":"x[REDACTED:TAG]","x[REDACTED:TAG]":1,"b":1}`
		if act == "drop" {
			want = `{"b":1}`
		}
		in := []byte(`{"a":"x[REDACTED:TAG]","x[REDACTED:TAG]":1,"b":1}`)
		for round := range 3 {
			counts := map[string]int{}
			out, hits, err := r.ExplainJSON(nil, in, "", counts)
			if err != nil || string(out) != want || counts["TAG"] != 2 || len(hits) != 2 {
				t.Errorf("%s, round %d: got %s %v %d hits (%v), want %s and 2 TAG", act, round, out, counts, len(hits), err, want)
			}
		}
	}
}

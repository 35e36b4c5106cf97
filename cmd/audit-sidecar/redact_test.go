package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/redact"
)

func testRedactor(t *testing.T) *redact.Redactor {
	t.Helper()
	r, err := redact.New(redact.Config{Packs: []string{"core", "secrets"}, Paths: []redact.PathRule{{Path: "*.password"}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const redactInput = `{"type":"tool_call","arguments":{"to":"dana@example.com","user":{"password":"hunter2"}}}
call me at (415) 555-0132 or mail dana@example.com
not json {
`

func TestRedactLines(t *testing.T) {
	var out bytes.Buffer
	if err := redactLines(strings.NewReader(redactInput), &out, testRedactor(t), false); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"tool_call","arguments":{"to":"[REDACTED:EMAIL]","user":{"password":"[REDACTED:PASSWORD]"}}}
call me at [REDACTED:PHONE] or mail [REDACTED:EMAIL]
not json {
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestRedactLines_Explain(t *testing.T) {
	var out bytes.Buffer
	if err := redactLines(strings.NewReader(redactInput), &out, testRedactor(t), true); err != nil {
		t.Fatal(err)
	}
	want := `{"line":1,"rule":"builtin:EMAIL","type":"EMAIL","action":"mask","path":"arguments.to","start":0,"end":16}
{"line":1,"rule":"path:*.password","type":"PASSWORD","action":"mask","path":"arguments.user.password","start":0,"end":9}
{"line":2,"rule":"builtin:PHONE","type":"PHONE","action":"mask","start":11,"end":25}
{"line":2,"rule":"builtin:EMAIL","type":"EMAIL","action":"mask","start":34,"end":50}
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	for _, secret := range []string{"dana@", "hunter2", "555-0132"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("--explain printed %q", secret)
		}
	}
}

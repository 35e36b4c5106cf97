package parse

import (
	"strings"
	"testing"
)

func TestIdentities_Join(t *testing.T) {
	ids := NewIdentities()
	for _, l := range []string{
		`{"ts":"2026-11-26T10:00:59Z","request_id":"req-7","tenant_id":"acme","subject":"u-17","path":"/v1/chat"}`,
		`{"request_id":"req-9","user":"u-2","tenant":"globex"}`,
		`{"request_id":"req-0"}`,
		`not json`,
	} {
		ids.Add([]byte(l))
	}
	if _, _, ok := ids.Lookup("req-0"); ok {
		t.Error("a request without identity was stored")
	}
	mk, err := New(Config{Format: "fipsagents", Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	rs := parseAll(mk(), readLines(t, "testdata/fipsagents/session.in")...)
	var joined, missing int
	for _, r := range rs {
		switch {
		case strings.Contains(string(r.Detail), `"identity":"joined by request_id"`):
			joined++
			if r.User != "u-17" || r.Tenant != "acme" || !strings.Contains(string(r.Detail), `"request_id":"req-7"`) {
				t.Errorf("joined record: user %q tenant %q detail %s", r.User, r.Tenant, r.Detail)
			}
		case strings.Contains(string(r.Detail), `"identity":"request_id not found`):
			missing++
			if r.User != "" {
				t.Errorf("user %q without a join", r.User)
			}
		}
	}
	if joined != 3 || missing != 1 {
		t.Errorf("%d records joined, %d not found; want 3 and 1", joined, missing)
	}
}

func TestIdentities_Bounded(t *testing.T) {
	ids := NewIdentities()
	for i := range MaxIdentities + 5 {
		ids.Add([]byte(`{"request_id":"r` + itoa(i) + `","subject":"u"}`))
	}
	if _, _, ok := ids.Lookup("r0"); ok {
		t.Error("the oldest request was not forgotten")
	}
	if _, _, ok := ids.Lookup("r" + itoa(MaxIdentities+4)); !ok {
		t.Error("the newest request is missing")
	}
	if n := len(ids.t.m); n != MaxIdentities {
		t.Errorf("%d entries", n)
	}
}

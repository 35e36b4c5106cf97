package e2e

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// queryIndexNames returns the query indexes the store at path has.
func queryIndexNames(t *testing.T, path string) []string {
	t.Helper()
	db := openDB(t, path)
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('audit_records_user', 'audit_records_session') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// run builds the query indexes sinks[].query_indexes names and drops the
// others, at each start; /v1/audit answers user and session searches the
// same with each set, a tenant's token only with its tenant's records.
func TestE2E_QueryIndexes(t *testing.T) {
	t.Parallel()
	const total = 300
	e := newEnv(t)
	events := make([]httpEvent, total)
	var b strings.Builder
	for n := range events {
		events[n] = newHTTPEvent(n)
		b.WriteString(events[n].line())
	}
	appendLines(t, e.logPath, b.String())
	for run, tc := range []struct{ yaml, want []string }{
		{[]string{"user", "session"}, []string{"audit_records_session", "audit_records_user"}},
		{[]string{"session"}, []string{"audit_records_session"}},
		{nil, nil},
		{[]string{"user"}, []string{"audit_records_user"}},
	} {
		sinks := fmt.Sprintf("  - name: local\n    type: sqlite\n    path: %s\n", e.dbPath)
		if tc.yaml != nil {
			sinks += fmt.Sprintf("    query_indexes: [%s]\n", strings.Join(tc.yaml, ", "))
		}
		writeFile(t, e.cfgPath, []byte(e.configWithSink(sinks, "local", "")))
		if code, out, errOut := runCLI(t, "check-config", "--config", e.cfgPath); code != 0 {
			t.Fatalf("check-config: exit %d, %s %s", code, out, errOut)
		}
		p := e.start(t)
		addr := p.addr(t)
		if run == 0 {
			db := openDB(t, e.dbPath)
			waitForEvents(t, db, total, p)
			db.Close()
		}
		if got := queryIndexNames(t, e.dbPath); !slices.Equal(got, tc.want) {
			t.Errorf("query_indexes %v: the store has %v, want %v", tc.yaml, got, tc.want)
		}
		for _, q := range []struct {
			token string
			q     url.Values
			match func(h httpEvent) bool
		}{
			{e.adminToken, url.Values{"user": {"u-2"}}, func(h httpEvent) bool { return h.user == "u-2" }},
			{e.adminToken, url.Values{"session": {"s-4"}}, func(h httpEvent) bool { return h.sess == "s-4" }},
			{e.adminToken, url.Values{"user": {"u-1"}, "session": {"s-6"}}, func(h httpEvent) bool { return h.user == "u-1" && h.sess == "s-6" }},
			{e.acmeToken, url.Values{"user": {"u-3"}}, func(h httpEvent) bool { return h.tenant == "acme" && h.user == "u-3" }},
			{e.acmeToken, url.Values{"session": {"s-2"}}, func(h httpEvent) bool { return h.tenant == "acme" && h.sess == "s-2" }},
		} {
			var want, got []int
			for _, h := range events {
				if q.match(h) {
					want = append(want, h.n)
				}
			}
			for _, r := range pageAll(t, addr, q.token, q.q, 7) {
				if n, ok := r.n(); ok {
					got = append(got, n)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("query_indexes %v, %v: %v, want %v", tc.yaml, q.q, got, want)
			}
		}
		p.stop(t)
	}
	// check-config names the key of a bad value, and run refuses it.
	for _, tc := range []struct{ value, want string }{
		{"[user, tool]", `sinks[0].query_indexes[1]: "tool" is not one of [user session]`},
		{"[session, session]", `sinks[0].query_indexes[1]: "session" given twice`},
		{"user", "sinks[0].query_indexes: cannot unmarshal"},
	} {
		sinks := fmt.Sprintf("  - name: local\n    type: sqlite\n    path: %s\n    query_indexes: %s\n", e.dbPath, tc.value)
		writeFile(t, e.cfgPath, []byte(e.configWithSink(sinks, "local", "")))
		for _, cmd := range []string{"check-config", "run"} {
			code, _, errOut := runCLI(t, cmd, "--config", e.cfgPath)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("%s with query_indexes %s: exit %d, stderr %q, want it to name %q", cmd, tc.value, code, errOut, tc.want)
			}
		}
	}
}

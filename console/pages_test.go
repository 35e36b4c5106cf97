package console

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestConsole_Headers: every response of the console, signed in or not,
// errors and redirects included, carries the strict CSP and the other
// headers.
func TestConsole_Headers(t *testing.T) {
	e := newEnv(t, 6, false)
	anon := e.client(t)
	admin := e.signedIn(t, adminToken)
	for _, tc := range []struct {
		c      *http.Client
		method string
		path   string
	}{
		{anon, http.MethodGet, "/console/signin"},
		{anon, http.MethodGet, "/console/search"},
		{anon, http.MethodGet, "/console/nope"},
		{anon, http.MethodPost, "/console/signin"},
		{anon, http.MethodGet, "/console/static/console.css"},
		{admin, http.MethodGet, "/console/"},
		{admin, http.MethodGet, "/console/search"},
		{admin, http.MethodGet, "/console/search?limit=0"},
		{admin, http.MethodGet, "/console/record?chain=agent-a&seq=1&ts=2026-03-04T09:00:00Z"},
		{admin, http.MethodGet, "/console/record?chain=agent-a&seq=99&ts=2026-03-04T09:00:00Z"},
		{admin, http.MethodDelete, "/console/search"},
	} {
		r := send(t, tc.c, tc.method, e.srv.URL+tc.path, nil, nil)
		h := r.header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s %s (%d): CSP %q lacks %q", tc.method, tc.path, r.code, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s %s: CSP %q allows unsafe sources", tc.method, tc.path, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if h.Get(k) != v {
				t.Errorf("%s %s (%d): %s %q, want %q", tc.method, tc.path, r.code, k, h.Get(k), v)
			}
		}
		if strings.Contains(r.body, "<script") || strings.Contains(r.body, " style=") {
			t.Errorf("%s %s: inline script or style in the page", tc.method, tc.path)
		}
	}
}

var rawBlock = regexp.MustCompile(`(?s)<pre class="raw">(.*?)</pre>`)

// TestConsole_Record: a record's page names what was redacted and where,
// never a value, and shows the stored JSON with its MAC exactly as the
// API serves it.
func TestConsole_Record(t *testing.T) {
	e := newEnv(t, 6, false)
	c := e.signedIn(t, adminToken)
	search := send(t, c, http.MethodGet, e.srv.URL+"/console/search?chain=agent-b", nil, nil)
	m := recordLink.FindStringSubmatch(search.body)
	if m == nil {
		t.Fatalf("no record link in the search page:\n%s", search.body)
	}
	r := send(t, c, http.MethodGet, e.srv.URL+html.UnescapeString(m[1]), nil, nil)
	if r.code != http.StatusOK {
		t.Fatalf("record: %d\n%s", r.code, r.body)
	}
	text := html.UnescapeString(r.body)
	for _, want := range []string{"EMAIL replaced at arguments.email (rule builtin:EMAIL)", "rp1-0123456789abcdef", "agent-b", "mail.send", "The story of this session"} {
		if !strings.Contains(text, want) {
			t.Errorf("the record page does not show %q", want)
		}
	}
	raw := rawBlock.FindStringSubmatch(r.body)
	if raw == nil {
		t.Fatal("no raw JSON block")
	}
	got := html.UnescapeString(raw[1])

	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/audit?chain=agent-b&limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var page struct{ Records []json.RawMessage }
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil || len(page.Records) != 1 {
		t.Fatalf("API page: %v", err)
	}
	if got != string(page.Records[0]) {
		t.Errorf("raw JSON\n%s\nwant what /v1/audit serves\n%s", got, page.Records[0])
	}
	if !strings.Contains(got, `"mac":"`) {
		t.Error("raw JSON without its MAC")
	}

	// Bad or foreign coordinates are "not found", never a store error.
	for _, q := range []url.Values{
		{"chain": {"agent-b"}, "seq": {"1"}, "ts": {"not-a-time"}},
		{"chain": {"agent-b"}, "seq": {"-1"}, "ts": {"2026-03-04T09:00:01Z"}},
		{"chain": {"agent-b"}, "seq": {"18446744073709551615"}, "ts": {"2026-03-04T09:00:01Z"}},
		{"chain": {""}, "seq": {"1"}, "ts": {"2026-03-04T09:00:01Z"}},
		{"chain": {"agent-b"}, "seq": {"2"}, "ts": {"2026-03-04T09:00:01Z"}},
	} {
		if r := send(t, c, http.MethodGet, e.srv.URL+"/console/record?"+q.Encode(), nil, nil); r.code != http.StatusNotFound {
			t.Errorf("record %v: %d, want 404", q, r.code)
		}
	}
}

// TestConsole_Search: the form's filters narrow the table, empty fields
// are ignored, a time without a zone is UTC, a bad value is named and
// the page says so without a store error.
func TestConsole_Search(t *testing.T) {
	e := newEnv(t, 12, false)
	c := e.signedIn(t, adminToken)
	get := func(q string) resp {
		t.Helper()
		return send(t, c, http.MethodGet, e.srv.URL+"/console/search?"+q, nil, nil)
	}
	count := func(body string) int { return len(recordLink.FindAllString(body, -1)) }

	all := get("")
	if all.code != http.StatusOK || count(all.body) != 12 {
		t.Fatalf("no filters: %d, %d records", all.code, count(all.body))
	}
	// As the form sends it: every field, most empty.
	r := get("from=2026-03-04T09:00:05&to=&action=tool_call&outcome=&user=&tenant=&session=&tool=&model=&call_id=&chain=&limit=")
	if r.code != http.StatusOK || count(r.body) != 2 { // seconds 6 and 9
		t.Errorf("from 09:00:05 UTC, tool_call: %d, %d records\n%s", r.code, count(r.body), r.body)
	}
	if !strings.Contains(r.body, `value="2026-03-04T09:00:05Z"`) {
		t.Error("the from field does not show the time taken, in UTC")
	}
	r = get("action=launch")
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "Not searched: action: must be one of") {
		t.Errorf("bad action: %d", r.code)
	}
	r = get("limit=5")
	m := nextLink.FindStringSubmatch(r.body)
	if count(r.body) != 5 || m == nil {
		t.Fatalf("limit 5: %d records, next %v", count(r.body), m)
	}
	r = get(strings.TrimPrefix(html.UnescapeString(m[1]), "/console/search?"))
	if r.code != http.StatusOK || count(r.body) != 5 || !strings.Contains(r.body, "a further page") {
		t.Errorf("next page: %d, %d records", r.code, count(r.body))
	}
}

// TestConsole_HostileQueries: a tenant token replaying a cursor issued
// to another token's wider search, a forged cursor, unknown or repeated
// parameters and impossible record coordinates are refused in words, and
// never show a record of another tenant.
func TestConsole_HostileQueries(t *testing.T) {
	e := newEnv(t, 30, false)
	admin := e.signedIn(t, adminToken)
	acme := e.signedIn(t, acmeToken)
	r := send(t, admin, http.MethodGet, e.srv.URL+"/console/search?limit=2", nil, nil)
	m := nextLink.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no next page for the admin")
	}
	next := html.UnescapeString(m[1])
	for _, tc := range []struct {
		path, says string
		code       int
	}{
		{next, "cursor: issued for different filters", http.StatusBadRequest},
		{"/console/search?cursor=eyJ2IjoxfQ", "cursor: malformed", http.StatusBadRequest},
		{"/console/search?cursor=" + strings.Repeat("A", 5000), "cursor: malformed", http.StatusBadRequest},
		{"/console/search?nope=1", "nope: unknown parameter", http.StatusBadRequest},
		{"/console/search?user=a&user=b", "user: repeated parameter", http.StatusBadRequest},
		{"/console/search?from=9999-12-31T23:59:59-23:59", "from: must be a time in the years 0001 to 9999 UTC", http.StatusBadRequest},
		{"/console/search?tenant=globex", "its own tenant", http.StatusForbidden},
		{"/console/record?chain=agent-a&seq=1&ts=10000-01-01T00:00:00Z", "no such record", http.StatusNotFound},
		{"/console/record?chain=agent-a&seq=1", "no such record", http.StatusNotFound},
	} {
		r := send(t, acme, http.MethodGet, e.srv.URL+tc.path, nil, nil)
		if r.code != tc.code || !strings.Contains(html.UnescapeString(r.body), tc.says) {
			t.Errorf("%.80s: %d, want %d saying %q", tc.path, r.code, tc.code, tc.says)
		}
		if strings.Contains(r.body, "<td>globex</td>") {
			t.Errorf("%.80s: a globex record is shown to the acme token", tc.path)
		}
	}
}

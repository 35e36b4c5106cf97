package console

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConsole_WithoutSessionRedirectsToSignin(t *testing.T) {
	e := newEnv(t, 6, false)
	c := e.client(t)
	for _, path := range []string{"/console/", "/console/search", "/console/search?action=tool_call", "/console/record?chain=agent-a&seq=1&ts=2026-03-04T09:00:00Z"} {
		r := send(t, c, http.MethodGet, e.srv.URL+path, nil, nil)
		if r.code != http.StatusSeeOther || r.header.Get("Location") != "/console/signin" {
			t.Errorf("%s: %d to %q, want 303 to /console/signin", path, r.code, r.header.Get("Location"))
		}
		if strings.Contains(r.body, "agent-a") {
			t.Errorf("%s: the redirect shows a record", path)
		}
	}
	r := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, map[string]string{"Cookie": sessionCookie + "=forged"})
	if r.code != http.StatusSeeOther {
		t.Errorf("forged session id: %d, want 303", r.code)
	}
}

func TestConsole_Signin_WrongTokenRefused(t *testing.T) {
	e := newEnv(t, 6, false)
	for _, tc := range []struct {
		name, token string
		code        int
		says        string
	}{
		{"unknown", "tok-not-configured-0000", http.StatusUnauthorized, "The token was not accepted."},
		{"empty", "", http.StatusUnauthorized, "The token was not accepted."},
		{"reader role", readerToken, http.StatusForbidden, "role may not read audit records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.client(t)
			r := e.signin(t, c, tc.token)
			if r.code != tc.code || !strings.Contains(html.UnescapeString(r.body), tc.says) {
				t.Fatalf("%d, want %d saying %q:\n%s", r.code, tc.code, tc.says, r.body)
			}
			if tc.token != "" && strings.Contains(r.body, tc.token) {
				t.Fatal("the page echoes the token")
			}
			u, _ := url.Parse(e.srv.URL + "/console/")
			for _, ck := range c.Jar.Cookies(u) {
				if ck.Name == sessionCookie {
					t.Fatal("a refused sign-in got a session cookie")
				}
			}
			if r := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil); r.code != http.StatusSeeOther {
				t.Fatalf("search after a refused sign-in: %d", r.code)
			}
		})
	}
}

// TestConsole_SessionCookie: the session cookie's flags, under TLS and
// not; the token is neither in it nor in any page; sign-out and expiry
// end the session.
func TestConsole_SessionCookie(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		e := newEnv(t, 6, tlsOn)
		c := e.client(t)
		r := e.signin(t, c, adminToken)
		if r.code != http.StatusSeeOther {
			t.Fatalf("tls %v: sign-in %d", tlsOn, r.code)
		}
		var got *http.Cookie
		for _, line := range r.header.Values("Set-Cookie") {
			ck, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatal(err)
			}
			if ck.Name == sessionCookie {
				got = ck
			}
		}
		if got == nil {
			t.Fatalf("tls %v: no session cookie in %q", tlsOn, r.header.Values("Set-Cookie"))
		}
		if !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Path != "/console/" ||
			got.Secure != tlsOn || got.MaxAge != int(DefaultSessionTTL/time.Second) {
			t.Errorf("tls %v: cookie %+v, want HttpOnly, SameSite=Strict, Path=/console/, Secure=%v, Max-Age 8h", tlsOn, got, tlsOn)
		}
		if strings.Contains(got.Value, adminToken) || len(got.Value) < 43 {
			t.Errorf("tls %v: session id of %d characters", tlsOn, len(got.Value))
		}
		page := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil)
		if page.code != http.StatusOK || strings.Contains(page.body, adminToken) {
			t.Fatalf("tls %v: search %d (or it shows the token)", tlsOn, page.code)
		}

		// A sign-in always makes a new session id, and ends the one the
		// browser held (one planted by someone else, say).
		u, _ := url.Parse(e.srv.URL + "/console/")
		planted := ""
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == sessionCookie {
				planted = ck.Value
			}
		}
		victim := e.client(t)
		form := send(t, victim, http.MethodGet, e.srv.URL+"/console/signin", nil, nil)
		victim.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: planted, Path: "/console/"}})
		r = send(t, victim, http.MethodPost, e.srv.URL+"/console/signin", url.Values{"csrf": {formCSRF(t, form.body)}, "token": {acmeToken}}, nil)
		if r.code != http.StatusSeeOther || strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), planted) {
			t.Fatalf("tls %v: sign-in over a held session: %d, cookies %q", tlsOn, r.code, r.header.Values("Set-Cookie"))
		}
		if r := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil); r.code != http.StatusSeeOther {
			t.Errorf("tls %v: the session id held before a sign-in still serves: %d", tlsOn, r.code)
		}
		c = victim

		// Expiry: the session ends with its TTL.
		e.clock.Add(DefaultSessionTTL)
		if r := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil); r.code != http.StatusSeeOther {
			t.Errorf("tls %v: a session past its TTL still served: %d", tlsOn, r.code)
		}
	}
}

func TestConsole_CSRF(t *testing.T) {
	e := newEnv(t, 6, false)

	// Sign-in: without the form's token, with another, or cross-site.
	c := e.client(t)
	form := send(t, c, http.MethodGet, e.srv.URL+"/console/signin", nil, nil)
	csrf := formCSRF(t, form.body)
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"no csrf", url.Values{"token": {adminToken}}, nil},
		{"other csrf", url.Values{"token": {adminToken}, "csrf": {csrf + "x"}}, nil},
		{"cross-site", url.Values{"token": {adminToken}, "csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"other origin", url.Values{"token": {adminToken}, "csrf": {csrf}}, map[string]string{"Origin": "https://evil.example"}},
	} {
		r := send(t, c, http.MethodPost, e.srv.URL+"/console/signin", tc.form, tc.headers)
		if r.code != http.StatusForbidden {
			t.Errorf("sign-in, %s: %d, want 403", tc.name, r.code)
		}
		if tc.name == "no csrf" || tc.name == "other csrf" {
			csrf = formCSRF(t, r.body) // the form comes again with a new token
		}
	}
	if r := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil); r.code != http.StatusSeeOther {
		t.Fatalf("signed in by a refused form: %d", r.code)
	}
	// A browser under Referrer-Policy no-referrer sends Origin: null with
	// the console's own form: the CSRF token decides.
	if r := send(t, c, http.MethodPost, e.srv.URL+"/console/signin", url.Values{"token": {adminToken}, "csrf": {csrf}},
		map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}); r.code != http.StatusSeeOther {
		t.Fatalf("sign-in from the console's own form: %d", r.code)
	}

	// Sign-out needs the session's token; a GET is not a sign-out.
	c = e.signedIn(t, adminToken)
	page := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil)
	sessionCSRF := formCSRF(t, page.body)
	if r := send(t, c, http.MethodGet, e.srv.URL+"/console/signout", nil, nil); r.code != http.StatusMethodNotAllowed {
		t.Errorf("GET signout: %d, want 405", r.code)
	}
	if r := send(t, c, http.MethodPost, e.srv.URL+"/console/signout", url.Values{"csrf": {"nope"}}, nil); r.code != http.StatusForbidden {
		t.Errorf("signout with a wrong csrf: %d, want 403", r.code)
	}
	if r := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil); r.code != http.StatusOK {
		t.Fatalf("a refused sign-out ended the session: %d", r.code)
	}
	if r := send(t, c, http.MethodPost, e.srv.URL+"/console/signout", url.Values{"csrf": {sessionCSRF}}, nil); r.code != http.StatusSeeOther {
		t.Errorf("signout: %d, want 303", r.code)
	}
	if r := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil); r.code != http.StatusSeeOther {
		t.Errorf("search after sign-out: %d, want 303", r.code)
	}
	// Only sign-in and sign-out take a POST.
	c = e.signedIn(t, adminToken)
	if r := send(t, c, http.MethodPost, e.srv.URL+"/console/search", url.Values{"x": {"1"}}, nil); r.code != http.StatusMethodNotAllowed {
		t.Errorf("POST search: %d, want 405", r.code)
	}
}

// TestConsole_TenantScope: a tenant token sees its tenant only, in the
// table, by name, and by a record's link; an admin token sees both.
func TestConsole_TenantScope(t *testing.T) {
	e := newEnv(t, 30, false)
	acme := e.signedIn(t, acmeToken)
	admin := e.signedIn(t, adminToken)

	tenants := func(c *http.Client, path string) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for path != "" {
			r := send(t, c, http.MethodGet, e.srv.URL+path, nil, nil)
			if r.code != http.StatusOK {
				t.Fatalf("%s: %d\n%s", path, r.code, r.body)
			}
			for _, m := range tenantCell.FindAllStringSubmatch(r.body, -1) {
				seen[m[1]]++
			}
			path = ""
			if m := nextLink.FindStringSubmatch(r.body); m != nil {
				path = html.UnescapeString(m[1])
			}
		}
		return seen
	}
	if got := tenants(acme, "/console/search?limit=4"); got["globex"] != 0 || got["acme"] != 20 {
		t.Errorf("acme token sees %v, want 20 acme records and no globex", got)
	}
	if got := tenants(admin, "/console/search?limit=7"); got["globex"] != 10 || got["acme"] != 20 {
		t.Errorf("admin token sees %v, want 20 acme and 10 globex", got)
	}
	r := send(t, acme, http.MethodGet, e.srv.URL+"/console/search?tenant=globex", nil, nil)
	if r.code != http.StatusForbidden || strings.Contains(r.body, "<td>globex</td>") {
		t.Errorf("acme asking for globex: %d", r.code)
	}
	for _, rec := range e.recs[:3] {
		q := url.Values{"chain": {rec.Chain}, "seq": {strconv.FormatUint(rec.Seq, 10)}, "ts": {rec.TS.Format(time.RFC3339Nano)}}
		r := send(t, acme, http.MethodGet, e.srv.URL+"/console/record?"+q.Encode(), nil, nil)
		if want := map[bool]int{true: http.StatusOK, false: http.StatusNotFound}[rec.Tenant == "acme"]; r.code != want {
			t.Errorf("acme opening a record of %s: %d, want %d", rec.Tenant, r.code, want)
		}
		if rec.Tenant != "acme" && strings.Contains(r.body, `"tenant":"globex"`) {
			t.Error("acme sees a globex record")
		}
	}
}

// TestConsole_MaxSessions: past MaxSessions a sign-in is refused, and
// served again once a session has expired.
func TestConsole_MaxSessions(t *testing.T) {
	e := newEnvWith(t, 3, false, func(c *Config) { c.MaxSessions = 2; c.SessionTTL = time.Hour })
	e.signedIn(t, adminToken)
	e.clock.Add(time.Minute)
	e.signedIn(t, acmeToken)
	r := e.signin(t, e.client(t), adminToken)
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "Too many people are signed in") {
		t.Fatalf("third session: %d, want 503", r.code)
	}
	e.clock.Add(time.Hour - time.Minute) // the first session expires
	e.signedIn(t, adminToken)
}

// TestConsole_MaxSessions_OneTokenCannotFillThem: signing in again and
// again with one token (a tenant's auditor dropping its cookies) must
// not use up MaxSessions and lock every other token out.
func TestConsole_MaxSessions_OneTokenCannotFillThem(t *testing.T) {
	e := newEnvWith(t, 3, false, func(c *Config) { c.MaxSessions = 4 })
	for range 8 {
		e.signin(t, e.client(t), acmeToken)
	}
	if r := e.signin(t, e.client(t), adminToken); r.code != http.StatusSeeOther {
		t.Fatalf("admin sign-in after the acme token signed in 8 times: %d, want 303", r.code)
	}
}

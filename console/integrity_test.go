package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/verify"
)

// TestIntegrity_RunShowsVerdict: an admin starts the verification with
// the page's button; the page then shows the verdict in plain words, what
// is protected (the HMAC key by fingerprint) and what is not, each chain,
// and when it ran; the nav links the page.
func TestIntegrity_RunShowsVerdict(t *testing.T) {
	e := newIntegrityEnv(t, 40, nil)
	c := e.signedIn(t, adminToken)
	page := send(t, c, http.MethodGet, e.srv.URL+"/console/integrity", nil, nil)
	for _, want := range []string{"No verification has run", `id="verify"`, `href="/console/integrity">Integrity</a>`, `<script src="/console/static/integrity.js">`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("before a run, the page lacks %q", want)
		}
	}
	if r := e.verifyNow(t, c); r.code != http.StatusSeeOther || r.header.Get("Location") != "/console/integrity" {
		t.Fatalf("POST: %d to %q", r.code, r.header.Get("Location"))
	}
	body := e.waitVerdict(t, c)
	fp := e.key.Fingerprint()
	for _, want := range []string{`data-verdict="valid"`, "Valid: no sign of tampering was found", "What is protected",
		"recomputed with the HMAC key " + e.key.ID + " (fingerprint " + fp, "What remains unprotected",
		"No public key was given, so no checkpoint signature was checked", "No checkpoint kept off the pod (a witness) was compared", "agent-a", "agent-b", "by ops", "80 records read", "Verify the store now"} {
		if !strings.Contains(body, want) {
			t.Errorf("the result lacks %q\n%s", want, body)
		}
	}
	js := send(t, c, http.MethodGet, e.srv.URL+"/console/static/integrity.js", nil, nil)
	if js.code != http.StatusOK || !strings.Contains(js.body, "/console/integrity/progress") {
		t.Errorf("integrity.js: %d", js.code)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
}

// TestIntegrity_InvalidStore: a record changed in the store makes the
// verdict invalid, its problem said in plain words.
func TestIntegrity_InvalidStore(t *testing.T) {
	e := newIntegrityEnv(t, 10, func(ig *Integrity) {
		st := ig.Store
		ig.Store = tamperedStore{Store: st, chain: "agent-b", seq: 4}
	})
	c := e.signedIn(t, adminToken)
	e.verifyNow(t, c)
	body := e.waitVerdict(t, c)
	for _, want := range []string{`data-verdict="invalid"`, "Invalid: the audit trail was altered or damaged",
		"Tampering or damage", "does not match its integrity code (MAC)"} {
		if !strings.Contains(body, want) {
			t.Errorf("the result lacks %q\n%s", want, body)
		}
	}
}

// tamperedStore changes one byte of one record's payload as it is read.
type tamperedStore struct {
	verify.Store
	chain string
	seq   uint64
}

func (s tamperedStore) Scan(ctx context.Context, chain string, fn func(sink.Row) error) error {
	return s.Store.Scan(ctx, chain, func(row sink.Row) error {
		if row.Chain == s.chain && row.Seq == s.seq {
			p := append([]byte(nil), row.Payload...)
			p[len(p)-3] ^= 1
			row.Payload = p
		}
		return fn(row)
	})
}

// gatedVerify is a Verify that waits for its gate to open, counting its
// calls; the progress it shows is the store's rows read so far.
type gatedVerify struct {
	calls   atomic.Int32
	entered chan struct{}
	gate    chan struct{}
	next    func(context.Context, verify.Store, bool) (*verify.Report, error)
}

func (g *gatedVerify) verify(ctx context.Context, st verify.Store, export bool) (*verify.Report, error) {
	g.calls.Add(1)
	// Read one chain first, so that the progress counts something.
	if !export {
		_ = st.Scan(ctx, "agent-a", func(sink.Row) error { return nil })
	}
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.next(ctx, st, export)
}

// TestIntegrity_OneRunAtATime: a second request while a verification
// runs joins it (one run, not two); meanwhile the page shows the progress
// (records checked of about the total), reloads itself without script,
// offers no second button, and the progress JSON says the same.
func TestIntegrity_OneRunAtATime(t *testing.T) {
	g := &gatedVerify{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	e := newIntegrityEnv(t, 30, func(ig *Integrity) { g.next = ig.Verify; ig.Verify = g.verify })
	t.Cleanup(func() {
		select {
		case <-g.gate:
		default:
			close(g.gate)
		}
	})
	c := e.signedIn(t, adminToken)
	if r := e.verifyNow(t, c); r.code != http.StatusSeeOther {
		t.Fatalf("first POST: %d", r.code)
	}
	<-g.entered
	other := e.signedIn(t, adminToken)
	page := send(t, other, http.MethodGet, e.srv.URL+"/console/integrity", nil, nil)
	for _, want := range []string{`id="progress"`, `<span id="checked">30</span> records checked of about <span id="total">60</span>`,
		`<meta http-equiv="refresh" content="3">`, "by ops"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("while running, the page lacks %q\n%s", want, page.body)
		}
	}
	if strings.Contains(page.body, `id="verify"`) {
		t.Error("while running, the page offers a second verification")
	}
	// A second request, from the API's point of view: with a CSRF token
	// of its own session (the form is not shown while running).
	id, _ := e.c.session(reqWithCookies(t, other, e.srv.URL))
	ss := e.c.sessions.get(id)
	if r := send(t, other, http.MethodPost, e.srv.URL+"/console/integrity", url.Values{"csrf": {ss.csrf}}, nil); r.code != http.StatusSeeOther {
		t.Fatalf("second POST: %d", r.code)
	}
	prog := send(t, c, http.MethodGet, e.srv.URL+"/console/integrity/progress", nil, nil)
	var p progressJSON
	if err := json.Unmarshal([]byte(prog.body), &p); err != nil || !p.Running || p.Checked != 30 || p.Total != 60 || p.Ended != "" {
		t.Errorf("progress %s (%v)", prog.body, err)
	}
	close(g.gate)
	body := e.waitVerdict(t, c)
	if n := g.calls.Load(); n != 1 {
		t.Errorf("%d verifications ran, want 1 (the second request joins)", n)
	}
	if !strings.Contains(body, `data-verdict="valid"`) {
		t.Errorf("after the run:\n%s", body)
	}
	prog = send(t, c, http.MethodGet, e.srv.URL+"/console/integrity/progress", nil, nil)
	if err := json.Unmarshal([]byte(prog.body), &p); err != nil || p.Running || p.Ended == "" {
		t.Errorf("progress after the run %s (%v)", prog.body, err)
	}
}

// reqWithCookies is a request carrying c's cookies for base.
func reqWithCookies(t *testing.T, c *http.Client, base string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, base+"/console/integrity", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range c.Jar.Cookies(r.URL) {
		r.AddCookie(ck)
	}
	return r
}

// TestIntegrity_TenantTokenRefused: a tenant's token may neither see the
// page, its progress or the bundle, nor start a verification (which would
// read every tenant's records); it is not linked for it, and no refusal
// tells a count or a chain.
func TestIntegrity_TenantTokenRefused(t *testing.T) {
	var calls atomic.Int32
	e := newIntegrityEnv(t, 10, func(ig *Integrity) {
		next := ig.Verify
		ig.Verify = func(ctx context.Context, st verify.Store, export bool) (*verify.Report, error) {
			calls.Add(1)
			return next(ctx, st, export)
		}
	})
	// An admin's result exists: the tenant must not see it either.
	admin := e.signedIn(t, adminToken)
	e.verifyNow(t, admin)
	e.waitVerdict(t, admin)
	calls.Store(0)

	c := e.signedIn(t, acmeToken)
	search := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil)
	if strings.Contains(search.body, "/console/integrity") {
		t.Error("the tenant's pages link the integrity page")
	}
	id, _ := e.c.session(reqWithCookies(t, c, e.srv.URL))
	csrf := e.c.sessions.get(id).csrf
	for _, r := range []struct{ method, path string }{
		{"GET", "/console/integrity"}, {"GET", "/console/integrity/progress"},
		{"GET", "/console/evidence.zip"}, {"POST", "/console/integrity"},
	} {
		var form url.Values
		if r.method == "POST" {
			form = url.Values{"csrf": {csrf}}
		}
		got := send(t, c, r.method, e.srv.URL+r.path, form, nil)
		if got.code != http.StatusForbidden || !strings.Contains(got.body, "need a token without a tenant scope") {
			t.Errorf("%s %s: %d\n%s", r.method, r.path, got.code, got.body)
		}
		for _, leak := range []string{"agent-a", "agent-b", "data-verdict", "records read", "PK\x03\x04"} {
			if strings.Contains(got.body, leak) {
				t.Errorf("%s %s shows %q to a tenant's token", r.method, r.path, leak)
			}
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("a tenant's token started %d verifications", n)
	}
}

// TestIntegrity_RefusedPOST: a POST without the session's CSRF token, or
// from another site, starts nothing; signed out, every path sends to
// sign-in; other methods get 405.
func TestIntegrity_RefusedPOST(t *testing.T) {
	var calls atomic.Int32
	e := newIntegrityEnv(t, 5, func(ig *Integrity) {
		next := ig.Verify
		ig.Verify = func(ctx context.Context, st verify.Store, export bool) (*verify.Report, error) {
			calls.Add(1)
			return next(ctx, st, export)
		}
	})
	c := e.signedIn(t, adminToken)
	page := send(t, c, http.MethodGet, e.srv.URL+"/console/integrity", nil, nil)
	csrf := formCSRF(t, page.body)
	for name, r := range map[string]struct {
		form    url.Values
		headers map[string]string
	}{
		"no csrf":         {url.Values{}, nil},
		"wrong csrf":      {url.Values{"csrf": {"x" + csrf}}, nil},
		"cross-site":      {url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		"another origin":  {url.Values{"csrf": {csrf}}, map[string]string{"Origin": "https://evil.example"}},
		"oversized field": {url.Values{"csrf": {csrf}, "pad": {strings.Repeat("a", maxFormBytes)}}, nil},
	} {
		if got := send(t, c, http.MethodPost, e.srv.URL+"/console/integrity", r.form, r.headers); got.code != http.StatusForbidden {
			t.Errorf("%s: %d", name, got.code)
		}
	}
	if cur, last := e.c.integrity.state(); cur != nil || last != nil || calls.Load() != 0 {
		t.Errorf("a refused POST started a verification (%d calls)", calls.Load())
	}
	out := e.client(t)
	for _, p := range []string{"/console/integrity", "/console/integrity/progress", "/console/evidence.zip"} {
		if got := send(t, out, http.MethodGet, e.srv.URL+p, nil, nil); got.code != http.StatusSeeOther || got.header.Get("Location") != "/console/signin" {
			t.Errorf("signed out, GET %s: %d to %q", p, got.code, got.header.Get("Location"))
		}
	}
	if got := send(t, out, http.MethodPost, e.srv.URL+"/console/integrity", url.Values{"csrf": {csrf}}, nil); got.code != http.StatusSeeOther {
		t.Errorf("signed out, POST: %d", got.code)
	}
	for _, m := range []string{http.MethodPut, http.MethodDelete} {
		if got := send(t, c, m, e.srv.URL+"/console/integrity", nil, nil); got.code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", m, got.code)
		}
	}
	if got := send(t, c, http.MethodPost, e.srv.URL+"/console/evidence.zip", url.Values{"csrf": {csrf}}, nil); got.code != http.StatusMethodNotAllowed {
		t.Errorf("POST evidence.zip: %d", got.code)
	}
	if got := send(t, c, http.MethodHead, e.srv.URL+"/console/evidence.zip", nil, nil); got.code != http.StatusMethodNotAllowed || got.header.Get("Allow") != "GET" {
		t.Errorf("HEAD evidence.zip: %d, Allow %q", got.code, got.header.Get("Allow"))
	}
}

// TestIntegrity_FailedRun: a verification that fails (a store that cannot
// be read) is shown as failed, its error kept for the log alone.
func TestIntegrity_FailedRun(t *testing.T) {
	e := newIntegrityEnv(t, 5, func(ig *Integrity) {
		ig.Verify = func(context.Context, verify.Store, bool) (*verify.Report, error) {
			return nil, errors.New("open /secret/place/hmac.key: permission denied")
		}
	})
	c := e.signedIn(t, adminToken)
	e.verifyNow(t, c)
	body := e.waitVerdict(t, c)
	if !strings.Contains(body, "could not run to its end") || strings.Contains(body, "/secret/place") || strings.Contains(body, "data-verdict") {
		t.Errorf("a failed run shows\n%s", body)
	}
	if !strings.Contains(body, `id="verify"`) {
		t.Error("after a failed run, the button to run again is missing")
	}
}

// TestIntegrity_NotConfigured: without Config.Integrity the paths are
// not found and no page links them.
func TestIntegrity_NotConfigured(t *testing.T) {
	e := newEnv(t, 5, false)
	c := e.signedIn(t, adminToken)
	for _, p := range []string{"/console/integrity", "/console/integrity/progress", "/console/evidence.zip"} {
		if got := send(t, c, http.MethodGet, e.srv.URL+p, nil, nil); got.code != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, got.code)
		}
	}
	if s := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil); strings.Contains(s.body, "/console/integrity") {
		t.Error("the search page links the integrity page")
	}
}

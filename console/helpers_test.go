package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

const (
	adminToken  = "tok-console-admin-5e1f0a"
	acmeToken   = "tok-console-acme-9c2d7b"
	readerToken = "tok-console-reader-3a4b"
)

// testBase is the time of the first record; every date of the tests is
// derived from it.
var testBase = time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func testTokens() []query.Token {
	return []query.Token{
		{Name: "ops", SHA256: hashOf(adminToken), Role: query.RoleAdmin},
		{Name: "acme-auditor", SHA256: hashOf(acmeToken), Role: query.RoleAdmin, Tenant: "acme"},
		{Name: "viewer", SHA256: hashOf(readerToken), Role: "reader"},
	}
}

// testRecords are n records of tenants acme and globex on two chains;
// each carries a redaction manifest.
func testRecords(n int) []*record.Record {
	seqs := map[string]uint64{}
	var recs []*record.Record
	for i := range n {
		chain := []string{"agent-a", "agent-b"}[i%2]
		seqs[chain]++
		recs = append(recs, &record.Record{
			V: record.Version, Chain: chain, Seq: seqs[chain],
			TS:         testBase.Add(time.Duration(i) * time.Second),
			IngestedAt: testBase.Add(time.Hour),
			Action:     []string{record.ActionToolCall, record.ActionToolResult, record.ActionModelCall}[i%3],
			User:       fmt.Sprintf("user-%d", i%4),
			Tenant:     []string{"acme", "acme", "globex"}[i%3],
			Session:    fmt.Sprintf("sess-%d", i%5),
			Tool:       "mail.send",
			Outcome:    "success",
			Arguments:  []byte(`{"email":"[EMAIL]","n":` + fmt.Sprint(i) + `}`),
			Manifest: &record.Manifest{Policy: "rp1-0123456789abcdef", Rules: []record.RuleHits{
				{Rule: "builtin:EMAIL", Type: "EMAIL", Count: 1, Paths: []string{"arguments.email"}},
			}},
			Kid:  "k1",
			Prev: fmt.Sprintf("%064x", i),
		})
	}
	return recs
}

// openStore opens a real SQLite sink in a temp dir holding recs.
func openStore(t testing.TB, recs []*record.Record) *sink.SQLite {
	t.Helper()
	s, err := sink.OpenSQLite(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	batch := make([]record.Sealed, len(recs))
	for i, r := range recs {
		payload := record.AppendCanonical(nil, r)
		batch[i] = record.Sealed{Chain: r.Chain, Seq: r.Seq, Payload: payload, MAC: sha256.Sum256(payload)}
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeClock is a clock tests move.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a console (and the API beside it, as the sidecar mounts them)
// over a real SQLite store.
type env struct {
	srv   *httptest.Server
	recs  []*record.Record
	clock *fakeClock
}

func newEnv(t *testing.T, n int, tlsOn bool) *env {
	t.Helper()
	return newEnvWith(t, n, tlsOn, nil)
}

// newEnvWith is newEnv with the console's config changed by set.
func newEnvWith(t *testing.T, n int, tlsOn bool, set func(*Config)) *env {
	t.Helper()
	return newEnvOf(t, testRecords(n), tlsOn, set)
}

// newEnvOf is a console over a store holding recs.
func newEnvOf(t *testing.T, recs []*record.Record, tlsOn bool, set func(*Config)) *env {
	t.Helper()
	reader, err := query.NewReader(query.Config{Store: openStore(t, recs), Tokens: testTokens(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: testBase}
	cfg := Config{Reader: reader, Now: clock.Now}
	if set != nil {
		set(&cfg)
	}
	ui, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := reader.Handler(true)
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, Prefix) {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(mux)
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &env{srv: srv, recs: recs, clock: clock}
}

// client is a browser-like client: a cookie jar, no redirects followed.
func (e *env) client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *e.srv.Client() // a copy: each client its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

type resp struct {
	code   int
	header http.Header
	body   string
}

func send(t *testing.T, c *http.Client, method, u string, form url.Values, headers map[string]string) resp {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, string(b)}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formCSRF is the CSRF token of the page's form.
func formCSRF(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// signin signs c in with token through the form and returns the response
// to the POST.
func (e *env) signin(t *testing.T, c *http.Client, token string) resp {
	t.Helper()
	form := send(t, c, http.MethodGet, e.srv.URL+"/console/signin", nil, nil)
	if form.code != http.StatusOK {
		t.Fatalf("sign-in form: %d", form.code)
	}
	return send(t, c, http.MethodPost, e.srv.URL+"/console/signin",
		url.Values{"csrf": {formCSRF(t, form.body)}, "token": {token}}, nil)
}

// signedIn returns a client signed in with token.
func (e *env) signedIn(t *testing.T, token string) *http.Client {
	t.Helper()
	c := e.client(t)
	if r := e.signin(t, c, token); r.code != http.StatusSeeOther || r.header.Get("Location") != "/console/search" {
		t.Fatalf("sign-in: %d to %q", r.code, r.header.Get("Location"))
	}
	return c
}

var recordLink = regexp.MustCompile(`href="(/console/record\?[^"]+)"`)
var nextLink = regexp.MustCompile(`href="([^"]+)" rel="next"`)
var tenantCell = regexp.MustCompile(`<td>(acme|globex)</td>`)

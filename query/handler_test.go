package query

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/sink"
)

func TestHandler_Unauthorized(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(10))})
	tests := []struct {
		name   string
		header []string
	}{
		{"no header", nil},
		{"wrong token", []string{"Bearer not-a-configured-token"}},
		{"basic", []string{"Basic " + adminToken}},
		{"basic with user", []string{"Basic b3BzOnRvay1hZG1pbg=="}},
		{"bearer without token", []string{"Bearer "}},
		{"scheme only", []string{"Bearer"}},
		{"token without scheme", []string{adminToken}},
		{"hash instead of token", []string{"Bearer " + hashOf(adminToken)}},
		{"two headers", []string{"Bearer " + adminToken, "Bearer " + adminToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/v1/audit", nil)
			for _, v := range tt.header {
				req.Header.Add("Authorization", v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			wantError(t, rec, http.StatusUnauthorized)
			if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate %q, want Bearer", got)
			}
		})
	}
}

func TestHandler_Authorized_SchemeCaseInsensitive(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(10))})
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		rec := do(h, http.MethodGet, "/v1/audit", map[string]string{"Authorization": scheme + " " + adminToken})
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d, want 200", scheme, rec.Code)
		}
	}
}

func TestHandler_Forbidden(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(10))})
	tests := []struct {
		name, target, token string
	}{
		{"reader role", "/v1/audit", readerToken},
		{"reader role with bad params", "/v1/audit?limit=5000", readerToken},
		{"tenant token asks other tenant", "/v1/audit?tenant=globex", acmeToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, get(h, tt.target, tt.token), http.StatusForbidden)
		})
	}
}

func TestHandler_MethodNotAllowed(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(nil), Metrics: http.NotFoundHandler()})
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead} {
		for _, path := range []string{"/v1/audit", "/healthz", "/readyz", "/metrics"} {
			rec := do(h, method, path, map[string]string{"Authorization": bearer(adminToken)})
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d, want 405", method, path, rec.Code)
			}
			if got := rec.Header().Get("Allow"); got != http.MethodGet {
				t.Errorf("%s %s: Allow %q, want GET", method, path, got)
			}
		}
	}
	wantError(t, do(h, http.MethodPost, "/v1/audit", nil), http.StatusMethodNotAllowed)
}

func TestHandler_NotFound(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(nil)})
	for _, path := range []string{"/", "/v1/audit/", "/v1/audits", "/metrics"} {
		wantError(t, get(h, path, adminToken), http.StatusNotFound)
	}
}

func TestHandler_Healthz(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(nil), Ready: func() error { return errors.New("spool full") }})
	rec := get(h, "/healthz", "")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", rec.Code, rec.Body)
	}
}

func TestHandler_Readyz(t *testing.T) {
	tests := []struct {
		name       string
		ready      func() error
		wantStatus int
		wantBody   string
	}{
		{"nil func", nil, http.StatusOK, `{"status":"ready"}`},
		{"ready", func() error { return nil }, http.StatusOK, `{"status":"ready"}`},
		{"not ready", func() error { return errors.New("spool full") }, http.StatusServiceUnavailable,
			`{"reason":"spool full","status":"not ready"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, Config{Store: newFakeStore(nil), Ready: tt.ready})
			rec := get(h, "/readyz", "")
			if rec.Code != tt.wantStatus || strings.TrimSpace(rec.Body.String()) != tt.wantBody {
				t.Fatalf("readyz: %d %s, want %d %s", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestHandler_Metrics(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("audit_records_total 3\n"))
	})
	h := newTestHandler(t, Config{Store: newFakeStore(nil), Metrics: metrics})
	rec := get(h, "/metrics", "")
	if rec.Code != http.StatusOK || rec.Body.String() != "audit_records_total 3\n" {
		t.Fatalf("metrics: %d %q", rec.Code, rec.Body)
	}
}

// TestHandler_InternalError_NoInternals fails the store before the first
// record of the page is written: a clean 500 that says nothing of why.
func TestHandler_InternalError_NoInternals(t *testing.T) {
	badMAC := newFakeStore(genRecords(3))
	badMAC.rows[0].MAC = badMAC.rows[0].MAC[:31]
	leaky := newFakeStore(genRecords(10))
	leaky.rows = slices.DeleteFunc(leaky.rows, func(r sink.Row) bool { return r.Tenant == "acme" })
	tests := []struct {
		name  string
		store Store
		token string
	}{
		{"store error", &fakeStore{err: errDiskOnFire}, adminToken},
		{"bad mac", badMAC, adminToken},
		{"row outside tenant", leakyStore{leaky}, acmeToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, Config{Store: tt.store})
			rec := get(h, "/v1/audit", tt.token)
			if msg := wantError(t, rec, http.StatusInternalServerError); msg != "internal error" {
				t.Fatalf("error %q, want internal error", msg)
			}
		})
	}
}

// TestHandler_FailureMidPage_CutsTheResponse fails the store after some
// records of the page were written, so after the 200 went out: the
// response is cut (no end of the chunked body), so that no client takes
// the part it got for a whole page, and it never holds a row of another
// tenant.
func TestHandler_FailureMidPage_CutsTheResponse(t *testing.T) {
	badMAC := newFakeStore(genRecords(300))
	badMAC.rows[150].MAC = badMAC.rows[150].MAC[:31]
	failing := &failAfterStore{s: newFakeStore(genRecords(300)), after: 150}
	leaky := newFakeStore(genRecords(600)) // 200 rows of acme, then globex
	acme := slices.DeleteFunc(slices.Clone(leaky.rows), func(r sink.Row) bool { return r.Tenant != "acme" })
	globex := slices.DeleteFunc(slices.Clone(leaky.rows), func(r sink.Row) bool { return r.Tenant != "globex" })
	leaky.rows = append(acme[:200], globex...)
	tests := []struct {
		name  string
		store Store
		token string
	}{
		{"store error", failing, adminToken},
		{"bad mac", badMAC, adminToken},
		{"row outside tenant", leakyStore{leaky}, acmeToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(newTestHandler(t, Config{Store: tt.store}))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/audit?limit=1000", nil)
			req.Header.Set("Authorization", bearer(tt.token))
			resp, err := srv.Client().Do(req)
			if err != nil {
				return // cut before the status line
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatalf("status %d, body of %d bytes read to its end; want the response cut", resp.StatusCode, len(body))
			}
			if json.Valid(body) {
				t.Fatalf("the cut body is valid JSON")
			}
			if tt.token == acmeToken && strings.Contains(string(body), `"tenant":"globex"`) {
				t.Fatalf("the body holds a record of another tenant")
			}
		})
	}
}

// failAfterStore yields after rows of s, then fails.
type failAfterStore struct {
	s     *fakeStore
	after int
}

func (f *failAfterStore) SearchEach(ctx context.Context, q sink.Filter, fn func(*sink.Row) error) error {
	n := 0
	err := f.s.SearchEach(ctx, q, func(r *sink.Row) error {
		if n++; n > f.after {
			return errDiskOnFire
		}
		return fn(r)
	})
	return err
}

// leakyStore ignores the tenant filter, as a buggy sink might.
type leakyStore struct{ s *fakeStore }

func (l leakyStore) SearchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error {
	f.Tenant = ""
	return l.s.SearchEach(ctx, f, fn)
}

func TestHandler_ClientGone(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(3))})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/v1/audit", nil).WithContext(ctx)
	req.Header.Set("Authorization", bearer(adminToken))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantError(t, rec, http.StatusServiceUnavailable)
}

func TestNewHandler_Invalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no store", Config{}, []string{"store: required"}},
		{"bad hash", Config{Store: newFakeStore(nil), Tokens: []Token{{Name: "a", SHA256: "abc", Role: RoleAdmin}}},
			[]string{"tokens[0].sha256: must be 64 hex characters"}},
		{"no role", Config{Store: newFakeStore(nil), Tokens: []Token{{Name: "a", SHA256: hashOf("x")}}},
			[]string{"tokens[0].role: required"}},
		{"duplicate hash", Config{Store: newFakeStore(nil), Tokens: []Token{
			{Name: "a", SHA256: hashOf("x"), Role: RoleAdmin}, {Name: "b", SHA256: hashOf("x"), Role: "reader"}}},
			[]string{"tokens[1].sha256: duplicates tokens[0].sha256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHandler(tt.cfg)
			if err == nil {
				t.Fatal("NewHandler succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), hashOf("x")) {
				t.Errorf("error %q contains a hash", err)
			}
		})
	}
}

func TestHandler_NoTokens(t *testing.T) {
	h, err := NewHandler(Config{Store: newFakeStore(nil)})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, get(h, "/v1/audit", adminToken), http.StatusUnauthorized)
	if rec := get(h, "/healthz", ""); rec.Code != http.StatusOK {
		t.Fatalf("healthz %d", rec.Code)
	}
}

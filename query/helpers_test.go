package query

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
)

const (
	adminToken  = "tok-admin-7f3c9e1d2b"
	acmeToken   = "tok-acme-4a8b6c0e9f"
	readerToken = "tok-reader-1d2e3f4a5b"
)

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func testTokens() []Token {
	return []Token{
		{Name: "ops", SHA256: hashOf(adminToken), Role: RoleAdmin},
		{Name: "acme-auditor", SHA256: hashOf(acmeToken), Role: RoleAdmin, Tenant: "acme"},
		{Name: "viewer", SHA256: hashOf(readerToken), Role: "reader"},
	}
}

func newTestHandler(t testing.TB, cfg Config) http.Handler {
	t.Helper()
	if cfg.Tokens == nil {
		cfg.Tokens = testTokens()
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return h
}

// get performs a GET with a bearer token ("" for none).
func get(h http.Handler, target, token string) *httptest.ResponseRecorder {
	return do(h, http.MethodGet, target, map[string]string{"Authorization": bearer(token)})
}

func bearer(token string) string {
	if token == "" {
		return ""
	}
	return "Bearer " + token
}

func do(h http.Handler, method, target string, headers map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type pageBody struct {
	Records    []json.RawMessage `json:"records"`
	NextCursor *string           `json:"next_cursor"`
}

type served struct {
	Chain  string `json:"chain"`
	Seq    uint64 `json:"seq"`
	TS     string `json:"ts"`
	Tenant string `json:"tenant"`
	MAC    string `json:"mac"`
}

func decodePage(t *testing.T, rec *httptest.ResponseRecorder) (pageBody, []served) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", rec.Code, rec.Body)
	}
	var p pageBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode page: %v", err)
	}
	if p.Records == nil {
		t.Fatalf("records is null, want an array: %s", rec.Body)
	}
	out := make([]served, len(p.Records))
	for i, raw := range p.Records {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatalf("decode record: %v", err)
		}
	}
	return p, out
}

// wantError checks a JSON error response and returns its message.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not JSON: %q", rec.Body)
	}
	msg, ok := body["error"].(string)
	if !ok || len(body) != 1 || strings.TrimSpace(msg) == "" {
		t.Fatalf("error body %s, want {\"error\":\"...\"}", rec.Body)
	}
	return msg
}

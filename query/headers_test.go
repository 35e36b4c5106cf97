package query

import (
	"net/http"
	"strings"
	"testing"
)

// TestHandler_EveryResponseNosniff checks the headers of every kind of
// response, errors included: X-Content-Type-Options: nosniff, so that a
// browser never reads a record's text as HTML or script, a JSON content
// type (NDJSON for the export), and no caching of audit data.
func TestHandler_EveryResponseNosniff(t *testing.T) {
	store := newFakeStore(genRecords(30))
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("audit_records_total 3\n"))
	})
	h := newTestHandler(t, Config{Store: store, Metrics: metrics, Ready: func() error { return errDiskOnFire }})
	failing := newTestHandler(t, Config{Store: &fakeStore{err: errDiskOnFire}})
	probes := NewProbeHandler(nil, metrics)
	api, err := NewAPIHandler(Config{Store: store, Tokens: testTokens()})
	if err != nil {
		t.Fatal(err)
	}
	const ndjson, js = "application/x-ndjson", "application/json"
	tests := []struct {
		name        string
		h           http.Handler
		method      string
		target      string
		token       string
		status      int
		contentType string
	}{
		{"page", h, http.MethodGet, "/v1/audit?limit=5", adminToken, http.StatusOK, js},
		{"export", h, http.MethodGet, "/v1/audit?format=ndjson", adminToken, http.StatusOK, ndjson},
		{"export of a chain", h, http.MethodGet, "/v1/audit?format=ndjson&chain=chain-b", adminToken, http.StatusOK, ndjson},
		{"bad parameter", h, http.MethodGet, "/v1/audit?limit=0", adminToken, http.StatusBadRequest, js},
		{"bad export parameter", h, http.MethodGet, "/v1/audit?format=ndjson&tool=search", adminToken, http.StatusBadRequest, js},
		{"bad format", h, http.MethodGet, "/v1/audit?format=csv", adminToken, http.StatusBadRequest, js},
		{"no token", h, http.MethodGet, "/v1/audit", "", http.StatusUnauthorized, js},
		{"not admin", h, http.MethodGet, "/v1/audit", readerToken, http.StatusForbidden, js},
		{"tenant export", h, http.MethodGet, "/v1/audit?format=ndjson", acmeToken, http.StatusForbidden, js},
		{"unknown path", h, http.MethodGet, "/v2/audit", adminToken, http.StatusNotFound, js},
		{"post", h, http.MethodPost, "/v1/audit", adminToken, http.StatusMethodNotAllowed, js},
		{"store fails", failing, http.MethodGet, "/v1/audit", adminToken, http.StatusInternalServerError, js},
		{"healthz", h, http.MethodGet, "/healthz", "", http.StatusOK, js},
		{"readyz", h, http.MethodGet, "/readyz", "", http.StatusServiceUnavailable, js},
		{"metrics", h, http.MethodGet, "/metrics", "", http.StatusOK, "text/plain; version=0.0.4"},
		{"admin healthz", probes, http.MethodGet, "/healthz", "", http.StatusOK, js},
		{"admin metrics", probes, http.MethodGet, "/metrics", "", http.StatusOK, "text/plain; version=0.0.4"},
		{"admin unknown path", probes, http.MethodGet, "/v1/audit", adminToken, http.StatusNotFound, js},
		{"api without probes", api, http.MethodGet, "/healthz", "", http.StatusNotFound, js},
		{"api page", api, http.MethodGet, "/v1/audit?limit=2", adminToken, http.StatusOK, js},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(tt.h, tt.method, tt.target, map[string]string{"Authorization": bearer(tt.token)})
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %.200s", rec.Code, tt.status, rec.Body)
			}
			hd := rec.Header()
			if got := hd.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if got := hd.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if got := hd.Get("Cache-Control"); got != "no-store" && !strings.HasSuffix(tt.name, "metrics") {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
		})
	}
}

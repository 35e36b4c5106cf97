package query

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestProbeHandler_ServesProbesOnly(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("audit_records_total 3\n"))
	})
	h := NewProbeHandler(func() error { return errors.New("spool full") }, metrics)
	if rec := get(h, "/healthz", ""); rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", rec.Code, rec.Body)
	}
	if rec := get(h, "/readyz", ""); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "spool full") {
		t.Errorf("readyz: %d %s", rec.Code, rec.Body)
	}
	if rec := get(h, "/metrics", ""); rec.Code != http.StatusOK || rec.Body.String() != "audit_records_total 3\n" {
		t.Errorf("metrics: %d %q", rec.Code, rec.Body)
	}
	// No store and no tokens: the records are not there to be asked for.
	for _, token := range []string{"", adminToken} {
		wantError(t, get(h, "/v1/audit", token), http.StatusNotFound)
	}
	wantError(t, do(h, http.MethodPost, "/healthz", nil), http.StatusMethodNotAllowed)
	if rec := get(NewProbeHandler(nil, nil), "/readyz", ""); rec.Code != http.StatusOK {
		t.Errorf("readyz with a nil ready: %d", rec.Code)
	}
	wantError(t, get(NewProbeHandler(nil, nil), "/metrics", ""), http.StatusNotFound)
}

func TestAPIHandler_LeavesTheProbesOut(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("x 1\n")) })
	h, err := NewAPIHandler(Config{Store: newFakeStore(nil), Tokens: testTokens(), Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		rec := get(h, path, "")
		wantError(t, rec, http.StatusNotFound)
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", path)
		}
	}
	if rec := get(h, "/v1/audit", adminToken); rec.Code != http.StatusOK {
		t.Errorf("/v1/audit: %d %s", rec.Code, rec.Body)
	}
	wantError(t, get(h, "/v1/audit", ""), http.StatusUnauthorized)
	if _, err := NewAPIHandler(Config{}); err == nil {
		t.Error("NewAPIHandler without a store: no error")
	}
}

package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/server"
	"github.com/fips-agents/audit-sidecar/sink"
)

// TestAdminHandler_NosniffAndNoRedirect: every answer of the admin
// listener says nosniff, and a path that is not exactly a route is 404,
// never a redirect to its cleaned form.
func TestAdminHandler_NosniffAndNoRedirect(t *testing.T) {
	for _, withPProf := range []bool{false, true} {
		h := adminHandler(query.NewProbeHandler(nil, nil), withPProf)
		for target, want := range map[string]int{
			"/healthz": 200, "/readyz": 200, "//healthz": 404, "/healthz/": 404, "/./healthz": 404,
			"/x/../healthz": 404, "/debug/pprof/../../healthz": 404, "/debug/pprof//heap": 404,
			"/debug/pprof/": map[bool]int{false: 404, true: 200}[withPProf],
		} {
			req := httptest.NewRequest(http.MethodGet, "http://x/", nil)
			req.URL.Path = target
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want || rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Location") != "" {
				t.Errorf("pprof %v, %s: %d, nosniff %q, Location %q; want %d with nosniff", withPProf, target, rec.Code,
					rec.Header().Get("X-Content-Type-Options"), rec.Header().Get("Location"), want)
			}
		}
	}
}

func TestAdminTimeouts(t *testing.T) {
	got := adminTimeouts(server.Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: time.Minute, Idle: time.Minute})
	if got.ReadHeader != adminReadHeader || got.Read != 30*time.Second || got.Idle != time.Minute {
		t.Errorf("%+v", got)
	}
	if got := adminTimeouts(server.Timeouts{ReadHeader: time.Second}); got.ReadHeader != time.Second {
		t.Errorf("a shorter read_header is not kept: %v", got.ReadHeader)
	}
}

// TestServe_Console: with server.console the API listener serves the
// console under /console/ beside /v1/audit; without it /console/ is the
// API's 404.
func TestServe_Console(t *testing.T) {
	store, err := sink.OpenSQLite(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tokens := []query.Token{{Name: "ops", SHA256: strings.Repeat("ab", 32), Role: query.RoleAdmin}}
	for _, on := range []bool{false, true} {
		listen := "127.0.0.1:0"
		cfg := &config.Config{Server: config.Server{Listen: &listen, Console: on, MaxConnections: 16,
			Timeouts: config.Timeouts{ReadHeader: time.Second, Read: time.Second, Write: time.Second, Idle: time.Second}}}
		ls, key, err := serve(cfg, store, tokens, nil, nil, prometheus.NewRegistry(), zap.NewNop())
		if err != nil {
			t.Fatalf("console %v: %s: %v", on, key, err)
		}
		base := "http://" + ls.all[0].Addr().String()
		for path, want := range map[string]int{
			"/console/signin": map[bool]int{false: 404, true: 200}[on],
			"/v1/audit":       401,
		} {
			res, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			csp := res.Header.Get("Content-Security-Policy")
			if res.StatusCode != want || (on && path == "/console/signin") != (csp != "") {
				t.Errorf("console %v, %s: %d with CSP %q, want %d", on, path, res.StatusCode, csp, want)
			}
		}
		ls.shutdown(time.Second)
	}
}

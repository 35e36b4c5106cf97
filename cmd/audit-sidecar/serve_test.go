package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/server"
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

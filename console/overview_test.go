package console

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// overviewRecords are testRecords (one a second from testBase, tenants
// acme and globex) with approvals, a parse error, a gap, a checkpoint,
// and a redaction type that is markup and a bidirectional control.
func overviewRecords() []*record.Record {
	recs := testRecords(30)
	recs[3].Action, recs[3].Outcome = record.ActionApprovalRequested, "pending"
	recs[4].Action, recs[4].Outcome = record.ActionApprovalDenied, "denied"
	recs[5].Action, recs[5].Outcome = record.ActionApprovalGranted, "approved"
	recs[6].Action = record.ActionParseError
	recs[7].Action = record.ActionGap
	recs[9].Action, recs[9].Tenant = record.ActionCheckpoint, ""
	recs[10].Manifest.Rules = []record.RuleHits{{Rule: "rule:x", Type: "<script>alert(1)</script>\u202eSSN", Count: 4, Paths: []string{"arguments.x"}}}
	// An hour later: the chart has two hours with records.
	recs[29].TS = testBase.Add(time.Hour + 5*time.Minute)
	return recs
}

var figureTable = regexp.MustCompile(`(?s)<caption>Approvals in the window</caption>(.*?)</table>`)

func TestConsole_Overview(t *testing.T) {
	reg := prometheus.NewRegistry()
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "audit_sink_lag_records", Help: "lag"}, []string{"sink"})
	reg.MustRegister(lag)
	lag.WithLabelValues("local").Set(7)
	lag.WithLabelValues("<b>central</b>").Set(120)
	e := newEnvOf(t, overviewRecords(), false, func(c *Config) { c.Metrics = reg })
	e.clock.Add(3 * time.Hour)
	admin := e.signedIn(t, adminToken)
	r := send(t, admin, http.MethodGet, e.srv.URL+"/console/overview?hours=24", nil, nil)
	if r.code != http.StatusOK {
		t.Fatalf("overview: %d\n%s", r.code, r.body)
	}
	text := html.UnescapeString(r.body)
	for _, want := range []string{"Counted all 30 records of the window.", "From 2026-03-03 13:00 to 2026-03-04 13:00 UTC",
		"<svg class=\"chart\"", "2026-03-04 09:00 UTC: 29 records", "2026-03-04 10:00 UTC: 1 records",
		"The newest checkpoint record was made at 2026-03-04 09:00:09 UTC, 2h59m51s ago.",
		">local</text>", ">7</text>", ">120</text>", "Parse errors", "Gaps"} {
		if !strings.Contains(text, want) {
			t.Errorf("the overview does not say %q", want)
		}
	}
	m := figureTable.FindStringSubmatch(r.body)
	if m == nil || !strings.Contains(m[1], "Approvals requested</th><td class=\"num\">1<") || !strings.Contains(m[1], "Approvals denied</th><td class=\"num\">1<") {
		t.Errorf("the approvals table: %v", m)
	}
	// What agents and operators named stays text, in the charts too.
	if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<b>central") || strings.Contains(r.body, "\u202e") ||
		!strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;[U+202E]SSN") {
		t.Errorf("a hostile name is not shown as text:\n%s", r.body)
	}
	if strings.Contains(r.body, "style=") || strings.Contains(r.body, "<script") || strings.Contains(r.body, "http:") || strings.Contains(r.body, "https:") {
		t.Error("the overview has inline style, script or an external address, which the CSP forbids")
	}
	if r.header.Get("Content-Security-Policy") != csp {
		t.Error("no CSP")
	}

	// A tenant's token: its tenant's figures, none of the sidecar's.
	acme := e.signedIn(t, acmeToken)
	r = send(t, acme, http.MethodGet, e.srv.URL+"/console/overview?end=2026-03-04T10:30&hours=6", nil, nil)
	text = html.UnescapeString(r.body)
	acmeN := 0
	for _, rec := range overviewRecords() {
		if rec.Tenant == "acme" {
			acmeN++
		}
	}
	if r.code != http.StatusOK || !strings.Contains(text, fmt.Sprintf("Counted all %d records", acmeN)) ||
		!strings.Contains(text, "From 2026-03-04 05:00 to 2026-03-04 11:00 UTC") || !strings.Contains(text, "Not shown to a tenant's token") ||
		strings.Contains(text, ">local</text>") || strings.Contains(text, "checkpoint record was made") {
		t.Errorf("acme's overview: %d\n%s", r.code, text)
	}

	for _, q := range []string{"hours=5", "hours=-1", "hours=x", "end=yesterday", "end=10000-01-01T00:00:00Z", "end=0001-01-01T00:30:00Z&hours=24"} {
		if r := send(t, admin, http.MethodGet, e.srv.URL+"/console/overview?"+q, nil, nil); r.code != http.StatusBadRequest || !strings.Contains(r.body, `class="problem"`) {
			t.Errorf("overview?%s: %d, want 400 with the problem", q, r.code)
		}
	}
}

// TestConsole_OverviewWithoutPipeline: the console alone has no sink
// lag, and says so; a window without records says that too.
func TestConsole_OverviewWithoutPipeline(t *testing.T) {
	e := newEnvOf(t, overviewRecords(), false, nil)
	admin := e.signedIn(t, adminToken)
	r := send(t, admin, http.MethodGet, e.srv.URL+"/console/overview?end=2020-01-01T00:00", nil, nil)
	text := html.UnescapeString(r.body)
	for _, want := range []string{"Not available: this console runs apart from a sidecar's pipeline", "No records in this window.",
		"Counted all 0 records", "No checkpoint record among the counted records", "Nothing was redacted"} {
		if !strings.Contains(text, want) {
			t.Errorf("the overview does not say %q", want)
		}
	}
	if r := send(t, admin, http.MethodGet, e.srv.URL+"/console/search", nil, nil); !strings.Contains(r.body, `href="/console/overview"`) {
		t.Error("the navigation has no link to the overview")
	}
}

func TestOverview_CountedWords(t *testing.T) {
	if got := countedWords(sink.Counted{N: 12}, 100, "records"); got != "Counted all 12 records of the window." {
		t.Error(got)
	}
	got := countedWords(sink.Counted{N: 100, Oldest: "2026-03-04T09:00:00.000000000Z"}, 100, "records")
	if !strings.Contains(got, "more than 100 records: counted the newest 100, back to 2026-03-04T09:00:00.000000000Z") {
		t.Error(got)
	}
}

func TestNiceCeil(t *testing.T) {
	for n, want := range map[int64]int64{0: 1, 1: 1, 2: 2, 3: 5, 7: 10, 11: 20, 250: 500, 1001: 2000} {
		if got := niceCeil(n); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", n, got, want)
		}
	}
}

package console

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// hostile is agent-controlled text as it may reach a record: markup,
// attribute breakers, script URLs, a bidi override and invalid UTF-8.
const hostile = `"><script>alert(1)</script><img src=x onerror=alert(2)>javascript:alert(3)` + "\u202e" + `dnuofer` + "\xff"

var hrefAttr = regexp.MustCompile(`(?i)\b(href|src|action)="([^"]*)"`)

// hostileRecords are records of tenant acme whose agent-controlled
// strings are hostile, and one record of globex.
func hostileRecords() []*record.Record {
	var recs []*record.Record
	for i, action := range []string{record.ActionApprovalDenied, record.ActionToolCall, record.ActionModelCall} {
		recs = append(recs, &record.Record{V: record.Version, Chain: "agent-h", Seq: uint64(i + 1),
			TS: testBase.Add(time.Duration(i) * time.Second), IngestedAt: testBase.Add(time.Hour),
			Action: action, Tool: hostile, Outcome: "denied", Approver: hostile, Session: "javascript:alert(4)" + hostile,
			Tenant: "acme", User: hostile, Model: hostile, Agent: hostile, Trace: hostile,
			Arguments: []byte(`{"email":"[EMAIL]"}`),
			Detail:    []byte(`{"call_id":` + string(record.AppendString(nil, "javascript:alert(5)"+hostile)) + `}`),
			Manifest: &record.Manifest{Policy: hostile, Rules: []record.RuleHits{
				{Rule: hostile, Type: hostile, Count: 1, Paths: []string{hostile}},
			}},
			Kid: hostile, Prev: fmt.Sprintf("%064x", i)})
	}
	recs = append(recs, &record.Record{V: record.Version, Chain: "agent-g", Seq: 1, TS: testBase,
		IngestedAt: testBase.Add(time.Hour), Action: record.ActionToolCall, Tool: "globex-secret",
		Session: "javascript:alert(4)" + hostile, Tenant: "globex", Kid: "k1", Prev: fmt.Sprintf("%064x", 9)})
	return recs
}

// TestConsole_HostileRecordStrings: the strings an agent controls are
// text on every page (search, record, the stories by session and by call
// id), never markup, never a link's target; and a bidi control in them
// is shown, not obeyed, so that it cannot reorder the words after it
// ("denied" read as "refund").
func TestConsole_HostileRecordStrings(t *testing.T) {
	e := newEnvOf(t, hostileRecords(), false, nil)
	acme := e.signedIn(t, acmeToken)
	pages := []string{
		"/console/search?limit=10",
		"/console/search?" + url.Values{"session": {"javascript:alert(4)" + hostile}}.Encode(),
		"/console/story?" + url.Values{"session": {"javascript:alert(4)" + hostile}}.Encode(),
		"/console/story?" + url.Values{"call_id": {"javascript:alert(5)" + hostile}}.Encode(),
	}
	for seq := 1; seq <= 3; seq++ {
		pages = append(pages, "/console/record?"+url.Values{"chain": {"agent-h"}, "seq": {fmt.Sprint(seq)},
			"ts": {record.FormatTime(testBase.Add(time.Duration(seq-1) * time.Second))}}.Encode())
	}
	for _, p := range pages {
		r := send(t, acme, http.MethodGet, e.srv.URL+p, nil, nil)
		if r.code != http.StatusOK {
			t.Fatalf("%.60q: %d\n%s", p, r.code, r.body)
		}
		low := strings.ToLower(r.body)
		for _, bad := range []string{"<script", "<img", "globex-secret"} {
			if strings.Contains(low, bad) {
				t.Errorf("%.60q: the page contains %q", p, bad)
			}
		}
		for _, m := range hrefAttr.FindAllStringSubmatch(r.body, -1) {
			if u := html.UnescapeString(m[2]); !strings.HasPrefix(u, "/console/") {
				t.Errorf("%.60q: %s=%q points outside the console", p, m[1], u)
			}
		}
		if strings.ContainsAny(r.body, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c") {
			t.Errorf("%.60q: a bidi control is in the page as is", p)
		}
		if !strings.Contains(r.body, `"&gt;&lt;script&gt;`) && !strings.Contains(r.body, `&#34;&gt;&lt;script&gt;`) {
			t.Errorf("%.60q: the hostile text is not shown escaped", p)
		}
	}
}

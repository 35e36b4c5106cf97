package console

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// traceRecords is one trace of tenant acme across two sessions and two
// chains (the planner's agent asks, the executor's runs): call k1 is
// denied on agent-a and its tool runs on agent-b; call k2 is approved
// and runs. A globex record reuses the trace id, and a record of acme
// has a hostile trace id.
func traceRecords() []*record.Record {
	type ev struct{ chain, action, tool, outcome, approver, call, session, tenant, trace string }
	const tr = "4bf92f3577b34da6a3ce929d0e0e4736"
	evs := []ev{
		{"agent-a", record.ActionModelCall, "", "success", "", "", "s-plan", "acme", tr},
		{"agent-a", record.ActionApprovalRequested, "payments.refund", "pending", "", "k1", "s-plan", "acme", tr},
		{"agent-a", record.ActionApprovalDenied, "payments.refund", "denied", "maria", "k1", "s-plan", "acme", tr},
		{"agent-b", record.ActionToolCall, "payments.refund", "success", "", "k1", "s-exec", "acme", tr},
		{"agent-a", record.ActionApprovalRequested, "mail.send", "pending", "", "k2", "s-plan", "acme", tr},
		{"agent-a", record.ActionApprovalGranted, "mail.send", "approved", "omar", "k2", "s-plan", "acme", tr},
		{"agent-b", record.ActionToolResult, "mail.send", "success", "", "k2", "s-exec", "acme", tr},
		{"agent-b", record.ActionToolCall, "search", "success", "", "g1", "s-g", "globex", tr},
		{"agent-b", record.ActionModelCall, "", "success", "", "", "s-other", "acme", "other-trace"},
		{"agent-b", record.ActionToolCall, "x", "success", "", "", "s-h", "acme", "<script>alert(1)</script>\u202eevil"},
	}
	seqs := map[string]uint64{}
	var recs []*record.Record
	for i, e := range evs {
		seqs[e.chain]++
		r := &record.Record{V: record.Version, Chain: e.chain, Seq: seqs[e.chain],
			TS: testBase.Add(time.Duration(i) * time.Second), IngestedAt: testBase.Add(time.Hour),
			Action: e.action, Tool: e.tool, Outcome: e.outcome, Approver: e.approver, Session: e.session,
			Tenant: e.tenant, Trace: e.trace, User: "u-1", Model: "granite-3.3-8b", Kid: "k1", Prev: fmt.Sprintf("%064x", i)}
		if e.call != "" {
			r.Detail = []byte(`{"call_id":"` + e.call + `"}`)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestConsole_TraceStory: the story of a trace holds its records of the
// reader's tenant across sessions and chains, in order: approval
// requested, denied, and the tool that ran anyway on another chain,
// flagged as such; granted, then the result. Another tenant's record of
// the same trace id is not in it.
func TestConsole_TraceStory(t *testing.T) {
	e := newEnvOf(t, traceRecords(), false, nil)
	acme := e.signedIn(t, acmeToken)
	r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?trace=4bf92f3577b34da6a3ce929d0e0e4736", nil, nil)
	if r.code != http.StatusOK {
		t.Fatalf("trace story: %d\n%s", r.code, r.body)
	}
	steps := storyStep.FindAllStringSubmatch(r.body, -1)
	if len(steps) != 7 {
		t.Fatalf("%d steps, want the 7 of acme\n%s", len(steps), r.body)
	}
	var flagged []int
	for i, s := range steps {
		if s[1] != "" {
			flagged = append(flagged, i)
		}
	}
	if fmt.Sprint(flagged) != "[3]" {
		t.Errorf("flagged steps %v, want [3] (k1's tool call after its denial)", flagged)
	}
	text := html.UnescapeString(r.body)
	for _, want := range []string{"The story of trace", "Approval requested for payments.refund",
		"Approval denied by maria for payments.refund", "Tool call: payments.refund",
		"denied in chain agent-a, not this one", "Approval granted by omar for mail.send", "Tool result of mail.send"} {
		if !strings.Contains(text, want) {
			t.Errorf("the trace story does not say %q", want)
		}
	}
	if strings.Contains(text, "Tool call: search") {
		t.Error("globex's record of the same trace id is in acme's story")
	}
	// The admin sees globex's record too.
	admin := e.signedIn(t, adminToken)
	r = send(t, admin, http.MethodGet, e.srv.URL+"/console/story?trace=4bf92f3577b34da6a3ce929d0e0e4736", nil, nil)
	if n := len(storyStep.FindAllString(r.body, -1)); n != 8 {
		t.Errorf("admin: %d steps, want 8", n)
	}
	for _, q := range []string{"trace=", "trace=a&session=s-plan", "trace=a&session=s-plan&call_id=k1", "trace=a&trace=b&cursor=bogus"} {
		if r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?"+q, nil, nil); r.code != http.StatusBadRequest {
			t.Errorf("story?%s: %d, want 400", q, r.code)
		}
	}
	// A record links to its trace's story; the search form has a trace field.
	r = send(t, acme, http.MethodGet, e.srv.URL+"/console/search?trace=4bf92f3577b34da6a3ce929d0e0e4736", nil, nil)
	if !strings.Contains(r.body, `id="trace"`) || len(recordLink.FindAllString(r.body, -1)) != 7 {
		t.Fatalf("search by trace: %d\n%s", r.code, r.body)
	}
	link := html.UnescapeString(recordLink.FindStringSubmatch(r.body)[1])
	r = send(t, acme, http.MethodGet, e.srv.URL+link, nil, nil)
	if !strings.Contains(r.body, `href="/console/story?trace=4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("the record page does not link to its trace's story:\n%s", r.body)
	}
	// A record's call id story is scoped to its trace, which spans the
	// sessions and chains of the call: the denial logged by agent-a in
	// s-plan flags the tool agent-b ran in s-exec.
	for _, m := range recordLink.FindAllStringSubmatch(send(t, acme, http.MethodGet,
		e.srv.URL+"/console/search?trace=4bf92f3577b34da6a3ce929d0e0e4736&action=tool_call", nil, nil).body, -1) {
		link = html.UnescapeString(m[1])
	}
	r = send(t, acme, http.MethodGet, e.srv.URL+link, nil, nil)
	call := `href="/console/story?call_id=k1&amp;trace=4bf92f3577b34da6a3ce929d0e0e4736"`
	if !strings.Contains(r.body, call) {
		t.Fatalf("the record page of k1's tool call does not link to k1's story in its trace:\n%s", r.body)
	}
	r = send(t, acme, http.MethodGet, e.srv.URL+html.UnescapeString(call[len(`href="`):len(call)-1]), nil, nil)
	steps = storyStep.FindAllStringSubmatch(r.body, -1)
	if r.code != http.StatusOK || len(steps) != 3 || steps[2][1] == "" {
		t.Errorf("k1 in its trace: %d, %d steps, want 3 with the tool call flagged\n%s", r.code, len(steps), r.body)
	}
}

// TestConsole_TraceStoryHostileID: a trace id that is markup and a
// bidirectional control stays text in the story's title and links.
func TestConsole_TraceStoryHostileID(t *testing.T) {
	e := newEnvOf(t, traceRecords(), false, nil)
	acme := e.signedIn(t, acmeToken)
	id := "<script>alert(1)</script>\u202eevil"
	r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?"+url.Values{"trace": {id}}.Encode(), nil, nil)
	if r.code != http.StatusOK || len(storyStep.FindAllString(r.body, -1)) != 1 {
		t.Fatalf("hostile trace: %d\n%s", r.code, r.body)
	}
	if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "\u202e") || !strings.Contains(r.body, "[U+202E]") {
		t.Errorf("the hostile trace id is not shown as text:\n%s", r.body)
	}
}

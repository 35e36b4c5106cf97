package console

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// storyRecords is one session of tenant acme: call c1 asks for approval,
// is denied, and its tool runs anyway; call c2 is approved and runs; call
// c3 is denied and its result says so. A session of globex follows.
func storyRecords() []*record.Record {
	type ev struct{ action, tool, outcome, approver, call, session, tenant string }
	evs := []ev{
		{record.ActionModelCall, "", "success", "", "", "s-story", "acme"},
		{record.ActionApprovalRequested, "payments.refund", "pending", "", "c1", "s-story", "acme"},
		{record.ActionApprovalDenied, "payments.refund", "denied", "maria", "c1", "s-story", "acme"},
		{record.ActionToolResult, "payments.refund", "success", "", "c1", "s-story", "acme"},
		{record.ActionApprovalRequested, "mail.send", "pending", "", "c2", "s-story", "acme"},
		{record.ActionApprovalGranted, "mail.send", "approved", "maria", "c2", "s-story", "acme"},
		{record.ActionToolCall, "mail.send", "success", "", "c2", "s-story", "acme"},
		{record.ActionToolResult, "mail.send", "success", "", "c2", "s-story", "acme"},
		{record.ActionApprovalDenied, "db.drop", "denied", "omar", "c3", "s-story", "acme"},
		{record.ActionToolResult, "db.drop", "denied", "", "c3", "s-story", "acme"},
		{record.ActionToolCall, "search", "success", "", "g1", "s-globex", "globex"},
	}
	var recs []*record.Record
	for i, e := range evs {
		r := &record.Record{V: record.Version, Chain: "agent-s", Seq: uint64(i + 1),
			TS: testBase.Add(time.Duration(i) * time.Second), IngestedAt: testBase.Add(time.Hour),
			Action: e.action, Tool: e.tool, Outcome: e.outcome, Approver: e.approver, Session: e.session,
			Tenant: e.tenant, User: "u-1", Model: "granite-3.3-8b", Kid: "k1", Prev: fmt.Sprintf("%064x", i)}
		if e.call != "" {
			r.Detail = []byte(`{"call_id":"` + e.call + `"}`)
		}
		recs = append(recs, r)
	}
	return recs
}

var storyStep = regexp.MustCompile(`(?s)<li( class="flagged")?>(.*?)</li>`)

func TestConsole_Story(t *testing.T) {
	e := newEnvOf(t, storyRecords(), false, nil)
	acme := e.signedIn(t, acmeToken)
	r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?session=s-story", nil, nil)
	if r.code != http.StatusOK {
		t.Fatalf("story: %d\n%s", r.code, r.body)
	}
	steps := storyStep.FindAllStringSubmatch(r.body, -1)
	if len(steps) != 10 {
		t.Fatalf("%d steps, want 10\n%s", len(steps), r.body)
	}
	var flagged []int
	for i, s := range steps {
		if s[1] != "" {
			flagged = append(flagged, i)
		}
	}
	if fmt.Sprint(flagged) != "[3]" {
		t.Errorf("flagged steps %v, want [3] (c1's tool result after its denial)", flagged)
	}
	text := html.UnescapeString(r.body)
	for _, want := range []string{"Model call to granite-3.3-8b", "Approval requested for payments.refund",
		"Approval denied by maria for payments.refund", "Approval granted by maria for mail.send",
		"Tool call: mail.send", "Tool result of payments.refund", "1 step flagged", "The tool ran after its approval was denied."} {
		if !strings.Contains(text, want) {
			t.Errorf("the story does not say %q", want)
		}
	}

	// By call id: c1 alone.
	r = send(t, acme, http.MethodGet, e.srv.URL+"/console/story?call_id=c1", nil, nil)
	if n := len(storyStep.FindAllString(r.body, -1)); r.code != http.StatusOK || n != 3 {
		t.Errorf("call c1: %d, %d steps, want 3", r.code, n)
	}
	// Another tenant's session is not part of acme's story.
	r = send(t, acme, http.MethodGet, e.srv.URL+"/console/story?session=s-globex", nil, nil)
	if r.code != http.StatusOK || storyStep.MatchString(r.body) || !strings.Contains(r.body, "No records.") {
		t.Errorf("acme reading a globex session: %d\n%s", r.code, r.body)
	}
	// By call id within its session: one query of the session's records.
	r = send(t, acme, http.MethodGet, e.srv.URL+"/console/story?session=s-story&call_id=c1", nil, nil)
	if n := len(storyStep.FindAllString(r.body, -1)); r.code != http.StatusOK || n != 3 ||
		!strings.Contains(r.body, `in session <span class="mono">s-story</span>`) ||
		!strings.Contains(r.body, `href="/console/story?call_id=c1"`) {
		t.Errorf("call c1 in session s-story: %d, %d steps, want 3 and a link to the call id everywhere\n%s", r.code, n, r.body)
	}
	for _, q := range []string{"", "session=s-story&trace=t", "session=s-story&trace=t&call_id=c1", "session=",
		"call_id=c1&cursor=bogus", "session=s-story&call_id=c1&cursor=bogus"} {
		r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?"+q, nil, nil)
		if r.code != http.StatusBadRequest {
			t.Errorf("story?%s: %d, want 400", q, r.code)
		}
	}
	// The search and a record link to stories.
	r = send(t, acme, http.MethodGet, e.srv.URL+"/console/search", nil, nil)
	if !strings.Contains(r.body, `href="/console/story?session=s-story"`) {
		t.Error("the search page does not link a session to its story")
	}
	m := recordLink.FindAllStringSubmatch(r.body, -1)
	r = send(t, acme, http.MethodGet, e.srv.URL+html.UnescapeString(m[1][1]), nil, nil)
	if !strings.Contains(r.body, `href="/console/story?call_id=c1&amp;session=s-story"`) || !strings.Contains(r.body, `href="/console/story?session=s-story"`) {
		t.Errorf("the record page does not link to its stories:\n%s", r.body)
	}
}

// TestConsole_StoryOtherChains: a session id and a call id are what the
// agents wrote, so another agent (its own chain) may log records under
// the session of the story, and an approval denied for a call id of it.
// The story names each step's chain, and a flag raised by a denial of
// another chain says so: an agent cannot pass its records off as the
// story's agent's, nor frame a tool call that was approved.
func TestConsole_StoryOtherChains(t *testing.T) {
	recs := storyRecords()
	recs = append(recs, &record.Record{V: record.Version, Chain: "agent-x", Seq: 1,
		TS: testBase.Add(5500 * time.Millisecond), IngestedAt: testBase.Add(time.Hour),
		Action: record.ActionApprovalDenied, Tool: "mail.send", Outcome: "denied", Approver: "maria",
		Session: "s-story", Tenant: "acme", User: "u-1", Kid: "k1", Prev: fmt.Sprintf("%064x", 99),
		Detail: []byte(`{"call_id":"c2"}`)})
	e := newEnvOf(t, recs, false, nil)
	acme := e.signedIn(t, acmeToken)
	r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?session=s-story", nil, nil)
	steps := storyStep.FindAllStringSubmatch(r.body, -1)
	if r.code != http.StatusOK || len(steps) != 11 {
		t.Fatalf("story: %d, %d steps, want 11", r.code, len(steps))
	}
	tags := regexp.MustCompile(`<[^>]*>`)
	for i, s := range steps {
		text := html.UnescapeString(tags.ReplaceAllString(s[2], ""))
		chain := "agent-s"
		if strings.Contains(text, "Approval denied by maria for mail.send") {
			chain = "agent-x"
		}
		if !strings.Contains(text, chain) {
			t.Errorf("step %d does not name its chain %s: %s", i, chain, text)
		}
		if strings.Contains(text, "Tool call: mail.send") && (s[1] == "" || !strings.Contains(text, "agent-x")) {
			t.Errorf("step %d: c2's tool call, after a denial logged by chain agent-x, is not flagged as such: %s", i, text)
		}
	}
}

// TestConsole_StoryFlagAcrossPages: a story page flags a tool that ran
// after its denial when the denial is on an earlier page: an agent that
// logs 1000 records (or 4 MiB of them) between a denial and the tool call
// it makes anyway puts them on two pages, and the second still flags it.
func TestConsole_StoryFlagAcrossPages(t *testing.T) {
	rec := func(seq int, action, outcome string, detail string) *record.Record {
		return &record.Record{V: record.Version, Chain: "agent-s", Seq: uint64(seq),
			TS: testBase.Add(time.Duration(seq) * time.Millisecond), IngestedAt: testBase.Add(time.Hour),
			Action: action, Tool: "payments.refund", Outcome: outcome, Session: "s-long", Tenant: "acme",
			Kid: "k1", Prev: fmt.Sprintf("%064x", seq), Detail: []byte(detail)}
	}
	recs := []*record.Record{rec(1, record.ActionApprovalDenied, "denied", `{"call_id":"c1"}`)}
	for i := 2; i <= storyLimit+1; i++ {
		recs = append(recs, rec(i, record.ActionModelCall, "success", `{"n":1}`))
	}
	recs = append(recs, rec(storyLimit+2, record.ActionToolCall, "success", `{"call_id":"c1"}`))
	e := newEnvOf(t, recs, false, nil)
	acme := e.signedIn(t, acmeToken)
	flagged := 0
	for path := "/console/story?session=s-long"; path != ""; {
		r := send(t, acme, http.MethodGet, e.srv.URL+path, nil, nil)
		for _, s := range storyStep.FindAllStringSubmatch(r.body, -1) {
			if s[1] != "" {
				flagged++
			}
		}
		path = ""
		if m := nextLink.FindStringSubmatch(r.body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if flagged != 1 {
		t.Fatalf("%d steps flagged, want 1: c1's tool call after its denial 1000 records before", flagged)
	}
}

// TestConsole_StoryFlagAcrossPagesScoped: the denials carried from the
// earlier pages are the reader's, of the story's scope, and before the
// page: another tenant's denial of the same call id, a denial in another
// session, and a denial after the tool call at the same instant flag
// nothing; a denial by another chain flags with its words.
func TestConsole_StoryFlagAcrossPagesScoped(t *testing.T) {
	seq := map[string]uint64{}
	rec := func(ms int, chain, action, outcome, session, tenant, call string) *record.Record {
		seq[chain]++
		return &record.Record{V: record.Version, Chain: chain, Seq: seq[chain],
			TS: testBase.Add(time.Duration(ms) * time.Millisecond), IngestedAt: testBase.Add(time.Hour),
			Action: action, Tool: "payments.refund", Outcome: outcome, Session: session, Tenant: tenant,
			Kid: "k1", Prev: fmt.Sprintf("%064x", seq[chain]), Detail: []byte(`{"call_id":"` + call + `"}`)}
	}
	recs := []*record.Record{
		rec(1, "agent-g", record.ActionApprovalDenied, "denied", "s-long", "globex", "g1"),
		rec(2, "agent-s", record.ActionApprovalDenied, "denied", "s-other", "acme", "o1"),
		rec(3, "agent-x", record.ActionApprovalDenied, "denied", "s-long", "acme", "x1"),
	}
	for i := 0; i < storyLimit; i++ {
		recs = append(recs, rec(10+i, "agent-s", record.ActionModelCall, "success", "s-long", "acme", "m"))
	}
	// On the second page: z1's denial shares the instant of z1's tool call
	// but comes after it in the story's order (chain agent-t after
	// agent-s), so it flags nothing.
	last := 10 + storyLimit
	recs = append(recs,
		rec(last, "agent-s", record.ActionToolCall, "success", "s-long", "acme", "z1"),
		rec(last, "agent-t", record.ActionApprovalDenied, "denied", "s-long", "acme", "z1"),
		rec(last+1, "agent-s", record.ActionToolCall, "success", "s-long", "acme", "g1"),
		rec(last+2, "agent-s", record.ActionToolCall, "success", "s-long", "acme", "o1"),
		rec(last+3, "agent-s", record.ActionToolCall, "success", "s-long", "acme", "x1"),
	)
	e := newEnvOf(t, recs, false, nil)
	acme := e.signedIn(t, acmeToken)
	var pages []string
	for path := "/console/story?session=s-long"; path != ""; {
		r := send(t, acme, http.MethodGet, e.srv.URL+path, nil, nil)
		if r.code != http.StatusOK {
			t.Fatalf("%s: %d", path, r.code)
		}
		pages = append(pages, r.body)
		path = ""
		if m := nextLink.FindStringSubmatch(r.body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if len(pages) != 2 {
		t.Fatalf("%d pages, want 2", len(pages))
	}
	steps := storyStep.FindAllStringSubmatch(pages[1], -1)
	var flagged []string
	for _, s := range steps {
		if s[1] != "" {
			flagged = append(flagged, html.UnescapeString(s[2]))
		}
	}
	if len(flagged) != 1 || !strings.Contains(flagged[0], "x1") || !strings.Contains(flagged[0], "denied in chain agent-x, not this one") {
		t.Errorf("second page: flagged %q, want only x1's tool call, denied by agent-x\n%s", flagged, pages[1])
	}
	if !strings.Contains(pages[1], "count the denials of the earlier pages too") {
		t.Error("the second page does not say its flags count the earlier pages")
	}
}

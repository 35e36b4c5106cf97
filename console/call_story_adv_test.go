package console

import (
	"encoding/json"
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

// callEv is one record of the call id story fixtures.
type callEv struct {
	chain, action, tool, outcome, call, session, trace, tenant string
}

// callEvRecords are evs as records, a second apart, in order.
func callEvRecords(evs []callEv) []*record.Record {
	seqs := map[string]uint64{}
	var recs []*record.Record
	for i, e := range evs {
		seqs[e.chain]++
		r := &record.Record{V: record.Version, Chain: e.chain, Seq: seqs[e.chain],
			TS: testBase.Add(time.Duration(i) * time.Second), IngestedAt: testBase.Add(time.Hour),
			Action: e.action, Tool: e.tool, Outcome: e.outcome, Session: e.session, Trace: e.trace,
			Tenant: e.tenant, User: "u-1", Kid: "k1", Prev: fmt.Sprintf("%064x", i)}
		if e.action == record.ActionApprovalDenied {
			r.Approver = "maria"
		}
		if e.call != "" {
			d, _ := json.Marshal(map[string]string{"call_id": e.call})
			r.Detail = d
		}
		recs = append(recs, r)
	}
	return recs
}

var callLink = regexp.MustCompile(`href="([^"]*)">The story of this call id<`)

// recordCallLink opens the record page of the n-th step of the story at
// storyURL and returns its call id story link (unescaped), "" if none.
func recordCallLink(t *testing.T, e *env, c *http.Client, storyURL string, n int) string {
	t.Helper()
	r := send(t, c, http.MethodGet, e.srv.URL+storyURL, nil, nil)
	m := recordLink.FindAllStringSubmatch(r.body, -1)
	if len(m) <= n {
		t.Fatalf("%s: %d record links, want more than %d\n%s", storyURL, len(m), n, r.body)
	}
	rec := send(t, c, http.MethodGet, e.srv.URL+html.UnescapeString(m[n][1]), nil, nil)
	if rec.code != http.StatusOK {
		t.Fatalf("record page: %d\n%s", rec.code, rec.body)
	}
	l := callLink.FindStringSubmatch(rec.body)
	if l == nil {
		return ""
	}
	return html.UnescapeString(l[1])
}

func flaggedSteps(body string) []int {
	var out []int
	for i, s := range storyStep.FindAllStringSubmatch(body, -1) {
		if s[1] != "" {
			out = append(out, i)
		}
	}
	return out
}

// TestConsole_CallStoryLinkBounds: the record's call id story link names
// its trace (or session) while the values fit in a link, falls back to the
// call id everywhere past that, and is no link for a call id too long.
func TestConsole_CallStoryLinkBounds(t *testing.T) {
	long := strings.Repeat("x", maxLinkValue)
	for _, c := range []struct {
		name, call string
		rec        record.Record
		want       string
	}{
		{"trace", "c1", record.Record{Trace: "t1", Session: "s1"}, "/console/story?call_id=c1&trace=t1"},
		{"session", "c1", record.Record{Session: "s1"}, "/console/story?call_id=c1&session=s1"},
		{"neither", "c1", record.Record{}, "/console/story?call_id=c1"},
		{"at the bound", long[:maxLinkValue-2], record.Record{Trace: "t1"},
			"/console/story?call_id=" + long[:maxLinkValue-2] + "&trace=t1"},
		{"past the bound", long[:maxLinkValue-1], record.Record{Trace: "t1"},
			"/console/story?call_id=" + long[:maxLinkValue-1]},
		{"call id too long", long + "x", record.Record{Trace: "t1"}, ""},
		{"trace too long", "c1", record.Record{Trace: long}, "/console/story?call_id=c1"},
	} {
		if got := callStoryLink(c.call, &c.rec); got != c.want {
			t.Errorf("%s: %.80q, want %.80q", c.name, got, c.want)
		}
	}
}

// TestConsole_CallStoryLinkLongSession: a record with a trace links its
// call id's story within the trace, whatever the length of its session
// (which the link does not name).
func TestConsole_CallStoryLinkLongSession(t *testing.T) {
	rec := record.Record{Trace: "t1", Session: strings.Repeat("s", maxLinkValue)}
	if got, want := callStoryLink("c1", &rec), "/console/story?call_id=c1&trace=t1"; got != want {
		t.Errorf("%.80q, want %q", got, want)
	}
}

// TestConsole_ScopedStoryLongCallID: a scoped story of a call id too long
// for a link to it everywhere still says what the scope leaves out.
func TestConsole_ScopedStoryLongCallID(t *testing.T) {
	call := strings.Repeat("c", maxLinkValue+1)
	e := newEnvOf(t, callEvRecords([]callEv{
		{"agent-a", record.ActionApprovalDenied, "db.drop", "denied", call, "s1", "t2", "acme"},
		{"agent-a", record.ActionToolCall, "db.drop", "success", call, "s1", "t1", "acme"},
	}), false, nil)
	acme := e.signedIn(t, acmeToken)
	r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?"+url.Values{"call_id": {call}, "trace": {"t1"}}.Encode(), nil, nil)
	if r.code != http.StatusOK || len(storyStep.FindAllString(r.body, -1)) != 1 {
		t.Fatalf("%d\n%.2000s", r.code, r.body)
	}
	if !strings.Contains(r.body, "nor a denial logged there") {
		t.Errorf("the scoped story does not say that a denial outside its trace is not shown:\n%s", r.body)
	}
}

// TestConsole_ScopedStoryDenialElsewhere: a tool that ran in one trace (or
// session) after its call id was denied in another, or with no trace, is
// not flagged by the record's scoped story, which says so and links the
// call id everywhere, where it is flagged.
func TestConsole_ScopedStoryDenialElsewhere(t *testing.T) {
	e := newEnvOf(t, callEvRecords([]callEv{
		{"agent-a", record.ActionApprovalDenied, "db.drop", "denied", "k1", "s1", "t2", "acme"},
		{"agent-a", record.ActionApprovalDenied, "db.wipe", "denied", "k2", "s1", "", "acme"},
		{"agent-a", record.ActionApprovalDenied, "db.trunc", "denied", "k3", "s2", "", "acme"},
		{"agent-b", record.ActionToolCall, "db.drop", "success", "k1", "s1", "t1", "acme"},
		{"agent-b", record.ActionToolCall, "db.wipe", "success", "k2", "s1", "t1", "acme"},
		{"agent-b", record.ActionToolCall, "db.trunc", "success", "k3", "s1", "", "acme"},
	}), false, nil)
	acme := e.signedIn(t, acmeToken)
	for n, c := range []struct{ call, link, warn string }{
		{"k1", "/console/story?call_id=k1&trace=t1", "outside this trace (in another, or in none) are not shown"},
		{"k2", "/console/story?call_id=k2&trace=t1", "outside this trace (in another, or in none) are not shown"},
		{"k3", "/console/story?call_id=k3&session=s1", "outside this session (in another, or in none) are not shown"},
	} {
		link := recordCallLink(t, e, acme, "/console/story?session=s1", n+2)
		if link != c.link {
			t.Fatalf("%s: the record links %q, want %q", c.call, link, c.link)
		}
		r := send(t, acme, http.MethodGet, e.srv.URL+link, nil, nil)
		if steps := storyStep.FindAllString(r.body, -1); r.code != http.StatusOK || len(steps) != 1 || len(flaggedSteps(r.body)) != 0 {
			t.Errorf("%s scoped: %d, %d steps, flagged %v, want 1 step unflagged\n%s", c.call, r.code, len(steps), flaggedSteps(r.body), r.body)
		}
		every := `href="/console/story?call_id=` + c.call + `"`
		if !strings.Contains(r.body, c.warn) || !strings.Contains(r.body, "nor a denial logged there") || !strings.Contains(r.body, every) {
			t.Errorf("%s scoped: the page does not say a denial elsewhere is not shown, or does not link the call id everywhere\n%s", c.call, r.body)
		}
		r = send(t, acme, http.MethodGet, e.srv.URL+"/console/story?call_id="+c.call, nil, nil)
		if f := flaggedSteps(r.body); fmt.Sprint(f) != "[1]" {
			t.Errorf("%s everywhere: flagged %v, want [1]\n%s", c.call, f, r.body)
		}
	}
}

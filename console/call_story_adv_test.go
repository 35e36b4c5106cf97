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

var callLink = regexp.MustCompile(`href="([^"]*)">The story of this call id( in this (trace|session))?<`)

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
	link := html.UnescapeString(l[1])
	// The label names the scope the link has.
	if q, _ := url.ParseQuery(strings.TrimPrefix(link, "/console/story?")); (l[3] == "") != (q.Get("trace") == "" && q.Get("session") == "") || l[3] != "" && q.Get(l[3]) == "" {
		t.Errorf("the link %.80q is labelled %q", link, l[0])
	}
	return link
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
		{"trace too long, a session", "c1", record.Record{Trace: long, Session: "s1"}, "/console/story?call_id=c1&session=s1"},
	} {
		got, in := callStoryLink(c.call, &c.rec)
		if got != c.want {
			t.Errorf("%s: %.80q, want %.80q", c.name, got, c.want)
		}
		if want := regexp.MustCompile(`&(trace|session)=`).FindStringSubmatch(c.want); (want == nil) != (in == "") || want != nil && want[1] != in {
			t.Errorf("%s: scope %q for %.80q", c.name, in, got)
		}
	}
}

// TestConsole_CallStoryLinkLongSession: a record with a trace links its
// call id's story within the trace, whatever the length of its session
// (which the link does not name).
func TestConsole_CallStoryLinkLongSession(t *testing.T) {
	rec := record.Record{Trace: "t1", Session: strings.Repeat("s", maxLinkValue)}
	if got, want := first(callStoryLink("c1", &rec)), "/console/story?call_id=c1&trace=t1"; got != want {
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

// TestConsole_ScopedStoryTenant: a trace id and a call id that two tenants
// both wrote: a tenant's token sees only its own records of the call id
// in the trace, and in every trace (the Everywhere link), never the other
// tenant's denial as a flag; a token without a tenant sees both.
func TestConsole_ScopedStoryTenant(t *testing.T) {
	e := newEnvOf(t, callEvRecords([]callEv{
		{"agent-g", record.ActionApprovalDenied, "db.drop", "denied", "k1", "s-g", "t1", "globex"},
		{"agent-g", record.ActionToolCall, "db.drop", "success", "k1", "s-g", "t1", "globex"},
		{"agent-a", record.ActionToolCall, "db.drop", "success", "k1", "s-a", "t1", "acme"},
	}), false, nil)
	acme := e.signedIn(t, acmeToken)
	link := recordCallLink(t, e, acme, "/console/story?trace=t1", 0)
	if link != "/console/story?call_id=k1&trace=t1" {
		t.Fatalf("acme's record links %q", link)
	}
	for _, u := range []string{link, "/console/story?call_id=k1", "/console/story?call_id=k1&session=s-g",
		"/console/story?call_id=k1&trace=t1&cursor=", "/console/story?trace=t1&call_id=k1"} {
		r := send(t, acme, http.MethodGet, e.srv.URL+u, nil, nil)
		want := 1
		if strings.Contains(u, "s-g") {
			want = 0
		}
		if n := len(storyStep.FindAllString(r.body, -1)); r.code != http.StatusOK || n != want ||
			len(flaggedSteps(r.body)) != 0 || strings.Contains(r.body, "agent-g") || strings.Contains(r.body, "s-g\"") {
			t.Errorf("acme %s: %d, %d steps (want %d), flagged %v\n%s", u, r.code, n, want, flaggedSteps(r.body), r.body)
		}
	}
	admin := e.signedIn(t, adminToken)
	r := send(t, admin, http.MethodGet, e.srv.URL+link, nil, nil)
	if n := len(storyStep.FindAllString(r.body, -1)); n != 3 || fmt.Sprint(flaggedSteps(r.body)) != "[1 2]" {
		t.Errorf("admin: %d steps, flagged %v, want 3 and [1 2]\n%s", n, flaggedSteps(r.body), r.body)
	}
}

// TestConsole_ScopedStoryParams: which story a query names, with its
// parameters repeated, empty or too many; a scoped story is titled by its
// scope and its links are escaped.
func TestConsole_ScopedStoryParams(t *testing.T) {
	e := newEnvOf(t, storyRecords(), false, nil)
	acme := e.signedIn(t, acmeToken)
	scoped := `The story of call id <span class="mono">c1</span> in session <span class="mono">s-story</span>`
	plain := `The story of call id <span class="mono">c1</span></h1>`
	for _, c := range []struct {
		q     string
		code  int
		title string
		steps int
	}{
		{"call_id=c1&session=s-story", 200, scoped, 3},
		{"session=s-story&call_id=c1", 200, scoped, 3},
		{"call_id=c1&call_id=c2&session=s-story", 200, scoped, 3},
		{"session=&call_id=c1", 200, plain, 3},
		{"trace=&session=s-story&call_id=c1", 200, scoped, 3},
		{"call_id=c1&session=s-globex", 200, "in session", 0},
		{"call_id=c1&trace=s-story", 200, "in trace", 0},
		{"call_id=c1&session=s-story&trace=t", 400, "Open a story", 0},
		{"call_id=c1&trace=t&trace=u&session=s-story", 400, "Open a story", 0},
		{"call_id=&session=s-story&trace=t", 400, "Open a story", 0},
		{"trace=t&session=s-story", 400, "Open a story", 0},
	} {
		r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?"+c.q, nil, nil)
		if n := len(storyStep.FindAllString(r.body, -1)); r.code != c.code || n != c.steps || !strings.Contains(r.body, c.title) {
			t.Errorf("story?%s: %d, %d steps, want %d, %d and %q\n%s", c.q, r.code, n, c.code, c.steps, c.title, r.body)
		}
	}
}

// TestConsole_ScopedStoryPaging: a call id's story within a trace longer
// than a page goes on, scoped, on the next page (the link escaped); its
// cursor is bound to the scope: replayed on the call id alone, or in
// another trace, it is refused.
func TestConsole_ScopedStoryPaging(t *testing.T) {
	var evs []callEv
	for i := range storyLimit*5/4 + 5 {
		call, trace := "k1", "t1"
		switch i % 10 {
		case 1:
			call = "k2"
		case 2:
			trace = "t2"
		}
		evs = append(evs, callEv{"agent-a", record.ActionToolCall, "db.drop", "success", call, "s1", trace, "acme"})
	}
	e := newEnvOf(t, callEvRecords(evs), false, nil)
	acme := e.signedIn(t, acmeToken)
	in := 0
	for i := range evs {
		if evs[i].call == "k1" && evs[i].trace == "t1" {
			in++
		}
	}
	u := "/console/story?call_id=k1&trace=t1"
	seen, pages := 0, 0
	var cursor string
	for u != "" {
		pages++
		r := send(t, acme, http.MethodGet, e.srv.URL+u, nil, nil)
		if r.code != http.StatusOK || !strings.Contains(r.body, `in trace <span class="mono">t1</span>`) ||
			!strings.Contains(r.body, `href="/console/story?call_id=k1"`) {
			t.Fatalf("page %d (%s): %d, not scoped\n%.3000s", pages, u, r.code, r.body)
		}
		seen += len(storyStep.FindAllString(r.body, -1))
		m := nextLink.FindStringSubmatch(r.body)
		u = ""
		if m != nil {
			if strings.Contains(m[1], "&c") || strings.Contains(m[1], "&t") {
				t.Errorf("the next link is not escaped: %q", m[1])
			}
			u = html.UnescapeString(m[1])
			q, _ := url.ParseQuery(u[strings.Index(u, "?")+1:])
			if q.Get("call_id") != "k1" || q.Get("trace") != "t1" || q.Has("session") || q.Get("cursor") == "" {
				t.Fatalf("the next link %q does not keep the scope", u)
			}
			cursor = q.Get("cursor")
		}
		if pages > 5 {
			t.Fatal("no end")
		}
	}
	if seen != in || pages < 2 {
		t.Errorf("%d records in %d pages, want %d in more than one", seen, pages, in)
	}
	for _, q := range []url.Values{
		{"call_id": {"k1"}, "cursor": {cursor}},
		{"call_id": {"k1"}, "trace": {"t2"}, "cursor": {cursor}},
		{"call_id": {"k1"}, "session": {"s1"}, "cursor": {cursor}},
		{"trace": {"t1"}, "cursor": {cursor}},
		{"call_id": {"k2"}, "trace": {"t1"}, "cursor": {cursor}},
	} {
		if r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?"+q.Encode(), nil, nil); r.code != http.StatusBadRequest {
			t.Errorf("story?%s: %d, want 400", q.Encode(), r.code)
		}
	}
}

// TestConsole_ScopedStoryHostile: a call id, a trace and a session that
// are markup, a bidirectional control, or a query of their own: the
// record's link names them as values (escaped in the page), its story is
// of that call id in that trace or session, and the page shows them as
// text.
func TestConsole_ScopedStoryHostile(t *testing.T) {
	call := `c1&trace=other"><script>alert(1)</script>` + "\u202e%26"
	trace := `t1&session=s9#<b>` + "\u2066"
	sess := `s1&call_id=x'><img src=x>` + "\u202e"
	e := newEnvOf(t, callEvRecords([]callEv{
		{"agent-a", record.ActionApprovalDenied, "db.drop", "denied", call, sess, trace, "acme"},
		{"agent-a", record.ActionToolCall, "db.drop", "success", call, sess, trace, "acme"},
		{"agent-a", record.ActionToolCall, "db.drop", "success", call, sess, "", "acme"},
		{"agent-a", record.ActionToolCall, "db.drop", "success", "c1", "s9", "other", "acme"},
	}), false, nil)
	acme := e.signedIn(t, acmeToken)
	for n, scope := range []string{"trace", "session"} {
		link := recordCallLink(t, e, acme, "/console/story?"+url.Values{"session": {sess}}.Encode(), n+1)
		q, err := url.ParseQuery(strings.TrimPrefix(link, "/console/story?"))
		want := map[string]string{"trace": trace, "session": sess}[scope]
		if err != nil || len(q) != 2 || q.Get("call_id") != call || q.Get(scope) != want {
			t.Fatalf("%s: the record links %q", scope, link)
		}
		r := send(t, acme, http.MethodGet, e.srv.URL+link, nil, nil)
		steps := storyStep.FindAllString(r.body, -1)
		wantSteps := map[string]int{"trace": 2, "session": 3}[scope]
		if r.code != http.StatusOK || len(steps) != wantSteps || len(flaggedSteps(r.body)) != wantSteps-1 {
			t.Errorf("%s: %d, %d steps, flagged %v\n%s", scope, r.code, len(steps), flaggedSteps(r.body), r.body)
		}
		for _, bad := range []string{"<script>", "<b>", "<img", "\u202e", "\u2066", `"><`} {
			if strings.Contains(r.body, bad) {
				t.Errorf("%s: %q is in the page as is", scope, bad)
			}
		}
		if !strings.Contains(r.body, " in "+scope+" ") {
			t.Errorf("%s: the page does not name its scope", scope)
		}
	}
}

func first(link, _ string) string { return link }

// TestConsole_CallStoryOfACallIDNotAString: a call id that is JSON other
// than a string (an agent's number, written 1e3 or 1.50, or true) links
// to a story that holds its records: the store matches it as the payload
// writes it, as the link names it.
func TestConsole_CallStoryOfACallIDNotAString(t *testing.T) {
	for _, id := range []string{`1e3`, `1.50`, `true`, `-0.0`} {
		recs := callEvRecords([]callEv{
			{"agent-a", record.ActionApprovalDenied, "db.drop", "denied", "", "s1", "t1", "acme"},
			{"agent-a", record.ActionToolCall, "db.drop", "success", "", "s1", "t1", "acme"},
			{"agent-a", record.ActionToolCall, "db.drop", "success", "", "s1", "t1", "acme"},
		})
		recs[0].Detail = json.RawMessage(`{"call_id":` + id + `}`)
		recs[1].Detail = json.RawMessage(`{"call_id":` + id + `}`)
		recs[2].Detail = json.RawMessage(`{"call_id":1000}`) // 1e3 as another agent wrote it: another id
		e := newEnvOf(t, recs, false, nil)
		acme := e.signedIn(t, acmeToken)
		link := recordCallLink(t, e, acme, "/console/story?session=s1", 0)
		r := send(t, acme, http.MethodGet, e.srv.URL+link, nil, nil)
		steps := storyStep.FindAllStringSubmatch(r.body, -1)
		if r.code != http.StatusOK || len(steps) != 2 || steps[1][1] == "" {
			t.Errorf("call id %s: %s: %d, %d steps, want 2 with the tool call flagged", id, link, r.code, len(steps))
		}
	}
}

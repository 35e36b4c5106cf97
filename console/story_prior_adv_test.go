package console

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// priorRec builds the records of the prior-denial tests: one chain's
// seq per chain, the time given.
type priorRecs struct {
	seq  map[string]uint64
	recs []*record.Record
}

func (p *priorRecs) add(ts time.Time, chain, action, session, tenant, call string) {
	if p.seq == nil {
		p.seq = map[string]uint64{}
	}
	p.seq[chain]++
	outcome := "success"
	if action == record.ActionApprovalDenied {
		outcome = "denied"
	}
	p.recs = append(p.recs, &record.Record{V: record.Version, Chain: chain, Seq: p.seq[chain],
		TS: ts, IngestedAt: testBase.Add(time.Hour),
		Action: action, Tool: "payments.refund", Outcome: outcome, Session: session, Tenant: tenant,
		Kid: "k1", Prev: fmt.Sprintf("%064x", p.seq[chain]), Detail: []byte(`{"call_id":"` + call + `"}`)})
}

// fillerThenCall is a session of agent-h: fillers denials of other call
// ids, the denial of c1, a page of model calls, then c1's tool call (the
// last page's last step).
func fillerThenCall(session string, fillers int) *priorRecs {
	var p priorRecs
	at := testBase
	tick := func() time.Time { at = at.Add(time.Millisecond); return at }
	for i := range fillers {
		p.add(tick(), "agent-h", record.ActionApprovalDenied, session, "acme", fmt.Sprintf("f%d", i))
	}
	p.add(tick(), "agent-h", record.ActionApprovalDenied, session, "acme", "c1")
	for range storyLimit {
		p.add(tick(), "agent-h", record.ActionModelCall, session, "acme", "m")
	}
	p.add(tick(), "agent-h", record.ActionToolCall, session, "acme", "c1")
	return &p
}

// storyPages walks a story from path by its next links and returns each
// page's body; every page must be a 200.
func storyPages(t *testing.T, e *env, c *http.Client, path string) []string {
	t.Helper()
	var pages []string
	for path != "" {
		r := send(t, c, http.MethodGet, e.srv.URL+path, nil, nil)
		if r.code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, r.code, r.body)
		}
		pages = append(pages, r.body)
		path = ""
		if m := nextLink.FindStringSubmatch(r.body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	return pages
}

// flagsOf are the words of a page's flagged steps.
func flagsOf(body string) []string {
	var out []string
	for _, s := range storyStep.FindAllStringSubmatch(body, -1) {
		if s[1] != "" {
			out = append(out, html.UnescapeString(s[2]))
		}
	}
	return out
}

// TestConsole_StoryPriorCutNamesTheUncounted: a hostile agent logs more
// denials than one look reads (of other call ids), then the denial of
// its call, a page of filler and the tool call. The look reads the
// story's denials oldest first, so those it leaves out are the newest,
// the ones nearest the page: the page must not say that the oldest were
// left out, and must say from when they were.
func TestConsole_StoryPriorCutNamesTheUncounted(t *testing.T) {
	p := fillerThenCall("s-cut", priorMaxPages*storyLimit+1)
	lastRead := p.recs[priorMaxPages*storyLimit-1].TS
	e := newEnvOf(t, p.recs, false, nil)
	acme := e.signedIn(t, acmeToken)
	pages := storyPages(t, e, acme, "/console/story?session=s-cut")
	last := pages[len(pages)-1]
	if !strings.Contains(last, "Tool call: payments.refund") {
		t.Fatalf("the last page does not hold the tool call")
	}
	if len(flagsOf(last)) == 1 {
		return // flagged: nothing was left out that mattered
	}
	if !strings.Contains(last, "More denials came before this page") {
		t.Fatalf("c1's tool call is not flagged, and the page does not say that denials were left out\n%s", last)
	}
	if strings.Contains(last, "the oldest were not counted") {
		t.Errorf("the page says the oldest denials were left out: it read the oldest, and left out the newest (c1's)")
	}
	if !strings.Contains(last, record.FormatTime(lastRead)) {
		t.Errorf("the page does not say after which denial (%s) they were not counted\n%s", record.FormatTime(lastRead), last)
	}
}

// TestConsole_StoryPriorFullPages: the look reads up to priorMaxPages
// pages of the API's largest size, every one of them: half as many
// denials as it may read before the denial of the call (of other call
// ids) hide nothing.
func TestConsole_StoryPriorFullPages(t *testing.T) {
	p := fillerThenCall("s-half", priorMaxPages*storyLimit/2)
	e := newEnvOf(t, p.recs, false, nil)
	acme := e.signedIn(t, acmeToken)
	pages := storyPages(t, e, acme, "/console/story?session=s-half")
	last := pages[len(pages)-1]
	if f := flagsOf(last); len(f) != 1 || !strings.Contains(f[0], "c1") {
		t.Errorf("last page: flagged %q, want c1's tool call", f)
	}
	if strings.Contains(last, "More denials came before this page") {
		t.Errorf("the last page says denials were left out: %d came before it, fewer than %d pages of %d", priorMaxPages*storyLimit/2+1, priorMaxPages, storyLimit)
	}
}

// TestConsole_StoryPriorLastInstant: a page whose first record is at the
// last instant a record can have (an agent writes its records' times):
// the look for the earlier denials must not ask for a time past it and
// fail the page with an error about a parameter the reader never gave.
func TestConsole_StoryPriorLastInstant(t *testing.T) {
	var p priorRecs
	end := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	p.add(testBase, "agent-e", record.ActionApprovalDenied, "s-end", "acme", "c1")
	for i := range storyLimit - 1 {
		p.add(testBase.Add(time.Duration(i+1)*time.Millisecond), "agent-e", record.ActionModelCall, "s-end", "acme", "m")
	}
	p.add(end, "agent-e", record.ActionToolCall, "s-end", "acme", "c1")
	e := newEnvOf(t, p.recs, false, nil)
	acme := e.signedIn(t, acmeToken)
	pages := storyPages(t, e, acme, "/console/story?session=s-end")
	if len(pages) != 2 {
		t.Fatalf("%d pages, want 2", len(pages))
	}
	if f := flagsOf(pages[1]); len(f) != 1 || !strings.Contains(f[0], "c1") {
		t.Errorf("second page: flagged %q, want c1's tool call", f)
	}
}

// TestConsole_StoryPriorEqualInstants: the page boundary falls among
// records of one instant in several chains: a denial before the page in
// another chain at that instant, and one in the page's first chain with
// a lower seq, count; a denial at that instant after the page's first
// record is the page's own (counted where it is shown, not before).
func TestConsole_StoryPriorEqualInstants(t *testing.T) {
	var p priorRecs
	for i := range storyLimit - 3 {
		p.add(testBase.Add(time.Duration(i)*time.Millisecond), "agent-m", record.ActionModelCall, "s-eq", "acme", "m")
	}
	T := testBase.Add(time.Hour)
	// Page 1 ends with three records at T: a/den c1, b/den c2, b/den c3.
	p.add(T, "agent-a", record.ActionApprovalDenied, "s-eq", "acme", "c1")
	p.add(T, "agent-b", record.ActionApprovalDenied, "s-eq", "acme", "c2")
	p.add(T, "agent-b", record.ActionApprovalDenied, "s-eq", "acme", "c3")
	// Page 2 at T: b/tool c2 (b's next seq), b/tool c4, then c/tool c1,
	// c/den c4 (after b's tool call of c4: no flag for it), c/tool c5.
	p.add(T, "agent-b", record.ActionToolCall, "s-eq", "acme", "c2")
	p.add(T, "agent-b", record.ActionToolCall, "s-eq", "acme", "c4")
	p.add(T, "agent-c", record.ActionToolCall, "s-eq", "acme", "c1")
	p.add(T, "agent-c", record.ActionApprovalDenied, "s-eq", "acme", "c4")
	// After T: b's tool result of c3, and a tool call of c4 (now denied
	// in chain c on this page).
	p.add(T.Add(time.Nanosecond), "agent-b", record.ActionToolResult, "s-eq", "acme", "c3")
	p.add(T.Add(2*time.Nanosecond), "agent-c", record.ActionToolCall, "s-eq", "acme", "c4")
	e := newEnvOf(t, p.recs, false, nil)
	acme := e.signedIn(t, acmeToken)
	pages := storyPages(t, e, acme, "/console/story?session=s-eq")
	if len(pages) != 2 {
		t.Fatalf("%d pages, want 2", len(pages))
	}
	got := flagsOf(pages[1])
	want := []string{"c2", "c1", "c3", "c4"} // in the page's order
	if len(got) != len(want) {
		t.Fatalf("second page flags %d steps, want %d: %q", len(got), len(want), got)
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("flag %d = %q, want %s's", i, got[i], w)
		}
	}
	if !strings.Contains(got[1], "denied in chain agent-a, not this one") {
		t.Errorf("c1's flag %q does not name agent-a", got[1])
	}
	if strings.Contains(got[0], "not this one") || strings.Contains(got[2], "not this one") {
		t.Errorf("c2's or c3's flag names another chain: %q", got)
	}
}

// TestConsole_StoryPriorOtherTenant: a tenant's reader, on a later page
// of a session another tenant's agent shares, is flagged by no denial of
// the other tenant, even past one look's pages of them (the other
// tenant's denials are not read, so the page is not cut either: it would
// tell of their number).
func TestConsole_StoryPriorOtherTenant(t *testing.T) {
	var p priorRecs
	at := testBase
	tick := func() time.Time { at = at.Add(time.Millisecond); return at }
	for i := range priorMaxPages*storyLimit + 5 {
		p.add(tick(), "agent-g", record.ActionApprovalDenied, "s-shared", "globex", fmt.Sprintf("g%d", i%7))
	}
	for range storyLimit {
		p.add(tick(), "agent-s", record.ActionModelCall, "s-shared", "acme", "m")
	}
	for i := range 7 {
		p.add(tick(), "agent-s", record.ActionToolCall, "s-shared", "acme", fmt.Sprintf("g%d", i))
	}
	e := newEnvOf(t, p.recs, false, nil)
	acme := e.signedIn(t, acmeToken)
	pages := storyPages(t, e, acme, "/console/story?session=s-shared")
	if len(pages) != 2 {
		t.Fatalf("%d pages, want 2", len(pages))
	}
	if f := flagsOf(pages[1]); len(f) != 0 {
		t.Errorf("acme's page flags globex's denials: %q", f)
	}
	if strings.Contains(pages[1], "More denials came before this page") {
		t.Error("acme's page says denials were left out: globex's, which it may not read")
	}
	// The operator's token reads both tenants: flagged, and cut.
	ops := e.signedIn(t, adminToken)
	pages = storyPages(t, e, ops, "/console/story?session=s-shared")
	if n := len(flagsOf(pages[len(pages)-1])); n != 7 {
		t.Errorf("the operator's last page flags %d steps, want 7", n)
	}
}

// failingStore fails the searches for which fail returns true.
type failingStore struct {
	*sink.SQLite
	fail  func(f *sink.Filter) bool
	calls atomic.Int64
}

func (s *failingStore) SearchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error {
	s.calls.Add(1)
	if s.fail != nil && s.fail(&f) {
		return errors.New("disk on fire at /var/lib/secret-path")
	}
	return s.SQLite.SearchEach(ctx, f, fn)
}

// newEnvStore is newEnvOf over store.
func newEnvStore(t *testing.T, store query.Store) *env {
	t.Helper()
	reader, err := query.NewReader(query.Config{Store: store, Tokens: testTokens(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: testBase}
	ui, err := New(Config{Reader: reader, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui)
	t.Cleanup(srv.Close)
	return &env{srv: srv, clock: clock}
}

// TestConsole_StoryPriorFails: when the look for the earlier denials
// fails, the later page shows none of its records (it cannot say which
// of them to flag) and says the store could not be read, without the
// store's words; and one page view costs a bounded number of searches
// however many denials came before it.
func TestConsole_StoryPriorFails(t *testing.T) {
	var p priorRecs
	at := testBase
	tick := func() time.Time { at = at.Add(time.Millisecond); return at }
	for i := range priorMaxPages*storyLimit + 1 {
		p.add(tick(), "agent-h", record.ActionApprovalDenied, "s-f", "acme", fmt.Sprintf("f%d", i))
	}
	for range storyLimit {
		p.add(tick(), "agent-h", record.ActionToolCall, "s-f", "acme", "f0")
	}
	st := &failingStore{SQLite: openStore(t, p.recs)}
	e := newEnvStore(t, st)
	acme := e.signedIn(t, acmeToken)
	r := send(t, acme, http.MethodGet, e.srv.URL+"/console/story?session=s-f", nil, nil)
	m := nextLink.FindStringSubmatch(r.body)
	if r.code != http.StatusOK || m == nil {
		t.Fatalf("first page: %d, no next link", r.code)
	}
	// The 12th page: 11 pages of denials before it, 10 of them read.
	path := html.UnescapeString(m[1])
	for range 10 {
		r = send(t, acme, http.MethodGet, e.srv.URL+path, nil, nil)
		m = nextLink.FindStringSubmatch(r.body)
		if r.code != http.StatusOK || m == nil {
			t.Fatalf("%s: %d, no next link", path, r.code)
		}
		path = html.UnescapeString(m[1])
	}
	before := st.calls.Load()
	r = send(t, acme, http.MethodGet, e.srv.URL+path, nil, nil)
	if r.code != http.StatusOK || len(flagsOf(r.body)) == 0 || !strings.Contains(r.body, "More denials came before this page") {
		t.Fatalf("the page of the tool calls: %d, %d flags", r.code, len(flagsOf(r.body)))
	}
	if n := st.calls.Load() - before; n > 2*(priorMaxPages+1) {
		t.Errorf("one page view ran %d searches, want at most %d", n, 2*(priorMaxPages+1))
	}
	st.fail = func(f *sink.Filter) bool { return f.Action == record.ActionApprovalDenied && !f.To.IsZero() }
	r = send(t, acme, http.MethodGet, e.srv.URL+path, nil, nil)
	if r.code != http.StatusInternalServerError {
		t.Errorf("a failed look for the earlier denials: %d, want 500", r.code)
	}
	if strings.Contains(r.body, "Tool call") || strings.Contains(r.body, "secret-path") {
		t.Errorf("the failed page shows its records or the store's error\n%s", r.body)
	}
	if !strings.Contains(r.body, "The store could not be read") {
		t.Errorf("the failed page does not say the store could not be read\n%s", r.body)
	}
}

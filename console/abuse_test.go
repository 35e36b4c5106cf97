package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/record"
)

// TestConsole_SignoutEndsTheSessionServerSide: the session id a browser
// held before its sign-out is refused when sent again (a copy of the
// cookie, the browser's back button), not only deleted from the jar.
func TestConsole_SignoutEndsTheSessionServerSide(t *testing.T) {
	e := newEnv(t, 3, false)
	c := e.signedIn(t, adminToken)
	u, _ := url.Parse(e.srv.URL + "/console/")
	held := ""
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			held = ck.Value
		}
	}
	page := send(t, c, http.MethodGet, e.srv.URL+"/console/search", nil, nil)
	if r := send(t, c, http.MethodPost, e.srv.URL+"/console/signout", url.Values{"csrf": {formCSRF(t, page.body)}}, nil); r.code != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", r.code)
	}
	r := send(t, e.client(t), http.MethodGet, e.srv.URL+"/console/search", nil, map[string]string{"Cookie": sessionCookie + "=" + held})
	if r.code != http.StatusSeeOther || strings.Contains(r.body, "agent-a") {
		t.Fatalf("the signed-out session id, sent again: %d, want 303", r.code)
	}
}

// TestConsole_SigninAttemptsBounded: wrong tokens may not be tried at
// the sign-in form as fast as the sidecar answers (a non-browser sets the
// CSRF cookie and field to one value of its choosing): after a few
// failures from one address, its tries are refused with 429 and a
// Retry-After (ratelimit.go).
func TestConsole_SigninAttemptsBounded(t *testing.T) {
	e := newEnv(t, 3, false)
	c := e.client(t)
	var last resp
	for i := range 200 {
		last = send(t, c, http.MethodPost, e.srv.URL+"/console/signin",
			url.Values{"csrf": {"x"}, "token": {fmt.Sprintf("guess-%d", i)}}, map[string]string{"Cookie": signinCookie + "=x"})
	}
	if last.code != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("the 200th wrong token in a row: %d (Retry-After %q), want 429 with Retry-After", last.code, last.header.Get("Retry-After"))
	}
}

// TestConsole_RecordPageMemory: an agent's record may be megabytes
// (source.max_line_bytes, 16 MiB by default). Its record page held the
// payload, its arguments again, and both HTML-escaped (a '"' grows to
// "&#34;") in one buffer, after the query's slot is released: about 50
// times the record's size per request (a 16 MiB record, some 800 MiB),
// with no bound on how many such pages render at once. The page now cuts
// the stored JSON and each field, and says so.
func TestConsole_RecordPageMemory(t *testing.T) {
	const size = 4 << 20
	rec := testRecords(1)[0]
	rec.Arguments = []byte(`{"q":"` + strings.Repeat(`\"`, size/2) + `"}`)
	reader, err := query.NewReader(query.Config{Store: openStore(t, []*record.Record{rec}), Tokens: testTokens(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ui, err := New(Config{Reader: reader})
	if err != nil {
		t.Fatal(err)
	}
	in := httptest.NewRequest(http.MethodPost, "/console/signin", strings.NewReader(url.Values{"csrf": {"x"}, "token": {adminToken}}.Encode()))
	in.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	in.Header.Set("Cookie", signinCookie+"=x")
	signin := httptest.NewRecorder()
	ui.ServeHTTP(signin, in)
	cookie := ""
	for _, ck := range signin.Result().Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	if cookie == "" {
		t.Fatalf("sign-in: %d", signin.Code)
	}
	target := "/console/record?" + url.Values{"chain": {rec.Chain}, "seq": {"1"}, "ts": {record.FormatTime(rec.TS)}}.Encode()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Cookie", cookie)
	w := httptest.NewRecorder()
	ui.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	if w.Code != http.StatusOK {
		t.Fatalf("record page: %d", w.Code)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 16*size {
		t.Fatalf("one record page of a %d MiB record allocated %d MiB", size>>20, got>>20)
	}
	if body := w.Body.String(); len(body) > 2*maxShownRaw+32*maxShownField || !strings.Contains(body, "GET /v1/audit serves it whole") {
		t.Fatalf("record page of %d bytes, or it does not say the record is cut", len(body))
	}
}

// TestConsole_LongStringsInLists: an agent's session id, tool, user or
// approver may be megabytes. The search table and a story showed each
// in full, the session three times (text, title, and the story link,
// percent-encoded: a link no server takes, being longer than its
// headers may be), for every reader whose page held the record. A list
// cuts them, and links to no story longer than a request may be.
func TestConsole_LongStringsInLists(t *testing.T) {
	const size = 1 << 20
	long := strings.Repeat("é", size/2)
	rec := testRecords(1)[0]
	rec.Action, rec.Session, rec.Tool, rec.User, rec.Approver = record.ActionApprovalDenied, long, long, long, long
	rec.Detail = []byte(`{"call_id":"c-1"}`)
	reader, err := query.NewReader(query.Config{Store: openStore(t, []*record.Record{rec}), Tokens: testTokens(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ui, err := New(Config{Reader: reader})
	if err != nil {
		t.Fatal(err)
	}
	in := httptest.NewRequest(http.MethodPost, "/console/signin", strings.NewReader(url.Values{"csrf": {"x"}, "token": {adminToken}}.Encode()))
	in.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	in.Header.Set("Cookie", signinCookie+"=x")
	signin := httptest.NewRecorder()
	ui.ServeHTTP(signin, in)
	cookie := ""
	for _, ck := range signin.Result().Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	for _, target := range []string{"/console/search", "/console/story?call_id=c-1"} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		ui.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", target, w.Code)
		}
		if n := w.Body.Len(); n > size {
			t.Errorf("%s: a page of %d bytes for one record whose strings are %d bytes each", target, n, size)
		}
		for _, m := range hrefAttr.FindAllStringSubmatch(w.Body.String(), -1) {
			if len(m[2]) > 16<<10 {
				t.Errorf("%s: a link of %d bytes", target, len(m[2]))
			}
		}
	}
}

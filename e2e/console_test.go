package e2e

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// consoleEmail is the address in every event's arguments: redaction
// replaces it, and no page may show it.
const consoleEmail = "jane.doe@example.com"

// consoleTrace is the trace id of the call whose approval is denied.
const consoleTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

// TestE2E_Console runs the built binary with server.console on and drives
// the console in headless Chromium: sign-in (a wrong token refused),
// search with filters, a record with its redactions and MAC, sign-out,
// a tenant token that sees its tenant alone, and a session's story with
// a tool that ran after its approval was denied, the story of its trace,
// the overview of a window, and the integrity page
// (consoleIntegrityInBrowser). It keeps a screenshot of the search page
// (docs/img/console-search.png with AUDIT_UPDATE_SCREENSHOT=1), and one
// of the story, the trace's story and the overview.
func TestE2E_Console(t *testing.T) {
	const total = 24
	e := newEnv(t)
	e.chainID = "support-agent" // as the screenshot shows it
	writeFile(t, e.cfgPath, []byte(e.configWithSink(fmt.Sprintf("  - name: local\n    type: sqlite\n    path: %s\n", e.dbPath), "local", "  console: true\n")))
	base := time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC)
	var lines strings.Builder
	for n := range total {
		lines.WriteString(event(map[string]any{
			"ts": base.Add(time.Duration(n) * time.Minute).Format(time.RFC3339Nano), "n": n,
			"action": []string{"tool_call", "tool_result", "model_call"}[n%3], "tool": "mail.send",
			"user": fmt.Sprintf("u-%d", n%3), "tenant": []string{"acme", "globex"}[n%2],
			"session": fmt.Sprintf("s-%d", n%4), "outcome": "success",
			"arguments": map[string]any{"email": consoleEmail, "subject": "invoice"},
		}))
	}
	// A call whose approval is denied, and whose tool runs anyway.
	for i, ev := range []map[string]any{
		{"action": "approval_requested", "tool": "payments.refund", "outcome": "pending"},
		{"action": "approval_denied", "tool": "payments.refund", "outcome": "denied", "approver": "maria"},
		{"action": "tool_result", "tool": "payments.refund", "outcome": "success"},
	} {
		ev["ts"] = base.Add(time.Hour + time.Duration(i)*time.Minute).Format(time.RFC3339Nano)
		ev["n"], ev["user"], ev["tenant"], ev["session"], ev["call_id"] = total+i, "u-9", "acme", "s-hitl", "call-77"
		ev["trace"] = consoleTrace
		lines.WriteString(event(ev))
	}
	const hitl = 3
	appendLines(t, e.logPath, lines.String())
	p := e.start(t)
	addr := p.addr(t)
	waitForEvents(t, openDB(t, e.dbPath), total+hitl, p)

	ctx := newBrowser(t)
	root := "http://" + addr + "/console/"
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	column := func(i int) []string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`[...document.querySelectorAll('tbody tr')].map(r => r.cells[%d].textContent)`, i)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// act runs steps that load a page, then waits for a page whose
	// location contains want and whose body holds sel.
	act := func(want, sel string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
		if !eventually(func() bool {
			loc, err := chromedp.Run(ctx, chromedp.Location())
			return err == nil && strings.Contains(loc, want)
		}) {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("location %q, want it to contain %q", loc, want)
		}
		if err := chromedp.Do(ctx, chromedp.WaitReady(sel)); err != nil {
			t.Fatal(err)
		}
	}

	// Signed out, the console sends to sign-in; a wrong token is refused.
	act("/console/signin", "#token", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(root+"search"))
	act("/console/signin", ".problem", chromedp.SendKeys("#token", "not-a-token"), chromedp.Click("form.signin button"))
	if s := text(); !strings.Contains(s, "The token was not accepted.") {
		t.Fatalf("wrong token: the page says\n%s", s)
	}

	// Sign in as the admin: every tenant.
	act("/console/search", "form.filters", chromedp.SendKeys("#token", e.adminToken), chromedp.Click("form.signin button"))
	if s := text(); !strings.Contains(s, "Signed in as ops (all tenants)") || strings.Contains(s, e.adminToken) {
		t.Fatalf("signed in: the page says\n%s", s)
	}
	tenants := map[string]int{}
	for _, v := range column(4) {
		tenants[v]++
	}
	if tenants["acme"] != total/2+hitl || tenants["globex"] != total/2 {
		t.Errorf("admin sees tenants %v, want %d acme and %d globex", tenants, total/2+hitl, total/2)
	}

	// Search: tool calls of u-0 (n = 0, 3, ... 21: all tool calls, every
	// third event is one, and u-0 is n%3 == 0 too).
	act("action=tool_call", "table",
		chromedp.SetValue("#action", "tool_call"), chromedp.SendKeys("#user", "u-0"),
		chromedp.SendKeys("#from", "2026-11-02T14:00"),
		chromedp.Click("form.filters button[type=submit]"))
	actions, users := column(1), column(3)
	if len(actions) != total/3 {
		t.Errorf("tool calls of u-0: %d rows, want %d\n%s", len(actions), total/3, text())
	}
	for i := range actions {
		if actions[i] != "tool_call" || users[i] != "u-0" {
			t.Errorf("row %d: %s of %s", i, actions[i], users[i])
		}
	}
	from, err := chromedp.Run(ctx, chromedp.Value("#from"))
	if err != nil || from != "2026-11-02T14:00:00Z" {
		t.Errorf("from field %q (%v), want the time taken, in UTC", from, err)
	}
	worst, err := chromedp.Run(ctx, chromedp.Evaluate[contrast](contrastJS))
	if err != nil || worst.Ratio < 4.5 {
		t.Errorf("text %q has contrast %.2f:1 (%v)", worst.Text, worst.Ratio, err)
	}
	levels, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](headingsJS))
	if err != nil || len(levels) == 0 || levels[0] != 1 {
		t.Errorf("headings %v (%v)", levels, err)
	}
	unlabeled, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden]), select')].filter(i => !i.labels || i.labels.length === 0).length`))
	if err != nil || unlabeled != 0 {
		t.Errorf("%d form fields without a label (%v)", unlabeled, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(shot)); err != nil || img.Bounds().Dx() != 1280 {
		t.Fatalf("screenshot: %v", err)
	}
	keepScreenshot(t, "console-search.png", shot)

	// A record: its fields, what was redacted and where, its JSON and MAC.
	act("/console/record", "pre.raw", chromedp.Click("tbody tr:first-child td:last-child a"))
	s := text()
	for _, want := range []string{"Audit record", "tool_call", "u-0", "EMAIL replaced at arguments.email", "MAC (HMAC-SHA256)", `"mac":"`} {
		if !strings.Contains(s, want) {
			t.Errorf("the record page does not show %q", want)
		}
	}
	if strings.Contains(s, consoleEmail) {
		t.Error("the record page shows the redacted address")
	}

	// The overview of a window that holds every event: charts, and a
	// table of each chart's numbers.
	act("/console/overview", "svg.chart", chromedp.Click(`nav a[href="/console/overview"]`))
	act("hours=6", "svg.chart", chromedp.SetValue("#hours", "6"), chromedp.SendKeys("#end", "2026-11-02T16:00"),
		chromedp.Click("form.window button[type=submit]"))
	s = text()
	for _, want := range []string{"From 2026-11-02 10:00 to 2026-11-02 16:00 UTC", fmt.Sprintf("Counted all %d records of the window.", total+hitl),
		"Events per hour, by action", "Approvals against denials", "Parse errors and gaps", "Redactions by type", "EMAIL", "Sink lag and the newest checkpoint", "local"} {
		if !strings.Contains(s, want) {
			t.Errorf("the overview does not say %q\n%s", want, s)
		}
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('svg.chart[role=img]')].filter(c => c.getAttribute('aria-label')).length`))
	if err != nil || charts < 4 {
		t.Errorf("%d labelled charts (%v), want at least 4", charts, err)
	}
	denied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('th')].find(h => h.textContent === 'Approvals denied').nextElementSibling.textContent`))
	if err != nil || denied != "1" {
		t.Errorf("approvals denied in the table: %q (%v), want 1", denied, err)
	}
	if worst, err := chromedp.Run(ctx, chromedp.Evaluate[contrast](contrastJS)); err != nil || worst.Ratio < 4.5 {
		t.Errorf("overview: text %q has contrast %.2f:1 (%v)", worst.Text, worst.Ratio, err)
	}
	unlabeled, err = chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden]), select')].filter(i => !i.labels || i.labels.length === 0).length`))
	if err != nil || unlabeled != 0 {
		t.Errorf("overview: %d form fields without a label (%v)", unlabeled, err)
	}
	if shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "console-overview.png", shot)

	// The integrity page: the verification, its verdict, the evidence.
	consoleIntegrityInBrowser(t, ctx, e)

	// A globex record's address, for the tenant token to try.
	act("tenant=globex", "table", chromedp.Navigate(root+"search?tenant=globex&limit=1"))
	globex, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('tbody td:last-child a').href`))
	if err != nil || !strings.Contains(globex, "/console/record?") {
		t.Fatalf("globex record link %q (%v)", globex, err)
	}

	// Sign out, then in with the acme token: acme alone.
	act("/console/signin", "#token", chromedp.Click("form.signout button"))
	act("/console/signin", "#token", chromedp.Navigate(root+"search"))
	act("/console/search", "table", chromedp.SendKeys("#token", e.acmeToken), chromedp.Click("form.signin button"))
	if s := text(); !strings.Contains(s, "Signed in as acme-auditor (tenant acme)") {
		t.Fatalf("acme signed in: the page says\n%s", s)
	}
	tenants = map[string]int{}
	for _, v := range column(4) {
		tenants[v]++
	}
	if len(tenants) != 1 || tenants["acme"] != total/2+hitl {
		t.Errorf("the acme token sees tenants %v, want %d acme alone", tenants, total/2+hitl)
	}

	// The story of the session whose denied tool ran anyway.
	act("/console/story", "ol.story", chromedp.Click(`a[href="/console/story?session=s-hitl"]`))
	if s := text(); !strings.Contains(s, "Approval denied by maria for payments.refund") ||
		!strings.Contains(s, "Flagged: The tool ran after its approval was denied.") {
		t.Errorf("the session's story says\n%s", s)
	}
	flagged, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('ol.story li.flagged').length`))
	if err != nil || flagged != 1 {
		t.Errorf("%d flagged steps (%v), want 1", flagged, err)
	}
	shot, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "console-story.png", shot)

	// From a record of the story to the story of its trace.
	act("/console/record", "pre.raw", chromedp.Click(`ol.story li.flagged a`))
	act("/console/story?trace=", "ol.story", chromedp.Click(`a[href="/console/story?trace=`+consoleTrace+`"]`))
	if s := text(); !strings.Contains(s, "The story of trace "+consoleTrace) || !strings.Contains(s, "Approval requested for payments.refund") ||
		!strings.Contains(s, "Flagged: The tool ran after its approval was denied.") {
		t.Errorf("the trace's story says\n%s", s)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('ol.story li').length`)); err != nil || n != hitl {
		t.Errorf("the trace's story has %d steps (%v), want %d", n, err, hitl)
	}
	shot, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "console-trace.png", shot)
	act("tenant=globex", "main", chromedp.Navigate(root+"search?tenant=globex"))
	if s := text(); !strings.Contains(s, "may read only the records of its own tenant") || strings.Contains(s, "globex\t") {
		t.Errorf("acme asking for globex: the page says\n%s", s)
	}
	act("/console/record", "main", chromedp.Navigate(globex))
	if s := text(); !strings.Contains(s, "Record not shown") || strings.Contains(s, `"tenant":"globex"`) {
		t.Errorf("acme opening a globex record: the page says\n%s", s)
	}
}

// keepScreenshot writes shot to docs/img/name when the environment sets
// AUDIT_UPDATE_SCREENSHOT=1.
func keepScreenshot(t *testing.T, name string, shot []byte) {
	t.Helper()
	if os.Getenv("AUDIT_UPDATE_SCREENSHOT") != "1" {
		return
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "docs", "img", name), shot)
	t.Logf("wrote docs/img/%s (%d bytes)", name, len(shot))
}

package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// storyLimit is how many records a story page shows: the API's largest
// page, read in one query.
const storyLimit = query.MaxLimit

// storyOf are the parameters a story is of, with their names in words.
var storyOf = []struct{ param, words string }{
	{"session", "session"}, {"trace", "trace"}, {"call_id", "call id"},
}

// callOf is the call id's place in storyOf: last, the one parameter that
// may come with another (its scope).
const callOf = 2

type storyView struct {
	Of, Value string // "session", "trace" or "call id", and which
	// In and InValue scope a call id's story to one trace or session
	// ("trace" or "session", and which); Everywhere is then the call id's
	// story in every trace and session.
	In, InValue string
	Everywhere  string
	Problem     string
	Steps       []stepView
	Flagged     int
	Next        string // the story's next page, "" when it is whole
	// Continued: a page after the story's first, whose flags count the
	// denials of the earlier pages too (priorDenials); PriorCut: there were
	// more of them than one look reads, which reads them oldest first: the
	// newest, logged after PriorFrom (all of them when it is ""), were not
	// counted.
	Continued, PriorCut bool
	PriorFrom           string
}

// priorMaxPages bounds the pages of denials priorDenials reads.
const priorMaxPages = 10

// denial is a call id's approval denied in a chain.
type denial struct{ call, chain string }

// priorDenials returns the story's approval_denied records before first,
// the first row of a page after the story's first (q: that page's query),
// so that a tool that ran after a denial is flagged whatever the records
// logged between them: otherwise an agent could log a page's worth of
// records between the two to have neither page flag it. One query of the
// story's scope (its index) and action; cut says it read priorMaxPages
// pages of them and stopped: the pages are in the story's order, so the
// denials left uncounted are the newest, those after upto (the last one
// read; "" when none was). Of each it keeps the call id and the chain,
// once a pair, in their order: not the records (megabytes each, maybe,
// and ten pages of them).
func (c *console) priorDenials(r *http.Request, ss *session, q url.Values, first *sink.Row) (prior []denial, cut bool, upto string, err error) {
	ts, err := query.ParseTime(first.TS)
	if err != nil {
		return nil, false, "", err
	}
	dq := url.Values{"action": {record.ActionApprovalDenied}, "limit": {strconv.Itoa(storyLimit)}}
	// to is exclusive: the instant after first's, unless first's is the
	// last instant a query can name (an agent writes its records' times),
	// when no bound is needed.
	if to := ts.Add(time.Nanosecond); to.Year() <= 9999 {
		dq.Set("to", record.FormatTime(to))
	}
	for _, o := range storyOf {
		if val := q.Get(o.param); val != "" {
			dq.Set(o.param, val)
		}
	}
	before := func(row *sink.Row) bool {
		if row.TS != first.TS {
			t, err := query.ParseTime(row.TS)
			return err == nil && t.Before(ts)
		}
		return row.Chain < first.Chain || row.Chain == first.Chain && row.Seq < first.Seq
	}
	seen := map[denial]bool{}
	for range priorMaxPages {
		page, err := c.reader.Page(r.Context(), ss.principal, dq.Encode())
		if err != nil {
			return nil, false, "", err
		}
		for i := range page.Rows {
			row := &page.Rows[i]
			if !before(row) {
				continue
			}
			upto = row.TS
			rec, _ := record.Parse(row.Payload)
			if rec == nil || rec.Action != record.ActionApprovalDenied {
				continue
			}
			if d := (denial{callID(rec.Detail), row.Chain}); d.call != "" && !seen[d] {
				seen[d] = true
				prior = append(prior, d)
			}
		}
		if page.Next == "" {
			return prior, false, upto, nil
		}
		dq.Set("cursor", page.Next) // with limit: the next page is as large
	}
	return prior, true, upto, nil
}

type stepView struct {
	TS, Action, Words, CallID, Outcome, Link string
	// Chain is the record's chain: which agent's sidecar logged it (the
	// session id and the call id are what the agents wrote).
	Chain string
	// Flag says why a person should look at the step ("" for nothing).
	Flag string
}

// callStoryLink is the story of a record's call id, within the record's
// trace, or its session when it has no trace (or one too long for a
// link), or everywhere when it has neither; link is "" for a call id too
// long for any link, and in names the scope ("trace", "session" or "").
// The call id has no index of its own (it lives in the payload's detail,
// and an index of it would cost every insert a JSON parse): scoped, the
// story is one query of the trace's or the session's index with the call
// id checked row by row; everywhere, it reads the time index window by
// window (the search budget) with a link to the rest.
func callStoryLink(call string, rec *record.Record) (link, in string) {
	for _, sc := range []struct{ param, value string }{{"trace", rec.Trace}, {"session", rec.Session}} {
		if sc.value != "" && len(call)+len(sc.value) <= maxLinkValue {
			return Prefix + "story?" + url.Values{"call_id": {call}, sc.param: {sc.value}}.Encode(), sc.param
		}
	}
	return storyLink("call_id", call), ""
}

// serveStory shows every record of one session, trace or call id (a call
// id within one trace or session too), in order, as a timeline in words,
// flagging a tool that ran after its approval was denied. It reads one
// page of /v1/audit (session=, trace= or call_id=, and call_id= with
// trace= or session=) through query.Reader, so the token's tenant scope
// holds.
func (c *console) serveStory(w http.ResponseWriter, r *http.Request, _ string, ss *session) {
	in := r.URL.Query()
	v := storyView{}
	q := url.Values{"limit": {strconv.Itoa(storyLimit)}}
	var named []int
	for i, o := range storyOf {
		if val := in.Get(o.param); val != "" {
			named = append(named, i)
			q.Set(o.param, val)
		}
	}
	switch {
	case len(named) == 1:
		o := storyOf[named[0]]
		v.Of, v.Value = o.words, in.Get(o.param)
	case len(named) == 2 && named[1] == callOf:
		// A call id within a session or a trace.
		o := storyOf[named[0]]
		v.Of, v.Value = "call id", in.Get("call_id")
		v.In, v.InValue = o.words, in.Get(o.param)
		v.Everywhere = storyLink("call_id", v.Value)
	default:
		v = storyView{Problem: "Open a story from a session, a trace or a call id of the search page or of a record."}
		c.render(w, http.StatusBadRequest, "story", ss, v)
		return
	}
	if cur := in.Get("cursor"); cur != "" {
		q.Set("cursor", cur)
		v.Continued = true
	}
	log := c.log.With(zap.String("token", ss.principal.Name()), zap.String("remote", r.RemoteAddr))
	page, err := c.reader.Page(r.Context(), ss.principal, q.Encode())
	if err != nil {
		status, msg := c.readFailed(w, r, err, log)
		v.Problem = msg
		c.render(w, status, "story", ss, v)
		return
	}
	var prior []denial
	if v.Continued && len(page.Rows) > 0 {
		if prior, v.PriorCut, v.PriorFrom, err = c.priorDenials(r, ss, q, &page.Rows[0]); err != nil {
			status, msg := c.readFailed(w, r, err, log)
			v.Problem = msg
			c.render(w, status, "story", ss, v)
			return
		}
	}
	v.Steps = storySteps(prior, page.Rows)
	for _, s := range v.Steps {
		if s.Flag != "" {
			v.Flagged++
		}
	}
	if page.Next != "" {
		q.Del("limit")
		q.Set("cursor", page.Next)
		v.Next = Prefix + "story?" + q.Encode()
	}
	log.Info("console story served", zap.Int("records", len(v.Steps)), zap.Int("flagged", v.Flagged))
	c.render(w, http.StatusOK, "story", ss, v)
}

// storySteps puts rows (in the order of /v1/audit: by event time) in
// words, and flags a tool call or result whose call id's approval was
// denied before it, on this page or in prior (the denials of the story's
// earlier pages, in their order, not shown).
func storySteps(prior []denial, rows []sink.Row) []stepView {
	// The denials seen, by call id and chain, and by call id alone (the
	// first chain that logged one).
	deniedIn, denied := map[[2]string]bool{}, map[string]string{}
	for _, d := range prior {
		if _, seen := denied[d.call]; !seen {
			denied[d.call] = d.chain
		}
		deniedIn[[2]string{d.call, d.chain}] = true
	}
	steps := make([]stepView, 0, len(rows))
	for i := range rows {
		row := &rows[i]
		s := stepView{TS: row.TS, Action: row.Action, Outcome: row.Outcome, Link: rowOf(row).Link,
			Chain: cut(row.Chain, maxShownCell)}
		rec, _ := record.Parse(row.Payload)
		if rec == nil {
			s.Words = "A record whose payload does not decode (run verify)"
			steps = append(steps, s)
			continue
		}
		call := callID(rec.Detail)
		s.CallID = cut(call, maxShownCell)
		s.Words = words(rec)
		switch rec.Action {
		case record.ActionApprovalDenied:
			if _, seen := denied[call]; call != "" && !seen {
				denied[call] = row.Chain
			}
			if call != "" {
				deniedIn[[2]string{call, row.Chain}] = true
			}
		case record.ActionToolCall, record.ActionToolResult:
			by, seen := denied[call]
			switch {
			case !seen || rec.Outcome == "denied":
			case deniedIn[[2]string{call, row.Chain}]:
				s.Flag = "The tool ran after its approval was denied."
			default:
				s.Flag = "The tool ran after an approval of its call id was denied in chain " + cut(by, maxShownCell) + ", not this one: check which agent logged that denial."
			}
		}
		steps = append(steps, s)
	}
	return steps
}

// words says what a record is, in a few words.
func words(rec *record.Record) string {
	tool := cut(rec.Tool, maxShownCell)
	if tool == "" {
		tool = "a tool"
	}
	by := ""
	if rec.Approver != "" {
		by = " by " + cut(rec.Approver, maxShownCell)
	}
	switch rec.Action {
	case record.ActionModelCall:
		if rec.Model != "" {
			return "Model call to " + cut(rec.Model, maxShownCell)
		}
		return "Model call"
	case record.ActionToolCall:
		return "Tool call: " + tool
	case record.ActionToolResult:
		return "Tool result of " + tool
	case record.ActionApprovalRequested:
		return "Approval requested for " + tool
	case record.ActionApprovalGranted:
		return "Approval granted" + by + " for " + tool
	case record.ActionApprovalDenied:
		return "Approval denied" + by + " for " + tool
	case record.ActionDecision:
		return "Decision of the agent"
	case record.ActionError:
		return "Error"
	}
	return rec.Action
}

// callID is detail.call_id as text ("" if none): a string's value, other
// JSON as written (as the stores match it).
func callID(detail json.RawMessage) string {
	if len(detail) == 0 {
		return ""
	}
	var d struct {
		CallID json.RawMessage `json:"call_id"`
	}
	if json.Unmarshal(detail, &d) != nil || len(d.CallID) == 0 || string(d.CallID) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(d.CallID, &s) == nil {
		return s
	}
	return string(d.CallID)
}

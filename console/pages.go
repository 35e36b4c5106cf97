package console

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// DefaultPageSize is a search page's size when the form names none.
const DefaultPageSize = 50

// searchParams are the parameters of /v1/audit the search form sends, in
// the form's order; an empty one is left out (the API refuses empty
// values, a form sends every field).
var searchParams = []string{"from", "to", "tenant", "user", "action", "tool", "outcome", "model", "session", "trace", "chain", "call_id", "limit", "cursor"}

// localTime is a time as a person types it without a zone (or as a
// datetime-local field sends it): taken as UTC.
var localTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$`)

// utc completes a time typed without a zone as UTC; other text is left to
// the API's parser.
func utc(s string) string {
	if !localTime.MatchString(s) {
		return s
	}
	switch len(s) {
	case len("2006-01-02"):
		return s + "T00:00:00Z"
	case len("2006-01-02T15:04"):
		return s + ":00Z"
	}
	return s + "Z"
}

type searchView struct {
	Form     map[string]string // the filters, as the page was asked for
	Actions  []string
	Outcomes []string
	Scope    string // the token's tenant: the tenant field is fixed to it
	Problem  string
	Rows     []rowView
	Next     string // the next page's URL, "" on the last
	Cursor   bool   // this page was reached by a cursor
}

type rowView struct {
	TS, Action, User, Tenant, Tool, Outcome, Session, Chain string
	Seq                                                     uint64
	Link                                                    string
	Story                                                   string // the session's story, "" without a session
}

func (c *console) serveSearch(w http.ResponseWriter, r *http.Request, _ string, ss *session) {
	in := r.URL.Query()
	v := searchView{Form: map[string]string{}, Actions: record.Actions, Outcomes: record.Outcomes,
		Scope: ss.principal.Tenant()}
	q := url.Values{}
	for name, vals := range in {
		for _, val := range vals {
			if val == "" {
				continue // an empty field of the form
			}
			if name == "from" || name == "to" {
				val = utc(val)
			}
			q.Add(name, val)
		}
	}
	for _, name := range searchParams {
		v.Form[name] = q.Get(name)
	}
	if !q.Has("limit") {
		q.Set("limit", strconv.Itoa(DefaultPageSize))
	}
	v.Cursor = q.Has("cursor")
	log := c.log.With(zap.String("token", ss.principal.Name()), zap.String("remote", r.RemoteAddr))
	page, err := c.reader.Page(r.Context(), ss.principal, q.Encode())
	if err != nil {
		status, msg := c.readFailed(w, r, err, log)
		v.Problem = msg
		c.render(w, status, "search", ss, v)
		return
	}
	for i := range page.Rows {
		v.Rows = append(v.Rows, rowOf(&page.Rows[i]))
	}
	if page.Next != "" {
		q.Set("cursor", page.Next)
		v.Next = Prefix + "search?" + q.Encode()
	}
	log.Info("console search served", zap.Int("records", len(v.Rows)), zap.Bool("more", v.Next != ""))
	c.render(w, http.StatusOK, "search", ss, v)
}

func rowOf(row *sink.Row) rowView {
	link := url.Values{"chain": {row.Chain}, "seq": {strconv.FormatUint(row.Seq, 10)}, "ts": {row.TS}}
	v := rowView{TS: row.TS, Action: row.Action, User: cut(row.User, maxShownCell), Tenant: cut(row.Tenant, maxShownCell),
		Tool: cut(row.Tool, maxShownCell), Outcome: row.Outcome, Session: cut(row.Session, maxShownCell),
		Chain: cut(row.Chain, maxShownCell), Seq: row.Seq, Link: Prefix + "record?" + link.Encode()}
	if row.Session != "" {
		v.Story = storyLink("session", row.Session)
	}
	return v
}

// readFailed maps an error of query.Reader to a status and words for the
// reader; the store's own errors are logged, never shown.
func (c *console) readFailed(w http.ResponseWriter, r *http.Request, err error, log *zap.Logger) (int, string) {
	perr := (*query.ParamError)(nil)
	switch {
	case errors.As(err, &perr):
		log.Info("console search rejected", zap.String("param", perr.Param), zap.String("reason", perr.Reason))
		return http.StatusBadRequest, "Not searched: " + perr.Error() + "."
	case errors.Is(err, query.ErrOutOfScope):
		log.Warn("console search forbidden", zap.String("reason", "tenant"))
		return http.StatusForbidden, "Your token may read only the records of its own tenant."
	case errors.Is(err, query.ErrBusy):
		w.Header().Set("Retry-After", "1")
		return http.StatusTooManyRequests, "Too many searches are running. Try again in a moment."
	case errors.Is(err, query.ErrStoreSlow):
		return http.StatusServiceUnavailable, "The store took too long for this search; narrow it (from, to)."
	case errors.Is(err, query.ErrNotFound):
		return http.StatusNotFound, "There is no such record, or it is outside your token's tenant."
	}
	if r.Context().Err() != nil {
		log.Info("console read canceled", zap.Error(err))
		return http.StatusServiceUnavailable, "The request was canceled."
	}
	log.Error("console read failed", zap.Error(err))
	return http.StatusInternalServerError, "The store could not be read. The error is in the sidecar's log."
}

type recordView struct {
	Fields     []fieldView
	Policy     string
	Redactions []string
	Raw        string // the stored payload with its MAC, as /v1/audit serves it
	Problem    string
	Session    string // the story of the record's session, "" when it has none
	Trace      string // the story of the record's trace, "" when it has none
	Call       string // the story of the record's call id, "" when it has none
	CallIn     string // the scope of Call: "trace", "session" or "" (everywhere)
}

// storyLink is the story of a session, trace or call id, "" for a value longer
// than maxLinkValue.
func storyLink(param, value string) string {
	if len(value) > maxLinkValue {
		return "" // a link no server would take (server.MaxHeaderBytes)
	}
	return Prefix + "story?" + url.Values{param: {value}}.Encode()
}

type fieldView struct {
	Name, Value string
}

func (c *console) serveRecord(w http.ResponseWriter, r *http.Request, _ string, ss *session) {
	in := r.URL.Query()
	log := c.log.With(zap.String("token", ss.principal.Name()), zap.String("remote", r.RemoteAddr))
	seq, serr := strconv.ParseUint(in.Get("seq"), 10, 64)
	ts, terr := query.ParseTime(in.Get("ts"))
	var row *sink.Row
	err := query.ErrNotFound
	if serr == nil && terr == nil {
		row, err = c.reader.Record(r.Context(), ss.principal, in.Get("chain"), seq, ts)
	}
	if err != nil {
		status, msg := c.readFailed(w, r, err, log)
		c.render(w, status, "error", ss, errorView{Title: "Record not shown", Message: msg})
		return
	}
	v := recordView{Raw: cut(rawJSON(row), maxShownRaw)}
	rec, err := record.Parse(row.Payload)
	switch {
	case rec == nil:
		v.Problem = "The stored payload does not decode as a record; its text is below as stored. Run verify on this store."
	case err != nil:
		v.Problem = "The stored payload is not in canonical form; verify reports it. Its fields as read:"
	}
	if len(row.Payload) > maxShownRaw {
		v.Problem = strings.TrimSpace(fmt.Sprintf("%s This record is %d bytes: here its stored JSON is cut at %d bytes and each field at %d; GET /v1/audit serves it whole.",
			v.Problem, len(row.Payload), maxShownRaw, maxShownField))
	}
	if rec != nil {
		v.Fields = fieldsOf(rec, row)
		v.Policy, v.Redactions = redactionsOf(rec)
		if rec.Session != "" {
			v.Session = storyLink("session", rec.Session)
		}
		if rec.Trace != "" {
			v.Trace = storyLink("trace", rec.Trace)
		}
		if id := callID(rec.Detail); id != "" {
			v.Call, v.CallIn = callStoryLink(id, rec)
		}
	}
	log.Info("console record served", zap.String("chain", row.Chain), zap.Uint64("seq", row.Seq))
	c.render(w, http.StatusOK, "record", ss, v)
}

// rawJSON is the row's payload with its MAC as a final "mac" member,
// byte for byte what /v1/audit serves (record.AppendJSON).
func rawJSON(row *sink.Row) string {
	return string(row.Payload[:len(row.Payload)-1]) + `,"mac":"` + hex.EncodeToString(row.MAC) + `"}`
}

func fieldsOf(rec *record.Record, row *sink.Row) []fieldView {
	f := []fieldView{
		{"Chain", rec.Chain},
		{"Sequence", strconv.FormatUint(rec.Seq, 10)},
		{"Event time (UTC)", record.FormatTime(rec.TS)},
		{"Ingested at (UTC)", record.FormatTime(rec.IngestedAt)},
		{"Action", rec.Action},
		{"Outcome", rec.Outcome},
		{"User", rec.User},
		{"Tenant", rec.Tenant},
		{"Agent", rec.Agent},
		{"Session", rec.Session},
		{"Trace", rec.Trace},
		{"Model", rec.Model},
		{"Tool", rec.Tool},
		{"Approver", rec.Approver},
		{"Arguments (after redaction)", string(rec.Arguments)},
		{"Detail (after redaction)", string(rec.Detail)},
	}
	if s := rec.Source; s != nil {
		f = append(f, fieldView{"Source", fmt.Sprintf("%s at byte %d", s.File, s.Offset)})
	}
	f = append(f,
		fieldView{"Key id", rec.Kid},
		fieldView{"Record format version", strconv.Itoa(rec.V)},
	)
	if rec.Epoch > 0 {
		f = append(f, fieldView{"Key epoch", strconv.FormatUint(rec.Epoch, 10)})
	}
	f = append(f,
		fieldView{"Previous record's MAC", rec.Prev},
		fieldView{"MAC (HMAC-SHA256)", hex.EncodeToString(row.MAC)},
	)
	out := f[:0]
	for _, x := range f {
		if x.Value != "" {
			out = append(out, fieldView{x.Name, cut(x.Value, maxShownField)})
		}
	}
	return out
}

// A record page shows at most maxShownRaw bytes of the stored JSON and
// maxShownField of each field: an agent's record may be megabytes
// (source.max_line_bytes), and its page, escaped, many times that.
// A list (the search table, a story) shows at most maxShownCell bytes of
// a record's string, and links to no story of a value longer than
// maxLinkValue.
const (
	maxShownRaw   = 1 << 20
	maxShownField = 64 << 10
	maxShownCell  = 512
	maxLinkValue  = 2 << 10
)

// cut is s cut to at most n bytes, at a rune's start, marked with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// redactionsOf says what redaction replaced and where, never a value:
// "EMAIL replaced at arguments.email".
func redactionsOf(rec *record.Record) (policy string, lines []string) {
	if m := rec.Manifest; m != nil {
		for _, h := range m.Rules {
			for _, p := range h.Paths {
				lines = append(lines, h.Type+" replaced at "+p+" (rule "+h.Rule+")")
			}
			switch {
			case h.More > 0:
				lines = append(lines, fmt.Sprintf("%s replaced at %d more places (rule %s)", h.Type, h.More, h.Rule))
			case len(h.Paths) == 0:
				lines = append(lines, fmt.Sprintf("%s replaced %d times (rule %s)", h.Type, h.Count, h.Rule))
			}
		}
		return m.Policy, lines
	}
	for typ, n := range rec.Redactions {
		lines = append(lines, fmt.Sprintf("%s replaced %d times (a version 1 record: places not recorded)", typ, n))
	}
	slices.Sort(lines)
	return "", lines
}

package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// fipsAgents reads what a fipsagents (Python) agent writes to stderr
// without code change: stdlib logging lines "LEVEL:logger:message". The
// audit loggers' key=value lines and the tracing logger's whole-trace JSON
// (at DEBUG) become audit records; any other line becomes an other record
// with the line in detail.message. It remembers the tools whose approval
// was asked and not yet decided (bounded by MaxPending), to infer the
// decision, which fipsagents does not log.
type fipsAgents struct {
	asked bounded[bool] // tool -> an approval is pending
}

func newFipsAgents() Dialect { return &fipsAgents{} }

func (d *fipsAgents) Parse(l Line, now time.Time, emit func(*record.Record)) {
	parseWith(l, now, emit, d.parse)
}

var (
	logLineRE  = regexp.MustCompile(`^(DEBUG|INFO|WARNING|ERROR|CRITICAL):([^:]*):(.*)$`)
	questionRE = regexp.MustCompile(`Tool '([^']*)' requires approval\. Arguments: (.*)\. Approve\?`)
	deniedRE   = regexp.MustCompile(`^DENIED: Tool '([^']*)' was denied by the operator\.`)
	traceRE    = regexp.MustCompile(`^trace ([^ :]+): (\{.*)$`)
	requestRE  = regexp.MustCompile(`(?:^| )request_id=([^ ]+)`)
)

// The audit lines' keys, in the order fipsagents writes them; a value runs
// to the next key (the last one to the end of the line).
var auditKeys = map[string][]string{
	"permission_decision":     {"tool", "action", "rule_id", "mode"},
	"tool_inspection_finding": {"tool", "call_id", "category", "severity", "argument", "description"},
	"limit_exceeded":          {"type", "threshold", "actual"},
	"doom_loop_detected":      {"tool", "repeat_count", "args"},
}

const inferredNote = "inferred: fipsagents does not log the operator's decision"

func (d *fipsAgents) parse(text []byte, _ time.Time) ([]*record.Record, error) {
	line := string(text)
	m := logLineRE.FindStringSubmatch(line)
	if m == nil {
		return d.plain(line, fields{{"message", quote(line)}}), nil
	}
	level, logger, msg := m[1], m[2], m[3]
	base := fields{{"level", quote(level)}, {"logger", quote(logger)}}
	if logger == "fipsagents.tracing" {
		if t := traceRE.FindStringSubmatch(msg); t != nil {
			rs, err := d.trace(t[1], []byte(t[2]))
			if err != nil {
				return nil, err
			}
			return rs, nil
		}
	}
	if strings.HasPrefix(logger, "fipsagents.security.audit") {
		event, _, _ := strings.Cut(msg, " ")
		if keys, ok := auditKeys[event]; ok {
			if rid := requestRE.FindStringSubmatch(msg); rid != nil {
				base = append(base, member{"request_id", quote(rid[1])})
				msg = strings.Replace(msg, rid[0], "", 1)
			}
			return d.audit(event, keyValues(msg[len(event):], keys), base), nil
		}
	}
	return d.plain(msg, append(base, member{"message", quote(msg)})), nil
}

// plain records a line that is no audit event: an other record, or the
// approval records its text shows (a question, a denial).
func (d *fipsAgents) plain(msg string, f fields) []*record.Record {
	if q := questionRE.FindStringSubmatch(msg); q != nil {
		return []*record.Record{d.question(q[1], pyArgs(q[2]), "", f)}
	}
	if q := deniedRE.FindStringSubmatch(msg); q != nil {
		return []*record.Record{d.denied(q[1], "", time.Time{}, f)}
	}
	r := newRecord(record.ActionOther, time.Time{})
	r.Detail = f.object()
	return []*record.Record{r}
}

func (d *fipsAgents) question(tool string, args json.RawMessage, callID string, f fields) *record.Record {
	d.asked.put(tool, true)
	r := newRecord(record.ActionApprovalRequested, time.Time{})
	r.Tool, r.Arguments, r.Outcome = tool, args, "pending"
	f = slices.Clone(f)
	f.str("call_id", callID)
	r.Detail = f.object()
	return r
}

func (d *fipsAgents) denied(tool, callID string, ts time.Time, f fields) *record.Record {
	d.asked.del(tool)
	r := newRecord(record.ActionApprovalDenied, ts)
	r.Tool, r.Outcome = tool, "denied"
	f = slices.Clone(f)
	f.str("call_id", callID)
	f.str("inferred", inferredNote+"; the tool's result says it was denied")
	r.Detail = f.object()
	return r
}

// granted returns the inferred approval_granted record when an approval
// of tool was pending, else nil.
func (d *fipsAgents) granted(tool string, ts time.Time, f fields) *record.Record {
	if _, ok := d.asked.get(tool); !ok {
		return nil
	}
	d.asked.del(tool)
	r := newRecord(record.ActionApprovalGranted, ts)
	r.Tool, r.Outcome = tool, "approved"
	f = slices.Clone(f)
	f.str("inferred", inferredNote+"; the tool ran after its approval was asked")
	r.Detail = f.object()
	return r
}

// keyValues splits " k1=v1 k2=v2 ..." by the expected keys: a value may
// hold spaces and even "=", and runs to the next expected key.
func keyValues(s string, keys []string) map[string]string {
	out := map[string]string{}
	type at struct {
		key        string
		start, val int
	}
	var found []at
	pos := 0
	for _, k := range keys {
		i := strings.Index(s[pos:], " "+k+"=")
		if i < 0 {
			continue
		}
		i += pos
		found = append(found, at{k, i, i + len(k) + 2})
		pos = i + len(k) + 2
	}
	for i, f := range found {
		end := len(s)
		if i+1 < len(found) {
			end = found[i+1].start
		}
		v := s[f.val:end]
		if v == "None" {
			v = ""
		}
		out[f.key] = v
	}
	return out
}

func (d *fipsAgents) audit(event string, kv map[string]string, base fields) []*record.Record {
	f := append(slices.Clone(base), member{"event", quote(event)})
	var r *record.Record
	switch event {
	case "permission_decision":
		r = newRecord(record.ActionDecision, time.Time{})
		r.Tool = kv["tool"]
		switch kv["action"] {
		case "allow":
			r.Outcome = "approved"
		case "deny":
			r.Outcome = "denied"
		case "ask":
			r.Outcome = "pending"
			d.asked.put(r.Tool, true)
		default:
			r.Outcome = "unknown"
		}
		f.str("permission", kv["action"])
		f.str("rule_id", kv["rule_id"])
		f.str("mode", kv["mode"])
	case "tool_inspection_finding":
		r = newRecord(record.ActionDecision, time.Time{})
		r.Tool = kv["tool"]
		for _, k := range []string{"call_id", "category", "severity", "argument", "description"} {
			f.str(k, kv[k])
		}
	case "limit_exceeded":
		r = newRecord(record.ActionError, time.Time{})
		r.Outcome = "failure"
		f.str("limit_type", kv["type"])
		f.str("threshold", kv["threshold"])
		f.str("actual", kv["actual"])
	case "doom_loop_detected":
		r = newRecord(record.ActionError, time.Time{})
		r.Tool, r.Outcome = kv["tool"], "failure"
		if a := kv["args"]; a != "" {
			r.Arguments = pyArgs(a) // a Python repr: as JSON when a literal
		}
		f.str("repeat_count", kv["repeat_count"])
	}
	r.Detail = f.object()
	return []*record.Record{r}
}

// fipsTrace is a whole trace as fipsagents.tracing logs it at DEBUG.
type fipsTrace struct {
	TraceID   string     `json:"trace_id"`
	RequestID string     `json:"request_id"`
	StartedAt string     `json:"started_at"`
	EndedAt   string     `json:"ended_at"`
	Model     string     `json:"model"`
	SessionID string     `json:"session_id"`
	Status    string     `json:"status"`
	Spans     []fipsSpan `json:"spans"`
}

type fipsSpan struct {
	SpanID       string                     `json:"span_id"`
	ParentSpanID string                     `json:"parent_span_id"`
	Name         string                     `json:"name"`
	StartTime    *float64                   `json:"start_time"`
	EndTime      *float64                   `json:"end_time"`
	Status       string                     `json:"status"`
	Attributes   map[string]json.RawMessage `json:"attributes"`
	Events       []struct {
		Name      string          `json:"name"`
		Timestamp *float64        `json:"timestamp"`
		Body      json.RawMessage `json:"body"`
	} `json:"events"`
}

// fipsCall is a tool call joined from a model_call span's tool_call_delta
// events.
type fipsCall struct {
	id, name string
	args     strings.Builder
	used     bool
	at       time.Time
}

func (d *fipsAgents) trace(id string, text []byte) ([]*record.Record, error) {
	var t fipsTrace
	dec := json.NewDecoder(bytes.NewReader(text))
	if err := dec.Decode(&t); err != nil || dec.More() {
		return nil, errors.New("fipsagents trace: invalid JSON or wrong types")
	}
	if t.TraceID == "" {
		t.TraceID = id
	}
	started, ok := parseTime(t.StartedAt)
	if !ok {
		return nil, errors.New("fipsagents trace: started_at is not an ISO 8601 time")
	}
	ended, _ := parseTime(t.EndedAt)
	// Span times are monotonic seconds: the request span starts at
	// started_at (else the earliest span does).
	spans := slices.Clone(t.Spans)
	slices.SortStableFunc(spans, func(a, b fipsSpan) int { return cmpFloat(a.StartTime, b.StartTime) })
	var t0 *float64
	for _, s := range spans {
		if s.Name == "request" && s.StartTime != nil {
			t0 = s.StartTime
			if t.RequestID == "" {
				t.RequestID = unquoteOr(s.Attributes["request_id"])
			}
			break
		}
	}
	if t0 == nil && len(spans) > 0 {
		t0 = spans[0].StartTime
	}
	at := func(x *float64) time.Time {
		if x == nil || t0 == nil || math.IsNaN(*x-*t0) || math.Abs(*x-*t0) > 1e9 {
			return started
		}
		// Microseconds: the floats' rounding noise stays out of the record.
		return started.Add(time.Duration(math.Round((*x-*t0)*1e6)) * time.Microsecond)
	}
	mk := func(action string, ts time.Time, s *fipsSpan, f fields) *record.Record {
		r := newRecord(action, ts)
		r.Trace, r.Session, r.Model = t.TraceID, t.SessionID, t.Model
		if s != nil {
			f = append(f, member{"span_id", quote(s.SpanID)})
			f.str("span_name", s.Name)
		}
		f = append(f, member{"logger", quote("fipsagents.tracing")})
		r.Detail = f.object()
		return r
	}
	var out []*record.Record
	var calls []*fipsCall
	for i := range spans {
		s := &spans[i]
		switch {
		case s.Name == "request" || strings.HasPrefix(s.Name, "step:"):
		case s.Name == "model_call":
			var f fields
			f.val("attributes", s.Attributes)
			f.str("end_ts", record.FormatTime(at(s.EndTime)))
			f.str("status", s.Status)
			r := mk(record.ActionModelCall, at(s.StartTime), s, f)
			if m := unquoteOr(s.Attributes["model"]); m != "" {
				r.Model = m
			}
			r.Outcome = fipsOutcome(s.Status, false)
			out = append(out, r)
			calls = append(calls, joinDeltas(s, at)...)
		case strings.HasPrefix(s.Name, "tool:"):
			out = append(out, d.toolSpan(s, calls, at, mk)...)
		default:
			var f fields
			f.val("attributes", s.Attributes)
			f.str("status", s.Status)
			out = append(out, mk(record.ActionOther, at(s.StartTime), s, f))
		}
	}
	for _, c := range calls {
		if c.used {
			continue
		}
		var f fields
		f.str("call_id", c.id)
		f.str("note", "asked for by the model; the trace has no span of it running")
		r := mk(record.ActionToolCall, c.at, nil, f)
		r.Tool, r.Arguments = c.name, jsonString(c.args.String())
		out = append(out, r)
	}
	if t.Status != "" && t.Status != "ok" || len(out) == 0 {
		var f fields
		f.str("status", t.Status)
		f.val("spans", len(t.Spans))
		if !ended.IsZero() {
			f.str("end_ts", record.FormatTime(ended))
		}
		action := record.ActionOther
		r := mk(action, started, nil, f)
		if t.Status != "" && t.Status != "ok" {
			r.Action, r.Outcome = record.ActionError, "failure"
		}
		out = append(out, r)
	}
	if t.RequestID != "" { // for a join with the gateway's request log
		for _, r := range out {
			addDetail(r, "request_id", quote(t.RequestID))
		}
	}
	return out, nil
}

func cmpFloat(a, b *float64) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	case *a < *b:
		return -1
	case *a > *b:
		return 1
	}
	return 0
}

func fipsOutcome(status string, isError bool) string {
	switch {
	case isError || status == "error":
		return "failure"
	case status == "" || status == "ok":
		return "success"
	}
	return "unknown"
}

// joinDeltas joins a model_call span's tool_call_delta events into calls,
// by index (a delta's call_id and name arrive with its first fragment).
func joinDeltas(s *fipsSpan, at func(*float64) time.Time) []*fipsCall {
	var calls []*fipsCall
	byIndex := map[string]*fipsCall{}
	for _, e := range s.Events {
		if e.Name != "tool_call_delta" {
			continue
		}
		body := e.Body
		if str, err := scalar(body); err == nil && len(body) > 0 && body[0] == '"' {
			body = []byte(str)
		}
		var dlt struct {
			Index          json.RawMessage `json:"index"`
			CallID         string          `json:"call_id"`
			Name           string          `json:"name"`
			ArgumentsDelta string          `json:"arguments_delta"`
		}
		if json.Unmarshal(body, &dlt) != nil {
			continue
		}
		key := string(dlt.Index)
		c := byIndex[key]
		if c == nil || dlt.CallID != "" && c.id != "" && dlt.CallID != c.id {
			if len(calls) >= MaxPending {
				continue
			}
			c = &fipsCall{at: at(e.Timestamp)}
			byIndex[key] = c
			calls = append(calls, c)
		}
		if c.id == "" {
			c.id = dlt.CallID
		}
		if c.name == "" {
			c.name = dlt.Name
		}
		if c.args.Len() < 1<<20 {
			c.args.WriteString(dlt.ArgumentsDelta)
		}
	}
	return calls
}

func (d *fipsAgents) toolSpan(s *fipsSpan, calls []*fipsCall, at func(*float64) time.Time, mk func(string, time.Time, *fipsSpan, fields) *record.Record) []*record.Record {
	tool := unquoteOr(s.Attributes["tool_name"])
	if tool == "" {
		tool = strings.TrimPrefix(s.Name, "tool:")
	}
	callID := unquoteOr(s.Attributes["call_id"])
	if callID == "" {
		callID = unquoteOr(s.Attributes["tool_call_id"])
	}
	var call *fipsCall
	for _, c := range calls {
		if !c.used && (callID != "" && c.id == callID || callID == "" && c.name == tool) {
			call = c
			break
		}
	}
	var args json.RawMessage
	if call != nil {
		call.used = true
		callID = call.id
		args = jsonString(call.args.String())
	}
	// The result: the tool_result event's body, a JSON string of
	// {"content", "is_error"}.
	var res struct {
		Content json.RawMessage `json:"content"`
		IsError bool            `json:"is_error"`
	}
	hasResult := false
	for _, e := range s.Events {
		if e.Name != "tool_result" {
			continue
		}
		body := e.Body
		if str, err := scalar(body); err == nil && len(body) > 0 && body[0] == '"' {
			body = []byte(str)
		}
		hasResult = json.Unmarshal(body, &res) == nil
	}
	isError := res.IsError || string(s.Attributes["is_error"]) == "true"
	content := unquoteOr(res.Content)
	var f fields
	f.str("call_id", callID)
	start, end := at(s.StartTime), at(s.EndTime)

	var out []*record.Record
	if q := questionRE.FindStringSubmatch(content); q != nil {
		c := mk(record.ActionToolCall, start, s, f)
		c.Tool, c.Arguments = tool, args
		a := args
		if a == nil {
			a = pyArgs(q[2])
		}
		r := d.question(tool, a, "", fields{{"logger", quote("fipsagents.tracing")}, {"span_id", quote(s.SpanID)}})
		r.TS, r.Trace, r.Session, r.Model = end, c.Trace, c.Session, c.Model
		if callID != "" {
			addDetail(r, "call_id", quote(callID))
		}
		return append(out, c, r)
	}
	if q := deniedRE.FindStringSubmatch(content); q != nil {
		c := mk(record.ActionToolCall, start, s, f)
		c.Tool, c.Arguments = tool, args
		dn := d.denied(tool, callID, end, fields{{"logger", quote("fipsagents.tracing")}, {"span_id", quote(s.SpanID)}})
		dn.Trace, dn.Session, dn.Model = c.Trace, c.Session, c.Model
		rf := slices.Clone(f)
		rf.raw("result", res.Content)
		r := mk(record.ActionToolResult, end, s, rf)
		r.Tool, r.Outcome = tool, "denied"
		return append(out, c, dn, r)
	}
	c := mk(record.ActionToolCall, start, s, f)
	if g := d.granted(tool, start, fields{{"logger", quote("fipsagents.tracing")}, {"span_id", quote(s.SpanID)}}); g != nil {
		g.Trace, g.Session, g.Model = c.Trace, c.Session, c.Model
		out = append(out, g)
	}
	c.Tool, c.Arguments = tool, args
	rf := slices.Clone(f)
	if hasResult {
		rf.raw("result", jsonString(content))
	}
	rf.str("status", s.Status)
	r := mk(record.ActionToolResult, end, s, rf)
	r.Tool, r.Outcome = tool, fipsOutcome(s.Status, isError)
	return append(out, c, r)
}

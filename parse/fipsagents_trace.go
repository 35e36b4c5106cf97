package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// The trace JSON that fipsagents.tracing logs at DEBUG: one trace becomes
// a model_call record per model call, and per tool span a tool_call (with
// the arguments joined from the model call's deltas) and its result.

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
		r := d.question(tool, a, callID, fields{{"logger", quote("fipsagents.tracing")}, {"span_id", quote(s.SpanID)}})
		r.TS, r.Trace, r.Session, r.Model = end, c.Trace, c.Session, c.Model
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

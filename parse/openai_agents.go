package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// OpenAIAgentsConfig names the trace metadata keys that carry the user and
// the tenant.
type OpenAIAgentsConfig struct {
	UserKey   string // default user_id
	TenantKey string // default tenant_id
}

func (c OpenAIAgentsConfig) withDefaults() OpenAIAgentsConfig {
	if c.UserKey == "" {
		c.UserKey = "user_id"
	}
	if c.TenantKey == "" {
		c.TenantKey = "tenant_id"
	}
	return c
}

// openAIAgents reads the OpenAI Agents SDK's exported traces and spans,
// one JSON object per line. It remembers, per trace, the identity from
// the trace's metadata and the tool call ids a generation asked for (so
// that the function spans that follow get them), and per span the agent
// it belongs to; each table is bounded by MaxPending.
type openAIAgents struct {
	cfg    OpenAIAgentsConfig
	traces bounded[oaTrace]
	agents bounded[string] // span id -> agent name
}

type oaTrace struct {
	user, tenant, session string
	calls                 []oaCall // tool calls asked for, not yet seen run
}

type oaCall struct{ name, id string }

func newOpenAIAgents(cfg OpenAIAgentsConfig) Dialect { return &openAIAgents{cfg: cfg} }

func (d *openAIAgents) Parse(l Line, now time.Time, emit func(*record.Record)) {
	parseWith(l, now, emit, d.parse)
}

type oaLine struct {
	Object       string                     `json:"object"`
	ID           string                     `json:"id"`
	TraceID      string                     `json:"trace_id"`
	ParentID     string                     `json:"parent_id"`
	StartedAt    string                     `json:"started_at"`
	EndedAt      string                     `json:"ended_at"`
	SpanData     map[string]json.RawMessage `json:"span_data"`
	Error        json.RawMessage            `json:"error"`
	WorkflowName string                     `json:"workflow_name"`
	GroupID      string                     `json:"group_id"`
	Metadata     map[string]json.RawMessage `json:"metadata"`
}

func (d *openAIAgents) parse(text []byte, _ time.Time) ([]*record.Record, error) {
	if isConsoleExport(text) {
		j, err := consoleExport(text)
		if errors.Is(err, errRedactedExport) {
			r := newRecord(record.ActionOther, time.Time{})
			r.Detail = fields{{"message", quote(string(text))}, {"note", quote("exported with its data redacted by the SDK")}}.object()
			return []*record.Record{r}, nil
		}
		if err != nil {
			return nil, err
		}
		text = j
	}
	var l oaLine
	if err := json.Unmarshal(text, &l); err != nil {
		return nil, errors.New("not an OpenAI Agents trace or span: invalid JSON or wrong types")
	}
	switch l.Object {
	case "trace":
		return d.trace(l), nil
	case "trace.span":
		return d.span(l), nil
	}
	return nil, errors.New(`not an OpenAI Agents trace or span: object is not "trace" or "trace.span"`)
}

func (d *openAIAgents) trace(l oaLine) []*record.Record {
	user, _ := pickKey(idScalar(l.Metadata), d.cfg.UserKey, userKeys)
	tenant, _ := pickKey(idScalar(l.Metadata), d.cfg.TenantKey, tenantKeys)
	t := oaTrace{user: user, tenant: tenant, session: l.GroupID}
	if old, ok := d.traces.get(l.ID); ok {
		t.calls = old.calls
	}
	d.traces.put(l.ID, t)
	r := newRecord(record.ActionOther, time.Time{})
	r.Trace, r.User, r.Tenant, r.Session = l.ID, t.user, t.tenant, t.session
	var f fields
	f.str("object", "trace")
	f.str("workflow_name", l.WorkflowName)
	if len(l.Metadata) > 0 {
		f.val("metadata", l.Metadata)
	}
	r.Detail = f.object()
	return []*record.Record{r}
}

func (d *openAIAgents) span(l oaLine) []*record.Record {
	sd := l.SpanData
	typ := unquoteOr(sd["type"])
	start, _ := parseTime(l.StartedAt)
	end, _ := parseTime(l.EndedAt)
	t, _ := d.traces.get(l.TraceID)
	agent, _ := d.agents.get(l.ParentID)
	if typ == "agent" {
		agent = unquoteOr(sd["name"])
	}
	if agent != "" && l.ID != "" {
		d.agents.put(l.ID, agent)
	}
	failed := len(compact(l.Error)) > 0
	outcome := "success"
	if failed {
		outcome = "failure"
	}
	var f fields
	f.str("span_id", l.ID)
	f.str("parent_id", l.ParentID)
	f.str("span_type", typ)
	if !end.IsZero() {
		f.str("end_ts", record.FormatTime(end))
	}
	mk := func(action string, ts time.Time, extra ...member) *record.Record {
		r := newRecord(action, ts)
		r.Trace, r.User, r.Tenant, r.Session, r.Agent = l.TraceID, t.user, t.tenant, t.session, agent
		d := append(slices.Clone(f), extra...)
		if action != record.ActionToolCall { // the call was made; the error is its result's
			d.raw("error", l.Error)
		}
		r.Detail = d.object()
		return r
	}
	// rest is the span data but for the keys mapped to record fields.
	rest := func(skip ...string) []member {
		var ms []member
		for k, v := range sd {
			if k != "type" && !slices.Contains(skip, k) {
				if c := compact(v); c != nil {
					ms = append(ms, member{k, c})
				}
			}
		}
		return ms
	}
	switch typ {
	case "function":
		name := unquoteOr(sd["name"])
		id := d.takeCall(l.TraceID, name)
		var idm []member
		if id != "" {
			idm = []member{{"call_id", quote(id)}}
		}
		call := mk(record.ActionToolCall, start, idm...)
		call.Tool = name
		call.Arguments = oaValue(sd["input"])
		var out []member
		if v := oaValue(sd["output"]); v != nil {
			out = append(out, member{"output", v})
		}
		res := mk(record.ActionToolResult, end, append(append(idm, out...), rest("name", "input", "output")...)...)
		res.Tool, res.Outcome = name, outcome
		return []*record.Record{call, res}
	case "generation":
		d.noteCalls(l.TraceID, sd["output"])
		r := mk(record.ActionModelCall, start, rest("model")...)
		r.Model, r.Outcome = unquoteOr(sd["model"]), outcome
		return []*record.Record{r}
	case "handoff":
		r := mk(record.ActionDecision, start, rest()...)
		if r.Agent == "" {
			r.Agent = unquoteOr(sd["from_agent"])
		}
		r.Outcome = outcome
		return []*record.Record{r}
	case "guardrail":
		r := mk(record.ActionDecision, start, rest()...)
		r.Outcome = "approved"
		if string(sd["triggered"]) == "true" {
			r.Outcome = "denied"
		}
		return []*record.Record{r}
	}
	action := record.ActionOther
	if failed {
		action = record.ActionError
	}
	r := mk(action, start, rest()...)
	if failed {
		r.Outcome = "failure"
	}
	return []*record.Record{r}
}

// oaValue is a function span's input or output: the JSON a string holds
// when it holds an object or array, else the value.
func oaValue(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		if s, err := scalar(v); err == nil {
			return jsonString(s)
		}
	}
	return compact(v)
}

// noteCalls remembers the tool calls a generation's output asks for, in
// the Chat Completions shape (tool_calls: [{id, function: {name}}]) or the
// Responses shape ({type: function_call, call_id, name}).
func (d *openAIAgents) noteCalls(trace string, output json.RawMessage) {
	var items []struct {
		Type      string `json:"type"`
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		ToolCalls []struct {
			ID       string `json:"id"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tool_calls"`
	}
	if json.Unmarshal(output, &items) != nil {
		return
	}
	t, _ := d.traces.get(trace)
	for _, it := range items {
		if it.Type == "function_call" && it.CallID != "" {
			t.calls = append(t.calls, oaCall{it.Name, it.CallID})
		}
		for _, c := range it.ToolCalls {
			t.calls = append(t.calls, oaCall{c.Function.Name, c.ID})
		}
	}
	if n := len(t.calls); n > MaxPending {
		t.calls = t.calls[n-MaxPending:]
	}
	d.traces.put(trace, t)
}

// takeCall returns the id of the oldest call of tool name the trace's
// generations asked for, and forgets it.
func (d *openAIAgents) takeCall(trace, name string) string {
	t, ok := d.traces.get(trace)
	if !ok {
		return ""
	}
	for i, c := range t.calls {
		if c.name == name {
			t.calls = append(t.calls[:i], t.calls[i+1:]...)
			d.traces.put(trace, t)
			return c.id
		}
	}
	return ""
}

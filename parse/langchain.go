package parse

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// LangChainConfig names the run metadata keys that carry the user and the
// tenant; the common spellings (userKeys, tenantKeys) are tried after them.
type LangChainConfig struct {
	UserKey   string // default user_id
	TenantKey string // default tenant_id
}

func (c LangChainConfig) withDefaults() LangChainConfig {
	if c.UserKey == "" {
		c.UserKey = "user_id"
	}
	if c.TenantKey == "" {
		c.TenantKey = "tenant_id"
	}
	return c
}

// langChain reads LangChain astream_events (v2) records, or a callback
// handler's JSON lines, one JSON object per line. It remembers the tool
// call id and name of each running tool (by run id), the root and the
// model of each running callback run, the user and tenant of each root
// run, the human-in-the-loop interrupts awaiting a decision and the
// interrupt ids already recorded; each table is bounded by MaxPending.
type langChain struct {
	cfg     LangChainConfig
	calls   bounded[lcCall]      // run id -> the running tool
	roots   bounded[string]      // run id -> root run id, for callback handlers' lines
	who     carried              // root run id -> its user and tenant
	models  bounded[string]      // model run id -> its model, for callback handlers' lines
	pending bounded[[]lcRequest] // interrupt id -> its action requests
	seen    bounded[bool]        // interrupt ids recorded
	decided bounded[bool]        // interrupt ids whose decisions are recorded
	seq     int                  // numbers interrupts that carry no id
}

type lcCall struct{ id, tool string }

type lcRequest struct {
	tool string
	args json.RawMessage
}

func newLangChain(cfg LangChainConfig) Dialect { return &langChain{cfg: cfg} }

func (d *langChain) Parse(l Line, now time.Time, emit func(*record.Record)) {
	parseWith(l, now, emit, d.parse)
}

type lcEvent struct {
	Event     string                     `json:"event"`
	Name      string                     `json:"name"`
	RunID     string                     `json:"run_id"`
	ParentIDs []string                   `json:"parent_ids"`
	Tags      []string                   `json:"tags"`
	Metadata  map[string]json.RawMessage `json:"metadata"`
	Data      map[string]json.RawMessage `json:"data"`
	// Not in astream_events, but often added by whoever writes the line.
	TS        string `json:"ts"`
	Timestamp string `json:"timestamp"`
	lcCallback
}

func (d *langChain) parse(text []byte, _ time.Time) ([]*record.Record, error) {
	var e lcEvent
	if err := json.Unmarshal(text, &e); err != nil {
		return nil, errors.New("not a LangChain event: invalid JSON or wrong types")
	}
	e.normalise()
	if !strings.HasPrefix(e.Event, "on_") {
		return nil, errors.New(`not a LangChain event: no "event" starting with on_`)
	}
	root := d.root(&e)
	if c, ok := d.calls.get(e.RunID); ok && e.Name == "" {
		e.Name = c.tool // a callback's on_tool_end has no name
	}
	ts, _ := parseTime(e.TS)
	if ts.IsZero() {
		ts, _ = parseTime(e.Timestamp)
	}
	md := func(k string) string { return unquoteOr(e.Metadata[k]) }
	user, userKey := pickKey(idScalar(e.Metadata), d.cfg.UserKey, userKeys)
	tenant, tenantKey := pickKey(idScalar(e.Metadata), d.cfg.TenantKey, tenantKeys)
	base := record.Record{
		TS: ts, User: user, Tenant: tenant,
		Session: md("thread_id"), Model: md("ls_model_name"), Agent: md("lc_agent_name"),
		Trace: root,
	}
	if base.Session == "" {
		base.Session = md("session_id")
	}
	var f fields
	f.str("event", e.Event)
	f.str("name", e.Name)
	f.str("run_id", e.RunID)
	if len(e.Tags) > 0 {
		f.val("tags", e.Tags)
	}
	rest := map[string]json.RawMessage{}
	for k, v := range e.Metadata {
		switch k {
		case userKey, tenantKey, "thread_id", "session_id", "ls_model_name", "lc_agent_name":
		default:
			rest[k] = v
		}
	}
	if len(rest) > 0 {
		f.val("metadata", rest)
	}
	d.who.note(root, user, tenant)
	mk := func(action string, extra ...member) *record.Record {
		r := base
		r.Action = action
		r.Detail = append(slices.Clone(f), extra...).object()
		d.who.fill(&r, root, "carried from the root run "+root)
		return &r
	}
	data := func(k string) []member {
		if v := compact(e.Data[k]); v != nil {
			return []member{{k, v}}
		}
		return nil
	}

	if rs := d.hitl(e, mk); len(rs) > 0 {
		return rs, nil
	}
	switch e.Event {
	case "on_tool_start":
		args, id := lcToolInput(e.Data["input"])
		if id == "" {
			id = unquoteOr(e.ToolCallID) // a callback's keyword argument
		}
		d.calls.put(e.RunID, lcCall{id, e.Name})
		var extra []member
		if id != "" {
			extra = append(extra, member{"call_id", quote(id)})
		}
		r := mk(record.ActionToolCall, extra...)
		r.Tool, r.Arguments = e.Name, args
		return []*record.Record{r}, nil
	case "on_tool_end", "on_tool_error":
		c, _ := d.calls.get(e.RunID)
		d.calls.del(e.RunID)
		id := c.id
		outID, failed := lcToolOutput(e.Data["output"])
		if id == "" {
			id = outID
		}
		var extra []member
		if id != "" {
			extra = append(extra, member{"call_id", quote(id)})
		}
		extra = append(append(extra, data("output")...), data("error")...)
		r := mk(record.ActionToolResult, extra...)
		r.Tool, r.Outcome = e.Name, "success"
		if failed || e.Event == "on_tool_error" {
			r.Outcome = "failure"
		}
		return []*record.Record{r}, nil
	case "on_chat_model_start", "on_llm_start":
		r := mk(record.ActionModelCall, data("input")...)
		r.Outcome = "pending"
		if r.Model != "" {
			d.models.put(e.RunID, r.Model) // a callback's end names no model
		}
		return []*record.Record{r}, nil
	case "on_chat_model_end", "on_llm_end":
		r := mk(record.ActionModelCall, append(data("input"), data("output")...)...)
		r.Outcome = "success"
		if m, ok := d.models.get(e.RunID); ok && r.Model == "" {
			r.Model = m
		}
		if r.Model == "" {
			r.Model = lcResponseModel(e.Data["output"])
		}
		d.models.del(e.RunID)
		return []*record.Record{r}, nil
	case "on_chat_model_error", "on_llm_error", "on_chain_error", "on_retriever_error":
		r := mk(record.ActionError, data("error")...)
		r.Outcome = "failure"
		return []*record.Record{r}, nil
	}
	var extra fields
	if len(e.Data) > 0 {
		extra.val("data", e.Data) // on_custom_event: what was dispatched
	}
	return []*record.Record{mk(record.ActionOther, extra...)}, nil
}

// lcToolInput returns a tool's arguments and call id: a ToolCall input
// ({name, args, id, type: tool_call}) gives both, any other input is the
// arguments.
func lcToolInput(v json.RawMessage) (json.RawMessage, string) {
	var tc struct {
		Type string          `json:"type"`
		ID   string          `json:"id"`
		Args json.RawMessage `json:"args"`
	}
	if json.Unmarshal(v, &tc) == nil && tc.Type == "tool_call" && tc.Args != nil {
		return compact(tc.Args), tc.ID
	}
	if s, err := scalar(v); err == nil && len(v) > 0 && v[0] == '"' {
		return jsonString(s), ""
	}
	return compact(v), ""
}

// lcResponseModel is the model an LLMResult names (llm_output.model_name,
// or model), as a callback handler's on_llm_end writes it.
func lcResponseModel(v json.RawMessage) string {
	var r struct {
		LLMOutput struct {
			ModelName json.RawMessage `json:"model_name"`
			Model     json.RawMessage `json:"model"`
		} `json:"llm_output"`
	}
	if len(v) == 0 || v[0] != '{' || json.Unmarshal(v, &r) != nil {
		return ""
	}
	if m := unquoteOr(r.LLMOutput.ModelName); m != "" {
		return m
	}
	return unquoteOr(r.LLMOutput.Model)
}

// toolMessageRE reads the status and tool call id of a ToolMessage's
// str(): "content='...' name='t' tool_call_id='call_5'" (status='error'
// before or after the id when the tool failed).
var toolMessageRE = regexp.MustCompile(`(?:status='(\w+)' )?tool_call_id='([^']*)'(?: status='(\w+)')?\s*$`)

// lcToolOutput reads a ToolMessage output (plain, or as dumpd writes it
// with its fields under kwargs) for its call id and error status.
func lcToolOutput(v json.RawMessage) (id string, failed bool) {
	var m struct {
		ToolCallID string `json:"tool_call_id"`
		Status     string `json:"status"`
		Kwargs     *struct {
			ToolCallID string `json:"tool_call_id"`
			Status     string `json:"status"`
		} `json:"kwargs"`
	}
	if len(v) > 0 && v[0] == '"' {
		// str() of a ToolMessage, as a callback handler's json.dumps(default=str) writes it
		if t := toolMessageRE.FindStringSubmatch(unquoteOr(v)); t != nil {
			return t[2], t[1] == "error" || t[3] == "error"
		}
		return "", false
	}
	if json.Unmarshal(v, &m) != nil {
		return "", false
	}
	if m.Kwargs != nil {
		m.ToolCallID, m.Status = m.Kwargs.ToolCallID, m.Kwargs.Status
	}
	return m.ToolCallID, m.Status == "error"
}

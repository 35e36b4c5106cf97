package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// OTLPConfig names the span attributes OpenTelemetry does not standardise.
type OTLPConfig struct {
	UserAttribute     string // default user.id
	TenantAttribute   string // default tenant.id
	ApprovalAttribute string // default gen_ai.tool.approval: requested | granted | denied
	ApproverAttribute string // default gen_ai.tool.approver
}

func (c OTLPConfig) withDefaults() OTLPConfig {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&c.UserAttribute, "user.id")
	def(&c.TenantAttribute, "tenant.id")
	def(&c.ApprovalAttribute, "gen_ai.tool.approval")
	def(&c.ApproverAttribute, "gen_ai.tool.approver")
	return c
}

// otlpDialect reads one OTLP/JSON trace export per line, as the
// OpenTelemetry Collector's file exporter writes it, and maps each span
// by the GenAI semantic conventions. It remembers the user and tenant of
// each trace (MaxPending traces), to give them to the trace's spans that
// do not carry them: instrumentations set them on the root span only.
type otlpDialect struct {
	cfg OTLPConfig
	who carried // trace id -> the user and tenant of its root span
}

func newOTLP(cfg OTLPConfig) Dialect { return &otlpDialect{cfg: cfg} }

func (d *otlpDialect) Parse(l Line, now time.Time, emit func(*record.Record)) {
	parseWith(l, now, emit, d.parse)
}

type otlpExport struct {
	ResourceSpans *[]struct {
		Resource struct {
			Attributes []otlpKV `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Scope struct {
				Name string `json:"name"`
			} `json:"scope"`
			Spans []otlpSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type otlpSpan struct {
	TraceID           string          `json:"traceId"`
	SpanID            string          `json:"spanId"`
	ParentSpanID      string          `json:"parentSpanId"`
	Name              string          `json:"name"`
	StartTimeUnixNano json.RawMessage `json:"startTimeUnixNano"`
	EndTimeUnixNano   json.RawMessage `json:"endTimeUnixNano"`
	Attributes        []otlpKV        `json:"attributes"`
	Events            []struct {
		TimeUnixNano json.RawMessage `json:"timeUnixNano"`
		Name         string          `json:"name"`
		Attributes   []otlpKV        `json:"attributes"`
	} `json:"events"`
	Status struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	} `json:"status"`
}

type otlpKV struct {
	Key   string    `json:"key"`
	Value otlpValue `json:"value"`
}

// otlpValue is an AnyValue: exactly one member is set.
type otlpValue struct {
	StringValue *string         `json:"stringValue"`
	BoolValue   *bool           `json:"boolValue"`
	IntValue    json.RawMessage `json:"intValue"` // a string, or a number
	DoubleValue json.RawMessage `json:"doubleValue"`
	BytesValue  *string         `json:"bytesValue"`
	ArrayValue  *struct {
		Values []otlpValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []otlpKV `json:"values"`
	} `json:"kvlistValue"`
}

// text is the value as a string: strings as they are, numbers and
// booleans as their text, anything else as its JSON.
func (v otlpValue) text() string {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.IntValue != nil:
		return unquoteOr(v.IntValue)
	}
	b, _ := marshal(v.native())
	return string(b)
}

// native is the value as plain JSON (a kvlist becomes an object).
func (v otlpValue) native() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.IntValue != nil:
		if n, err := strconv.ParseInt(unquoteOr(v.IntValue), 10, 64); err == nil {
			return n
		}
		return unquoteOr(v.IntValue)
	case v.DoubleValue != nil:
		if f, err := strconv.ParseFloat(unquoteOr(v.DoubleValue), 64); err == nil {
			return f
		}
		return unquoteOr(v.DoubleValue)
	case v.BytesValue != nil:
		return *v.BytesValue
	case v.ArrayValue != nil:
		out := make([]any, len(v.ArrayValue.Values))
		for i, e := range v.ArrayValue.Values {
			out[i] = e.native()
		}
		return out
	case v.KvlistValue != nil:
		return kvObject(v.KvlistValue.Values, nil)
	}
	return nil
}

// kvObject is attributes as a JSON object, leaving out the keys in skip.
func kvObject(kvs []otlpKV, skip map[string]bool) map[string]any {
	if len(kvs) == 0 {
		return nil
	}
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		if !skip[kv.Key] {
			out[kv.Key] = kv.Value.native()
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// otlpModelOps are the GenAI operations that call a model.
var otlpModelOps = []string{"chat", "text_completion", "generate_content", "embeddings"}

func (d *otlpDialect) parse(text []byte, _ time.Time) ([]*record.Record, error) {
	var ex otlpExport
	dec := json.NewDecoder(bytes.NewReader(text))
	if err := dec.Decode(&ex); err != nil {
		return nil, errors.New("not an OTLP/JSON export: invalid JSON or wrong types")
	}
	if dec.More() {
		return nil, errors.New("not an OTLP/JSON export: text after the object")
	}
	if ex.ResourceSpans == nil {
		return nil, errors.New("not an OTLP/JSON export: no resourceSpans")
	}
	// The root span ends last, so it comes after its children in an
	// export: the identities of the whole line are known first (a root
	// span's before any other's).
	for _, root := range []bool{true, false} {
		for _, rs := range *ex.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					if (sp.ParentSpanID == "") == root {
						d.noteIdentity(sp, rs.Resource.Attributes, root)
					}
				}
			}
		}
	}
	var out []*record.Record
	for _, rs := range *ex.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				for _, r := range d.span(sp, rs.Resource.Attributes, ss.Scope.Name) {
					d.who.fill(r, sp.TraceID, "carried from trace "+sp.TraceID)
					out = append(out, r)
				}
			}
		}
	}
	if len(out) == 0 {
		r := newRecord(record.ActionOther, time.Time{})
		r.Detail = fields{{"note", quote("OTLP export without spans")}}.object()
		out = append(out, r)
	}
	return out, nil
}

func (d *otlpDialect) span(sp otlpSpan, resource []otlpKV, scope string) []*record.Record {
	attrs := map[string]otlpValue{}
	for _, kv := range resource {
		attrs[kv.Key] = kv.Value
	}
	for _, kv := range sp.Attributes {
		attrs[kv.Key] = kv.Value
	}
	used := map[string]bool{}
	get := func(k string) string {
		v, ok := attrs[k]
		if !ok {
			return ""
		}
		used[k] = true
		return v.text()
	}
	start, _ := unixNano(unquoteOr(sp.StartTimeUnixNano))
	end, _ := unixNano(unquoteOr(sp.EndTimeUnixNano))
	user, tenant := d.identity(attrs)
	used[user.key], used[tenant.key] = true, true
	base := record.Record{
		Trace: sp.TraceID, Session: get("gen_ai.conversation.id"),
		User: user.val, Tenant: tenant.val,
		Agent: get("gen_ai.agent.name"), Tool: get("gen_ai.tool.name"),
		Model: get("gen_ai.response.model"),
	}
	if base.Agent == "" {
		base.Agent = get("service.name")
	}
	reqModel := get("gen_ai.request.model")
	if base.Model == "" {
		base.Model = reqModel
	}
	op := get("gen_ai.operation.name")
	callID := get("gen_ai.tool.call.id")
	args := attrs["gen_ai.tool.call.arguments"]
	result := attrs["gen_ai.tool.call.result"]
	used["gen_ai.tool.call.arguments"], used["gen_ai.tool.call.result"] = true, true
	approval := get(d.cfg.ApprovalAttribute)
	approver := get(d.cfg.ApproverAttribute)
	errType := get("error.type")
	failed := errType != "" || isOTLPError(sp.Status.Code)

	var f fields
	f.str("span_id", sp.SpanID)
	f.str("parent_span_id", sp.ParentSpanID)
	f.str("span_name", sp.Name)
	f.str("scope", scope)
	f.str("operation", op)
	f.str("call_id", callID)
	if reqModel != base.Model {
		f.str("request_model", reqModel)
	}
	f.str("error_type", errType)
	f.str("status_message", sp.Status.Message)
	if !end.IsZero() {
		f.str("end_ts", record.FormatTime(end))
	}
	f.val("attributes", kvObject(sp.Attributes, used))
	f.val("resource", kvObject(resource, used))
	if len(sp.Events) > 0 {
		evs := make([]map[string]any, len(sp.Events))
		for i, e := range sp.Events {
			ev := map[string]any{"name": e.Name}
			if t, ok := unixNano(unquoteOr(e.TimeUnixNano)); ok {
				ev["ts"] = record.FormatTime(t)
			}
			if a := kvObject(e.Attributes, nil); a != nil {
				ev["attributes"] = a
			}
			evs[i] = ev
		}
		f.val("events", evs)
	}
	outcome := "success"
	if failed {
		outcome = "failure"
	}
	mk := func(action string, ts time.Time, extra fields) *record.Record {
		r := base
		r.Action, r.TS = action, ts
		r.Detail = append(slices.Clone(f), extra...).object()
		return &r
	}
	switch {
	case approval != "":
		var r *record.Record
		switch approval {
		case "requested", "pending", "ask":
			r = mk(record.ActionApprovalRequested, start, nil)
			r.Outcome = "pending"
		case "granted", "approved", "approve", "allow":
			r = mk(record.ActionApprovalGranted, end, nil)
			r.Outcome = "approved"
		case "denied", "rejected", "reject", "deny":
			r = mk(record.ActionApprovalDenied, end, nil)
			r.Outcome = "denied"
		default:
			r = mk(record.ActionOther, start, fields{{"approval", quote(approval)}})
		}
		r.Arguments = otlpArgs(args)
		r.Approver = approver
		return []*record.Record{r}
	case op == "execute_tool":
		call := mk(record.ActionToolCall, start, nil)
		call.Arguments = otlpArgs(args)
		var rf fields
		if result.StringValue != nil {
			rf.raw("result", jsonString(*result.StringValue))
		} else {
			rf.val("result", result.native())
		}
		res := mk(record.ActionToolResult, end, rf)
		res.Outcome = outcome
		return []*record.Record{call, res}
	case slices.Contains(otlpModelOps, op):
		r := mk(record.ActionModelCall, start, nil)
		r.Outcome = outcome
		return []*record.Record{r}
	case failed:
		r := mk(record.ActionError, start, nil)
		r.Outcome = "failure"
		return []*record.Record{r}
	default:
		return []*record.Record{mk(record.ActionOther, start, nil)}
	}
}

// otlpArgs is the tool call's arguments: the JSON they hold when they are
// a JSON string, else the value.
func otlpArgs(v otlpValue) json.RawMessage {
	if v.StringValue != nil {
		return jsonString(*v.StringValue)
	}
	if n := v.native(); n != nil {
		b, _ := marshal(n)
		return b
	}
	return nil
}

// isOTLPError reports status code 2 (STATUS_CODE_ERROR).
func isOTLPError(code json.RawMessage) bool {
	s := unquoteOr(code)
	return s == "2" || s == "STATUS_CODE_ERROR"
}

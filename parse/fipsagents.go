package parse

import (
	"encoding/json"
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
	asked bounded[asked] // tool -> its approval is pending
}

// asked is a tool's pending approval: unechoed counts the requests
// recorded from permission_decision action=ask whose question has not been
// seen yet (the question repeats them), callID is the call id the question
// gave, for the inferred decision.
type asked struct {
	unechoed int
	callID   string
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

// question records the approval question of tool. When a
// permission_decision action=ask of tool has already recorded the request,
// the question repeats it: it becomes an other record saying so (with the
// arguments and call id it shows), and its call id is kept for the
// inferred decision, so that the request is paired once.
func (d *fipsAgents) question(tool string, args json.RawMessage, callID string, f fields) *record.Record {
	a, _ := d.asked.get(tool)
	action := record.ActionApprovalRequested
	f = slices.Clone(f)
	f.str("call_id", callID)
	if a.unechoed > 0 {
		a.unechoed--
		action = record.ActionOther
		f.str("event", "approval_question")
		f.str("note", "repeats the approval_requested of permission_decision action=ask")
	}
	if callID != "" {
		a.callID = callID
	}
	d.asked.put(tool, a)
	r := newRecord(action, time.Time{})
	r.Tool, r.Arguments = tool, args
	if action == record.ActionApprovalRequested {
		r.Outcome = "pending"
	}
	r.Detail = f.object()
	return r
}

// ask records the approval_requested of a permission_decision action=ask:
// fipsagents sends the question to the chat stream, so when only the log is
// tailed this line is all there is of the request.
func (d *fipsAgents) ask(tool string, f fields) *record.Record {
	a, _ := d.asked.get(tool)
	a.unechoed++
	d.asked.put(tool, a)
	r := newRecord(record.ActionApprovalRequested, time.Time{})
	r.Tool, r.Outcome = tool, "pending"
	r.Detail = f.object()
	return r
}

func (d *fipsAgents) denied(tool, callID string, ts time.Time, f fields) *record.Record {
	if a, _ := d.asked.get(tool); callID == "" {
		callID = a.callID
	}
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
	a, ok := d.asked.get(tool)
	if !ok {
		return nil
	}
	d.asked.del(tool)
	r := newRecord(record.ActionApprovalGranted, ts)
	r.Tool, r.Outcome = tool, "approved"
	f = slices.Clone(f)
	f.str("call_id", a.callID)
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
	if event == "permission_decision" && kv["action"] == "ask" && r.Tool != "" {
		return []*record.Record{r, d.ask(r.Tool, f)}
	}
	return []*record.Record{r}
}

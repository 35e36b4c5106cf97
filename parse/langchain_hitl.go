package parse

import (
	"bytes"
	"encoding/json"
	"github.com/fips-agents/audit-sidecar/internal/jsonscan"
	"slices"
	"strconv"
	"strings"

	"github.com/fips-agents/audit-sidecar/record"
)

// Human-in-the-loop approvals in LangChain / LangGraph events.
//
// A request is an interrupt whose value is a HITLRequest
// ({"action_requests": [{name, args, description}], "review_configs"}),
// or the older agent inbox form (a list of {"action_request": {action,
// args}, "config", "description"}); LangGraph streams it wrapped,
// "__interrupt__": [{"value": ..., "id": ...}] (or, written with
// json.dumps(default=str), as the repr "Interrupt(value=..., id='...')").
// A resume is a Command(resume=...) whose value holds "decisions"
// ([{"type": approve|edit|reject|respond, ...}]), the agent inbox's list
// of responses ([{"type": accept|edit|ignore|response, "args"}]), or a map
// of either by interrupt id.
//
// Where they are looked for: in a root event (no parent_ids), anywhere
// in data.chunk, data.input and data.output, bare or wrapped; in a custom
// event, anywhere in its data; in the other chain events of a nested run,
// only in their wrapped form (under "__interrupt__", or under "resume", or
// beside an "__interrupt__" or an "interrupt_id"), since a nested run's
// state may hold anything. Tool and model events are never read for them:
// their data is what the model wrote.

// hitlScope is what a value found at some place in an event may be.
type hitlScope struct {
	id       string // the interrupt id in force
	loose    bool   // a bare request or resume counts
	wrapped  bool   // inside an interrupt: a request counts
	resume   bool   // inside a resume: decisions count
	approver string // who decided, when the resume says it
}

// hitl returns the approval records of the interrupts and resumes in e,
// or nil when it holds none. An interrupt id is recorded once (its
// requests, and its decisions), because the same interrupt surfaces in
// several events of a run: repeats are other records that say so.
func (d *langChain) hitl(e lcEvent, mk func(string, ...member) *record.Record) []*record.Record {
	root := e.isRoot()
	var out []*record.Record
	// The walk reads the members in place (jsonscan): nothing is copied
	// but what a request or a decision keeps, so a deep or wide line
	// costs its bytes once, whatever its depth.
	var walk func(v []byte, c hitlScope, depth int)
	walk = func(v []byte, c hitlScope, depth int) {
		v = bytes.TrimSpace(v)
		if depth > 12 || len(v) == 0 || depth == 0 && !hitlHint(v) {
			return
		}
		switch v[0] {
		case '"':
			if bytes.HasPrefix(v, []byte(`"Interrupt(`)) || bytes.HasPrefix(v, []byte(`"Command(`)) {
				if r, ok := pyCall(unquoteOr(v)); ok {
					walk(r, c, depth+1)
				}
			}
		case '[':
			var items []json.RawMessage
			if jsonscan.Array(v, func(it []byte) error { items = append(items, it); return nil }) != nil {
				return
			}
			if c.resume && inboxResponses(items) {
				out = append(out, d.decisions(v, c.id, c.approver, mk)...)
				return
			}
			if (c.wrapped || c.loose) && inboxRequests(items) {
				out = append(out, d.requests(inboxToRequests(items), c.id, mk)...)
				return
			}
			for _, it := range items {
				walk(it, c, depth+1)
			}
		case '{':
			var m hitlMembers
			if jsonscan.Object(v, m.take) != nil {
				return
			}
			if m.value && (c.wrapped || c.loose) {
				if s := m.interruptID(); s != "" {
					c.id = s
				}
			}
			if m.requests != nil && (c.wrapped || c.loose) {
				out = append(out, d.requests(m.requests, c.id, mk)...)
				return
			}
			decID, beside := c.id, false
			if s := unquoteOr(m.iid); s != "" {
				decID, beside = s, true
			}
			if ids := wrappedIDs(m.interrupt); len(ids) > 0 {
				beside = true
				if len(ids) == 1 {
					decID = ids[0]
				}
			}
			approver := c.approver
			if m.approver != "" {
				approver = m.approver
			}
			// "__interrupt__" is walked first: a request before its resume.
			for pass := range 2 {
				_ = jsonscan.Object(v, func(k, x []byte) error {
					isInterrupt := string(k) == `"__interrupt__"`
					if isInterrupt != (pass == 0) || string(k) == `"decisions"` {
						return nil
					}
					sub := c
					switch string(k) {
					case `"__interrupt__"`:
						sub.wrapped = true
					case `"resume"`:
						sub.resume, sub.approver = true, approver
					}
					if len(d.pending.m) > 0 && (c.resume || c.loose) {
						if key := unquoteOr(k); key != "" {
							if _, ok := d.pending.get(key); ok {
								sub.id, sub.resume = key, true // a resume keyed by interrupt id
							}
						}
					}
					walk(x, sub, depth+1)
					return nil
				})
			}
			if m.decisions != nil && (c.loose || c.resume || beside) {
				out = append(out, d.decisions(m.decisions, decID, approver, mk)...)
			}
		}
	}
	switch {
	case e.Event == "on_custom_event": // what the application dispatched
		walk(marshalData(e.Data), hitlScope{loose: true}, 0)
	case root:
		for _, k := range []string{"chunk", "input", "output"} {
			walk(e.Data[k], hitlScope{loose: true}, 0)
		}
	case strings.HasPrefix(e.Event, "on_chain_"):
		for _, k := range []string{"chunk", "input", "output"} {
			walk(e.Data[k], hitlScope{}, 0)
		}
	}
	return out
}

// hitlMembers are the members of an object that say what it is in a
// human-in-the-loop story (raw, in place).
type hitlMembers struct {
	value                                   bool
	id, iid, requests, decisions, interrupt []byte
	approver                                string
}

func (m *hitlMembers) take(k, v []byte) error {
	switch string(k) {
	case `"value"`:
		m.value = true
	case `"id"`:
		m.id = v
	case `"interrupt_id"`:
		m.iid = v
	case `"action_requests"`:
		m.requests = v
	case `"decisions"`:
		m.decisions = v
	case `"__interrupt__"`:
		m.interrupt = v
	case `"approver"`, `"reviewer"`, `"reviewed_by"`, `"decided_by"`:
		if m.approver == "" && len(v) > 0 && v[0] == '"' {
			m.approver = unquoteOr(v)
		}
	}
	return nil
}

// interruptID is the id of an interrupt written as a map: "id" (LangGraph
// 0.6 and later) or "interrupt_id" (earlier ones, and the platform API).
func (m *hitlMembers) interruptID() string {
	if s := unquoteOr(m.id); s != "" {
		return s
	}
	return unquoteOr(m.iid)
}

// hitlHint reports whether v may hold a request or a resume, so that the
// events of a run that hold none are not walked.
func hitlHint(v []byte) bool {
	for _, w := range [][]byte{[]byte("action_request"), []byte("decisions"), []byte("resume"), []byte("__interrupt__"), []byte("Interrupt(")} {
		if bytes.Contains(v, w) {
			return true
		}
	}
	return false
}

func marshalData(m map[string]json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

func (d *langChain) requests(v json.RawMessage, id string, mk func(string, ...member) *record.Record) []*record.Record {
	var reqs []struct {
		Name        string          `json:"name"`
		Arguments   json.RawMessage `json:"arguments"`
		Args        json.RawMessage `json:"args"`
		Description string          `json:"description"`
	}
	if json.Unmarshal(v, &reqs) != nil || len(reqs) == 0 {
		return nil
	}
	if id != "" {
		if _, dup := d.seen.get(id); dup {
			return []*record.Record{mk(record.ActionOther, member{"note", quote("interrupt " + id + " already recorded")})}
		}
		d.seen.put(id, true)
	} else {
		d.seq++
		id = "interrupt-" + strconv.Itoa(d.seq)
	}
	var out []*record.Record
	pend := make([]lcRequest, len(reqs))
	for i, q := range reqs {
		args := q.Arguments
		if args == nil {
			args = q.Args
		}
		pend[i] = lcRequest{q.Name, compact(args)}
		var f fields
		f.str("call_id", id+"/"+strconv.Itoa(i))
		f.str("interrupt_id", id)
		f.str("description", q.Description)
		r := mk(record.ActionApprovalRequested, f...)
		r.Tool, r.Arguments, r.Outcome = q.Name, compact(args), "pending"
		out = append(out, r)
	}
	d.pending.put(id, pend)
	return out
}

// decision is one reviewer's decision on an action request.
type decision struct {
	Type         string          `json:"type"`
	Message      string          `json:"message"`
	Args         json.RawMessage `json:"args"` // the agent inbox's
	EditedAction *lcAction       `json:"edited_action"`
}

type lcAction struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// approverKeys are the keys an application may name the reviewer under,
// beside the decisions or in each of them.
var approverKeys = []string{"approver", "reviewer", "reviewed_by", "decided_by"}

// approverOf returns the reviewer m names, else def.
func approverOf(m map[string]json.RawMessage, def string) string {
	if v, _ := pickKey(idScalar(m), "", approverKeys); v != "" {
		return v
	}
	return def
}

func (d *langChain) decisions(v json.RawMessage, id, approver string, mk func(string, ...member) *record.Record) []*record.Record {
	var decs []decision
	if json.Unmarshal(v, &decs) != nil || len(decs) == 0 {
		return nil
	}
	var each []map[string]json.RawMessage
	_ = json.Unmarshal(v, &each)
	if !slices.ContainsFunc(decs, func(d decision) bool { return decisionOf(d.Type) != "" }) {
		return nil // decisions of something else: not a resume
	}
	if id == "" && len(d.pending.order) > 0 {
		id = d.pending.order[0] // the oldest interrupt awaiting a decision
	}
	if id != "" {
		if _, dup := d.decided.get(id); dup {
			return []*record.Record{mk(record.ActionOther, member{"note", quote("decisions of interrupt " + id + " already recorded")})}
		}
		d.decided.put(id, true)
	}
	reqs, _ := d.pending.get(id)
	d.pending.del(id)
	var out []*record.Record
	for i, dec := range decs {
		var q lcRequest
		if i < len(reqs) {
			q = reqs[i]
		}
		var f fields
		if id != "" {
			f.str("call_id", id+"/"+strconv.Itoa(i))
			f.str("interrupt_id", id)
		}
		f.str("decision", dec.Type)
		f.str("message", dec.Message)
		action, outcome := decisionOf(dec.Type), ""
		switch action {
		case record.ActionApprovalGranted:
			outcome = "approved"
		case record.ActionApprovalDenied:
			outcome = "denied"
		default:
			action = record.ActionOther
		}
		edited := dec.EditedAction
		switch dec.Type {
		case "edit":
			f.val("edited", true)
			if edited == nil && len(dec.Args) > 0 && dec.Args[0] == '{' { // the agent inbox's edit: args {action, args}
				var a struct {
					Action string          `json:"action"`
					Args   json.RawMessage `json:"args"`
				}
				if json.Unmarshal(dec.Args, &a) == nil && a.Args != nil {
					edited = &lcAction{a.Action, a.Args}
				}
			}
		case "response", "respond":
			if dec.Message == "" {
				f.str("message", unquoteOr(dec.Args))
			}
		}
		r := mk(action, f...)
		r.Tool, r.Outcome, r.Approver = q.tool, outcome, approver
		if i < len(each) {
			r.Approver = approverOf(each[i], approver)
		}
		if edited != nil {
			if edited.Name != "" {
				r.Tool = edited.Name
			}
			r.Arguments = compact(edited.Args)
		}
		out = append(out, r)
	}
	return out
}

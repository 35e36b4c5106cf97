package parse

import (
	"encoding/json"
	"github.com/fips-agents/audit-sidecar/internal/jsonscan"
	"strings"

	"github.com/fips-agents/audit-sidecar/record"
)

// The forms a human-in-the-loop request or resume takes in LangChain and
// LangGraph output (see langchain_hitl.go).

// wrappedIDs returns the ids of the interrupts of an "__interrupt__" list.
func wrappedIDs(v []byte) []string {
	var ids []string
	_ = jsonscan.Array(v, func(it []byte) error {
		if len(it) > 0 && it[0] == '"' {
			it, _ = pyCall(unquoteOr(it))
		}
		var m hitlMembers
		if jsonscan.Object(it, m.take) == nil {
			if s := m.interruptID(); s != "" {
				ids = append(ids, s)
			}
		}
		return nil
	})
	return ids
}

// pyCall reads the repr of an Interrupt or a Command, as json.dumps(...,
// default=str) writes them, as the JSON object of its keyword arguments.
func pyCall(s string) (json.RawMessage, bool) {
	if !strings.HasPrefix(s, "Interrupt(") && !strings.HasPrefix(s, "Command(") {
		return nil, false
	}
	p := pyParser{s: s, calls: true}
	out, err := p.value(nil, 0)
	if err != nil {
		return nil, false
	}
	if p.ws(); p.i != len(p.s) {
		return nil, false
	}
	return out, true
}

// inboxRequests reports whether items are the agent inbox's HumanInterrupt
// list ({"action_request": {"action", "args"}, ...}).
func inboxRequests(items []json.RawMessage) bool {
	if len(items) == 0 {
		return false
	}
	for _, it := range items {
		var m struct {
			AR *struct {
				Action string `json:"action"`
			} `json:"action_request"`
		}
		if json.Unmarshal(it, &m) != nil || m.AR == nil || m.AR.Action == "" {
			return false
		}
	}
	return true
}

// inboxToRequests turns a HumanInterrupt list into action_requests.
func inboxToRequests(items []json.RawMessage) json.RawMessage {
	type req struct {
		Name        string          `json:"name"`
		Args        json.RawMessage `json:"args,omitempty"`
		Description string          `json:"description,omitempty"`
	}
	reqs := make([]req, 0, len(items))
	for _, it := range items {
		var m struct {
			AR struct {
				Action string          `json:"action"`
				Args   json.RawMessage `json:"args"`
			} `json:"action_request"`
			Description string `json:"description"`
		}
		_ = json.Unmarshal(it, &m)
		reqs = append(reqs, req{m.AR.Action, m.AR.Args, m.Description})
	}
	b, _ := json.Marshal(reqs)
	return b
}

// inboxResponses reports whether items are the agent inbox's responses
// ([{"type": accept|edit|ignore|response, "args"}]).
func inboxResponses(items []json.RawMessage) bool {
	if len(items) == 0 {
		return false
	}
	for _, it := range items {
		var m struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(it, &m) != nil || decisionOf(m.Type) == "" {
			return false
		}
	}
	return true
}

// decisionOf maps a decision type to its action: the middleware's approve,
// edit, reject, respond and the agent inbox's accept, edit, ignore,
// response. A response answers the model instead of running the tool: a
// denial of the call.
func decisionOf(t string) string {
	switch t {
	case "approve", "accept", "edit":
		return record.ActionApprovalGranted
	case "reject", "ignore", "respond", "response":
		return record.ActionApprovalDenied
	}
	return ""
}

package parse

import (
	"encoding/json"
	"strings"
)

// lcCallback is what a LangChain callback handler writes when it prints
// its callbacks' arguments as JSON instead of the astream_events records:
// {"event": "on_tool_start", "run_id", "parent_run_id", "serialized",
// "input_str", "inputs", "metadata", "tags"}, {"event": "on_tool_end",
// "output", "run_id", "parent_run_id"}, {"event": "on_chat_model_start",
// "serialized", "messages", ...}, {"event": "on_llm_end", "response"}. The
// callback's name may be under "callback", "method" or "type" instead of
// "event". Its members are raw, so that a line of the astream_events shape
// that happens to hold one of them with another type still parses.
type lcCallback struct {
	ParentRunID json.RawMessage `json:"parent_run_id"`
	Callback    json.RawMessage `json:"callback"`
	Method      json.RawMessage `json:"method"`
	Type        json.RawMessage `json:"type"`
	Serialized  json.RawMessage `json:"serialized"`
	InputStr    json.RawMessage `json:"input_str"`
	Inputs      json.RawMessage `json:"inputs"`
	Input       json.RawMessage `json:"input"`
	Messages    json.RawMessage `json:"messages"`
	Prompts     json.RawMessage `json:"prompts"`
	Output      json.RawMessage `json:"output"`
	Outputs     json.RawMessage `json:"outputs"`
	Response    json.RawMessage `json:"response"`
	Error       json.RawMessage `json:"error"`
	ToolCallID  json.RawMessage `json:"tool_call_id"`
}

// lcCallbackName returns the callback's name: the first of event,
// callback, method and type that starts with "on_".
func lcCallbackName(event string, c lcCallback) string {
	if strings.HasPrefix(event, "on_") {
		return event
	}
	for _, v := range []json.RawMessage{c.Callback, c.Method, c.Type} {
		if s := unquoteOr(v); strings.HasPrefix(s, "on_") {
			return s
		}
	}
	return event
}

// normalise gives a callback handler's line the astream_events shape: its
// name in Event and Name, its arguments under Data (input, output, error).
// A line with data is left as it is.
func (e *lcEvent) normalise() {
	e.Event = lcCallbackName(e.Event, e.lcCallback)
	if e.Name == "" {
		e.Name = serializedName(e.Serialized)
	}
	if e.Data != nil {
		return
	}
	data := map[string]json.RawMessage{}
	set := func(k string, vs ...json.RawMessage) {
		for _, v := range vs {
			if len(v) > 0 && string(v) != "null" {
				data[k] = v
				return
			}
		}
	}
	input := e.InputStr
	if len(input) > 0 && input[0] == '"' {
		// str() of the tool's input: a JSON text or a Python repr
		s := unquoteOr(input)
		if v, ok := pyToJSON(s); ok && len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			input = v
		} else {
			input = jsonString(s)
		}
	}
	set("input", e.Inputs, e.Input, input, e.Messages, e.Prompts)
	set("output", e.Output, e.Outputs, e.Response)
	set("error", e.Error)
	if len(data) > 0 {
		e.Data = data
	}
}

// serializedName is the name of a serialized runnable: its "name", else
// the last element of its "id" (the class).
func serializedName(v json.RawMessage) string {
	if len(v) == 0 || v[0] != '{' {
		return ""
	}
	var s struct {
		Name json.RawMessage   `json:"name"`
		ID   []json.RawMessage `json:"id"`
	}
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	if n := unquoteOr(s.Name); n != "" {
		return n
	}
	if len(s.ID) > 0 {
		return unquoteOr(s.ID[len(s.ID)-1])
	}
	return ""
}

// root returns the root run of e: parent_ids[0] (astream_events), else
// the root remembered for its parent_run_id (a callback handler names only
// the parent), else the parent, else the run itself. The root of a
// callback's run is remembered for its children (MaxPending runs).
func (d *langChain) root(e *lcEvent) string {
	if len(e.ParentIDs) > 0 {
		return e.ParentIDs[0]
	}
	parent := unquoteOr(e.ParentRunID)
	if parent == "" {
		return e.RunID
	}
	root := parent
	if r, ok := d.roots.get(parent); ok {
		root = r
	}
	if strings.HasSuffix(e.Event, "_end") || strings.HasSuffix(e.Event, "_error") {
		d.roots.del(e.RunID) // its children have ended before it
	} else {
		d.roots.put(e.RunID, root)
	}
	return root
}

// isRoot reports whether e is an event of a root run.
func (e *lcEvent) isRoot() bool { return len(e.ParentIDs) == 0 && unquoteOr(e.ParentRunID) == "" }

package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
)

// The OpenAI Agents SDK's own ConsoleSpanExporter prints each exported
// item on stdout:
//
//	[Exporter] Export trace_id=trace_x, name=Workflow,        (Python)
//	[Exporter] Export span: {'object': 'trace.span', ...}     (Python: the export() dict's repr)
//	[Exporter] Export trace traceId=trace_x name=Workflow groupId=g   (JavaScript)
//	[Exporter] Export span: {"object":"trace.span",...}       (JavaScript: JSON)
//
// consoleExport turns such a line into the JSON object the dialect reads.
var (
	consoleSpanPrefix  = []byte("[Exporter] Export span")
	consoleTracePrefix = []byte("[Exporter] Export trace")
	consoleTracePyRE   = regexp.MustCompile(`^\[Exporter\] Export trace_id=([^,\s]+), name=(.*?),?\s*$`)
	consoleTraceJSRE   = regexp.MustCompile(`^\[Exporter\] Export trace traceId=(\S+) name=(.*?)(?: groupId=(\S+))?\s*$`)
)

// isConsoleExport reports whether text is a line of the ConsoleSpanExporter.
func isConsoleExport(text []byte) bool {
	return bytes.HasPrefix(text, consoleSpanPrefix) || bytes.HasPrefix(text, consoleTracePrefix)
}

var errRedactedExport = errors.New("the exporter redacted the item")

// consoleExport returns the JSON object of a ConsoleSpanExporter line;
// errRedactedExport for an item whose data the exporter left out.
func consoleExport(text []byte) (json.RawMessage, error) {
	t := trimCR(bytes.TrimSpace(text))
	if rest, ok := bytes.CutPrefix(t, []byte("[Exporter] Export span: ")); ok {
		rest = bytes.TrimSpace(rest)
		if json.Valid(rest) {
			return rest, nil
		}
		if v, ok := pyToJSON(string(rest)); ok && len(v) > 0 && v[0] == '{' {
			return v, nil
		}
		return nil, errors.New("not an OpenAI Agents span: the exported span is neither JSON nor a Python dict")
	}
	var id, name, group string
	if m := consoleTracePyRE.FindSubmatch(t); m != nil {
		id, name = string(m[1]), string(m[2])
	} else if m := consoleTraceJSRE.FindSubmatch(t); m != nil {
		id, name, group = string(m[1]), string(m[2]), string(m[3])
	} else {
		return nil, errRedactedExport
	}
	var f fields
	f.str("object", "trace")
	f.str("id", id)
	f.str("workflow_name", name)
	f.str("group_id", group)
	return f.object(), nil
}

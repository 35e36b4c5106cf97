package parse

import (
	"bytes"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/internal/jsonscan"
	"github.com/fips-agents/audit-sidecar/record"
)

// autoDialect picks the dialect of each line from its shape:
//
//   - a JSON object with a "resourceSpans" key: otlp;
//   - a JSON object whose "object" is "trace" or "trace.span", or that
//     has "span_data" and "trace_id" keys, or a line of the SDK's
//     ConsoleSpanExporter ("[Exporter] Export ..."): openai-agents;
//   - a JSON object that names a LangChain callback ("event", or a
//     callback handler's "callback" or "method", starting with "on_") and
//     has a "run_id", "parent_run_id" or "parent_ids" key: langchain;
//   - any other JSON object: native;
//   - a line "LEVEL:logger:message" (DEBUG, INFO, WARNING, ERROR or
//     CRITICAL): fipsagents, unless its message is a JSON object of
//     otlp, openai-agents or langchain (a handler that writes them through
//     Python logging), then that dialect reads the message;
//   - anything else: native, that is a parse_error record (select
//     fipsagents explicitly to record a Python agent's other stderr lines,
//     tracebacks included, as other records).
//
// The decision is made for each line from its own keys, whatever the
// lines before it: one process may print the lines of several frameworks
// to the same stdout. Each dialect keeps its own state, per file, as if it
// were selected.
type autoDialect struct {
	cfg                            Config
	native, fips, otlp, oai, lchai Dialect
}

func newAuto(cfg Config) Dialect { return &autoDialect{cfg: cfg, native: nativeDialect{}} }

// Detect returns the format auto would parse text with.
func Detect(text []byte) string {
	t := bytes.TrimSpace(text)
	if len(t) == 0 {
		return "native"
	}
	if t[0] != '{' {
		if isConsoleExport(t) {
			return "openai-agents"
		}
		if !logLineRE.Match(trimCR(t)) {
			return "native"
		}
		// A framework's JSON line written through Python logging
		// ("INFO:handler:{...}") is that framework's line.
		if msg, ok := loggedJSON(t); ok {
			if f := Detect(msg); f == "otlp" || f == "openai-agents" || f == "langchain" {
				return f
			}
		}
		return "fipsagents"
	}
	var object, event string
	var resourceSpans, runID, spanData, traceID bool
	err := jsonscan.Object(t, func(k, v []byte) error {
		switch string(k) {
		case `"resourceSpans"`:
			resourceSpans = true
		case `"object"`:
			object = unquoteOr(v)
		case `"event"`, `"callback"`, `"method"`, `"type"`:
			if s := unquoteOr(v); event == "" || !strings.HasPrefix(event, "on_") {
				event = s
			}
		case `"run_id"`, `"parent_run_id"`, `"parent_ids"`:
			runID = true
		case `"span_data"`:
			spanData = true
		case `"trace_id"`:
			traceID = true
		}
		return nil
	})
	switch {
	case err != nil:
		return "native"
	case resourceSpans:
		return "otlp"
	case object == "trace" || object == "trace.span" || spanData && traceID:
		return "openai-agents"
	case runID && strings.HasPrefix(event, "on_"):
		return "langchain"
	}
	return "native"
}

func (d *autoDialect) Parse(l Line, now time.Time, emit func(*record.Record)) {
	format := Detect(l.Text)
	if msg, ok := loggedJSON(l.Text); ok && format != "fipsagents" {
		if l.FullLen > int64(len(l.Text)) {
			format = "fipsagents" // cut: what it holds is not known
		} else {
			l.Text = msg // the message of a logging line
		}
	}
	var to Dialect
	switch format {
	case "otlp":
		if d.otlp == nil {
			d.otlp = newOTLP(d.cfg.OTLP)
		}
		to = d.otlp
	case "openai-agents":
		if d.oai == nil {
			d.oai = newOpenAIAgents(d.cfg.OpenAIAgents)
		}
		to = d.oai
	case "langchain":
		if d.lchai == nil {
			d.lchai = newLangChain(d.cfg.LangChain)
		}
		to = d.lchai
	case "fipsagents":
		if d.fips == nil {
			d.fips = newFipsAgents()
		}
		to = d.fips
	default:
		to = d.native
	}
	to.Parse(l, now, emit)
}

// loggedJSON returns the message of a Python logging line when it is a
// JSON object.
func loggedJSON(text []byte) ([]byte, bool) {
	t := trimCR(bytes.TrimSpace(text))
	m := logLineRE.FindSubmatchIndex(t)
	if m == nil {
		return nil, false
	}
	msg := bytes.TrimSpace(t[m[6]:m[7]])
	if len(msg) == 0 || msg[0] != '{' {
		return nil, false
	}
	return msg, true
}

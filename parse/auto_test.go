package parse

import "testing"

func TestDetect(t *testing.T) {
	cases := map[string]string{
		`{"resourceSpans":[]}`:                                   "otlp",
		` {"object":"trace.span","span_data":{}}`:                "openai-agents",
		`{"object":"trace","id":"t"}`:                            "openai-agents",
		`{"event":"on_tool_start","run_id":"r","data":{}}`:       "langchain",
		`{"event":"on_tool_start","name":"no run id"}`:           "native",
		`{"event":"tool_call","run_id":"r"}`:                     "native",
		`{"object":"response"}`:                                  "native",
		`{"action":"tool_call"}`:                                 "native",
		`{"resourceSpans":[] `:                                   "native",
		"INFO:fipsagents.security.audit:tool_inspection_finding": "fipsagents",
		"DEBUG:fipsagents.tracing:trace x: {}\r":                 "fipsagents",
		"WARNING:root:disk almost full":                          "fipsagents",
		"Traceback (most recent call last):":                     "native",
		"":                                                       "native",
		"info:lowercase:is not python logging":                   "native",
	}
	for line, want := range cases {
		if got := Detect([]byte(line)); got != want {
			t.Errorf("Detect(%q) = %s, want %s", line, got, want)
		}
	}
}

func FuzzAuto(f *testing.F) { fuzzDialect(f, "auto") }

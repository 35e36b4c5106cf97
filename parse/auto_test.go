package parse

import "testing"

func TestDetect(t *testing.T) {
	cases := map[string]string{
		`{"resourceSpans":[]}`:                                                "otlp",
		` {"object":"trace.span","span_data":{}}`:                             "openai-agents",
		`{"object":"trace","id":"t"}`:                                         "openai-agents",
		`{"event":"on_tool_start","run_id":"r","data":{}}`:                    "langchain",
		`{"event":"on_tool_start","name":"no run id"}`:                        "native",
		`{"event":"tool_call","run_id":"r"}`:                                  "native",
		`{"object":"response"}`:                                               "native",
		`{"id":"s","trace_id":"t","span_data":{"type":"function"}}`:           "openai-agents",
		`{"span_data":{}}`:                                                    "native",
		`{"event":"on_tool_end","parent_run_id":"p","output":"x"}`:            "langchain",
		`{"callback":"on_tool_start","run_id":"r","serialized":{"name":"t"}}`: "langchain",
		`{"method":"on_llm_end","run_id":"r","parent_run_id":null}`:           "langchain",
		`{"type":"on_chain_start","run_id":"r"}`:                              "langchain",
		`{"event":"x","callback":"on_tool_start","run_id":"r"}`:               "langchain",
		`{"event":"on_tool_start","callback":"x","run_id":"r"}`:               "langchain",
		`{"event":"on_chain_start","parent_ids":[],"name":"LangGraph"}`:       "langchain",
		`{"action":"tool_call"}`:                                              "native",
		`{"resourceSpans":[] `:                                                "native",
		"INFO:fipsagents.security.audit:tool_inspection_finding":              "fipsagents",
		"DEBUG:fipsagents.tracing:trace x: {}\r":                              "fipsagents",
		"WARNING:root:disk almost full":                                       "fipsagents",
		"Traceback (most recent call last):":                                  "native",
		"":                                                                    "native",
		"info:lowercase:is not python logging":                                "native",
	}
	for line, want := range cases {
		if got := Detect([]byte(line)); got != want {
			t.Errorf("Detect(%q) = %s, want %s", line, got, want)
		}
	}
}

func FuzzAuto(f *testing.F) { fuzzDialect(f, "auto") }

// TestAuto_EachLineByItsOwnKeys: whichever framework's line comes first,
// every line is read by the dialect its own keys name (one process may
// print the lines of several frameworks to the same stdout).
func TestAuto_EachLineByItsOwnKeys(t *testing.T) {
	lines := map[string]string{
		"openai-agents": `{"object":"trace.span","id":"s1","trace_id":"t1","parent_id":null,"started_at":"2026-11-26T10:00:00+00:00","ended_at":"2026-11-26T10:00:01+00:00","span_data":{"type":"function","name":"lookup","input":"{}","output":"ok"},"error":null}`,
		"langchain":     `{"event":"on_tool_start","name":"refund","run_id":"r1","parent_ids":["r0"],"tags":[],"metadata":{},"data":{"input":{"order":1}}}`,
		"callbacks":     `{"event":"on_tool_start","run_id":"r2","parent_run_id":"r0","serialized":{"name":"refund"},"input_str":"{'order': 1}","inputs":{"order":1}}`,
		"otlp":          `{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"a","spanId":"b","name":"execute_tool refund","startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},{"key":"gen_ai.tool.name","value":{"stringValue":"refund"}}]}]}]}]}`,
		"fipsagents":    `WARNING:fipsagents.security.audit.permissions:permission_decision tool=refund action=deny rule_id=r mode=enforce`,
		"native":        `{"ts":"2026-11-26T10:00:00Z","action":"tool_call","tool":"refund"}`,
	}
	want := map[string]string{
		"openai-agents": "tool_call lookup,tool_result lookup",
		"langchain":     "tool_call refund",
		"callbacks":     "tool_call refund",
		"otlp":          "tool_call refund,tool_result refund",
		"fipsagents":    "decision refund",
		"native":        "tool_call refund",
	}
	names := []string{"openai-agents", "langchain", "callbacks", "otlp", "fipsagents", "native"}
	for _, first := range names {
		text := lines[first]
		order := []string{first}
		for _, n := range names {
			if n != first {
				text += "\n" + lines[n]
				order = append(order, n)
			}
		}
		got := map[string]string{}
		for _, r := range runLines(t, Config{Format: "auto"}, text) {
			n := order[r.Source.Offset-1]
			if got[n] != "" {
				got[n] += ","
			}
			got[n] += r.Action + " " + r.Tool
		}
		for _, n := range names {
			if got[n] != want[n] {
				t.Errorf("first %s: line %s gave %q, want %q", first, n, got[n], want[n])
			}
		}
	}
}

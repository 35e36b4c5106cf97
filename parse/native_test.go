package parse

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestNative(t *testing.T) {
	cases := []struct {
		name  string
		line  string
		check func(t *testing.T, r *record.Record)
	}{
		{"design example", `{"ts":"2026-11-26T10:00:00.123Z","action":"tool_call","user":"u-17","tenant":"acme","session":"s-9","model":"granite-3.3-8b","tool":"payments.refund","arguments":{"email":"dana@example.com","amount":249}}`,
			func(t *testing.T, r *record.Record) {
				want := record.Record{Action: "tool_call", User: "u-17", Tenant: "acme", Session: "s-9", Model: "granite-3.3-8b", Tool: "payments.refund"}
				if r.Action != want.Action || r.User != want.User || r.Tenant != want.Tenant || r.Session != want.Session || r.Model != want.Model || r.Tool != want.Tool {
					t.Errorf("fields: %+v", r)
				}
				if !r.TS.Equal(time.Date(2026, 11, 26, 10, 0, 0, 123000000, time.UTC)) || !r.IngestedAt.Equal(now) {
					t.Errorf("times: %v %v", r.TS, r.IngestedAt)
				}
				if string(r.Arguments) != `{"email":"dana@example.com","amount":249}` || r.Detail != nil {
					t.Errorf("arguments %s detail %s", r.Arguments, r.Detail)
				}
			}},
		{"aliases and detail", `{"type":"tool_result","session_id":"s","trace_id":"t","outcome":"failure","zeta":1,"alpha":{"x":[1,2]},"seq":7}`,
			func(t *testing.T, r *record.Record) {
				if r.Action != "tool_result" || r.Session != "s" || r.Trace != "t" || r.Outcome != "failure" {
					t.Errorf("fields: %+v", r)
				}
				if string(r.Detail) != `{"alpha":{"x":[1,2]},"seq":7,"zeta":1}` {
					t.Errorf("detail %s", r.Detail)
				}
				if !r.TS.Equal(now) {
					t.Errorf("missing ts should fall back to now: %v", r.TS)
				}
			}},
		{"unknown action and outcome kept in detail", `{"event":"thinking","outcome":"meh"}`,
			func(t *testing.T, r *record.Record) {
				if r.Action != "other" || r.Outcome != "unknown" || string(r.Detail) != `{"action":"thinking","outcome":"meh"}` {
					t.Errorf("%+v %s", r, r.Detail)
				}
			}},
		{"agent cannot forge sidecar actions", `{"action":"sidecar_stop"}`,
			func(t *testing.T, r *record.Record) {
				if r.Action != "other" {
					t.Errorf("action %q", r.Action)
				}
			}},
		{"numbers as identity", `{"action":"decision","user":12345}`,
			func(t *testing.T, r *record.Record) {
				if r.User != "12345" {
					t.Errorf("user %q", r.User)
				}
			}},
		{"escaped strings", `{"action":"decision","user":"d\u0061na\n"}`,
			func(t *testing.T, r *record.Record) {
				if r.User != "dana\n" {
					t.Errorf("user %q", r.User)
				}
			}},
		{"CRLF", "{\"action\":\"decision\"}\r", func(t *testing.T, r *record.Record) {
			if r.Action != "decision" {
				t.Errorf("action %q", r.Action)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Native(Line{Text: []byte(tc.line), Source: record.Source{File: "f", Offset: 9}}, now)
			if r.Action == record.ActionParseError {
				t.Fatalf("parse_error: %s", r.Detail)
			}
			if r.Source == nil || r.Source.Offset != 9 {
				t.Errorf("source %+v", r.Source)
			}
			tc.check(t, r)
		})
	}
}

func TestNative_ParseErrors(t *testing.T) {
	cases := map[string]string{
		"not json":       `this is not json dana@example.com`,
		"array":          `[1,2,3]`,
		"no action":      `{"user":"u"}`,
		"bad ts":         `{"action":"decision","ts":"yesterday"}`,
		"object user":    `{"action":"decision","user":{"id":1}}`,
		"truncated json": `{"action":"decision","arguments":{"a":`,
		"invalid utf8":   "{\"action\":\"decision\"} \xff\xfe",
		"nul bytes":      "\x00\x00{\"action\"",
		"empty":          ``,
		"null":           `null`,
	}
	for name, line := range cases {
		t.Run(name, func(t *testing.T) {
			r := Native(Line{Text: []byte(line)}, now)
			if r.Action != record.ActionParseError {
				t.Fatalf("action %q, want parse_error", r.Action)
			}
			var d map[string]any
			if err := json.Unmarshal(r.Detail, &d); err != nil {
				t.Fatalf("detail not JSON: %v: %s", err, r.Detail)
			}
			if d["error"] == "" || d["raw_sha256"] == "" || int(d["raw_bytes"].(float64)) != len(line) {
				t.Errorf("detail %s", r.Detail)
			}
			if msg := d["error"].(string); strings.Contains(msg, "dana") {
				t.Errorf("error message quotes the input: %q", msg)
			}
		})
	}
}

func TestParseError_CapsRaw(t *testing.T) {
	long := strings.Repeat("x", MaxRawBytes-10) + " 4111 1111 1111 1111 " + strings.Repeat("y", 5000)
	r := Native(Line{Text: []byte(long)}, now)
	var d struct {
		Raw       string `json:"raw"`
		Bytes     int    `json:"raw_bytes"`
		Truncated bool   `json:"raw_truncated"`
	}
	json.Unmarshal(r.Detail, &d)
	if len(d.Raw) > MaxRawBytes || d.Bytes != len(long) || !d.Truncated {
		t.Fatalf("raw %d bytes, raw_bytes %d, truncated %v", len(d.Raw), d.Bytes, d.Truncated)
	}
	if strings.Contains(d.Raw, "4111 11") {
		t.Fatalf("a split card number prefix survived the cut: %q", d.Raw[len(d.Raw)-40:])
	}
}

func TestNative_HugeLineIsParseError(t *testing.T) {
	r := Native(Line{Text: []byte(`{"action":"decision"}`), FullLen: 10 << 20}, now)
	if r.Action != record.ActionParseError || !strings.Contains(string(r.Detail), `"raw_bytes":10485760`) {
		t.Fatalf("%s %s", r.Action, r.Detail)
	}
}

func FuzzNative(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	for _, fn := range files {
		b, _ := os.ReadFile(fn)
		for _, l := range strings.Split(string(b), "\n") {
			f.Add([]byte(l))
		}
	}
	f.Add([]byte(`{"action":"tool_call","arguments":{"a":[1,{"b":"c"}]},"x":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r := Native(Line{Text: line}, now)
		if r.Action != record.ActionParseError && !json.Valid(line) {
			t.Fatalf("accepted invalid JSON %q", line)
		}
		if !record.IsAction(r.Action) {
			t.Fatalf("action %q", r.Action)
		}
		for _, raw := range []json.RawMessage{r.Arguments, r.Detail} {
			if raw != nil && !json.Valid(raw) {
				t.Fatalf("invalid JSON produced: %q", raw)
			}
		}
		r.Chain, r.Kid, r.Prev = "c", "k", strings.Repeat("0", 64)
		p := record.AppendCanonical(nil, r)
		if !json.Valid(p) {
			t.Fatalf("canonical payload not JSON: %q", p)
		}
	})
}

func BenchmarkNative(b *testing.B) {
	line := []byte(`{"ts":"2025-06-02T09:00:00.001261673Z","seq":1,"event_id":"evt_fe29497f88973254","type":"tool_call","session_id":"sess_472b1ede2c81","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","user":"u-78934","tenant":"black-mesa","agent":"data-analyst","model":"claude-3-5-haiku-20241022","tool":"crm.lookup_customer","call_id":"call_1","arguments":{"customer":{"email":"dana@example.com","phone":"415-555-0132"},"fields":["name","plan","balance"],"limit":10}}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		Native(Line{Text: line}, now)
	}
}

// BenchmarkNative_Dialect is BenchmarkNative's line through New("native"),
// that is with approval pairing, as the pipeline parses it.
func BenchmarkNative_Dialect(b *testing.B) {
	line := []byte(`{"ts":"2025-06-02T09:00:00.001261673Z","seq":1,"event_id":"evt_fe29497f88973254","type":"tool_call","session_id":"sess_472b1ede2c81","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","user":"u-78934","tenant":"black-mesa","agent":"data-analyst","model":"claude-3-5-haiku-20241022","tool":"crm.lookup_customer","call_id":"call_1","arguments":{"customer":{"email":"dana@example.com","phone":"415-555-0132"},"fields":["name","plan","balance"],"limit":10}}`)
	mk, err := New(Config{Format: "native"})
	if err != nil {
		b.Fatal(err)
	}
	d := mk()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		d.Parse(Line{Text: line}, now, func(*record.Record) {})
	}
}

// A duplicate key is found among a line's first keys and past the point
// where the set moves to a map.
func TestNative_DuplicateKeys(t *testing.T) {
	for _, n := range []int{1, 31, 32, 33, 200} {
		var b strings.Builder
		b.WriteString(`{"action":"decision"`)
		for i := range n {
			fmt.Fprintf(&b, `,"k%d":%d`, i, i)
		}
		ok := b.String() + `}`
		if r := Native(Line{Text: []byte(ok)}, now); r.Action != record.ActionDecision {
			t.Fatalf("%d keys: %s", n, r.Action)
		}
		for _, dup := range []string{"k0", fmt.Sprintf("k%d", n-1), "action"} {
			bad := b.String() + `,"` + dup + `":1}`
			if r := Native(Line{Text: []byte(bad)}, now); r.Action != record.ActionParseError {
				t.Errorf("%d keys, %s again: %s", n, dup, r.Action)
			}
		}
	}
}

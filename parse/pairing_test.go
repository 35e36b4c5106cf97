package parse

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
)

func parseAll(d Dialect, lines ...string) []*record.Record {
	var out []*record.Record
	for i, l := range lines {
		d.Parse(Line{Text: []byte(l), Source: record.Source{File: "f", Offset: int64(i)}}, now, func(r *record.Record) { out = append(out, r) })
	}
	return out
}

func TestPaired(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  []string // detail of each record, "" for none
	}{
		{"request and grant by call id",
			[]string{
				`{"ts":"2026-11-26T10:00:00Z","action":"approval_requested","tool":"pay","call_id":"c1"}`,
				`{"action":"approval_granted","call_id":"c1","approver":"ops"}`,
				`{"action":"tool_call","tool":"pay","call_id":"c1"}`,
			},
			[]string{`{"call_id":"c1"}`, `{"call_id":"c1","request_ts":"2026-11-26T10:00:00.000000000Z"}`, `{"call_id":"c1"}`}},
		{"denial by tool gets the call id, execution after it is a finding",
			[]string{
				`{"ts":"2026-11-26T10:00:00Z","action":"approval_requested","tool":"pay","call_id":"c1"}`,
				`{"ts":"2026-11-26T10:00:01Z","action":"approval_denied","tool":"pay"}`,
				`{"action":"tool_call","tool":"pay","call_id":"c1"}`,
				`{"action":"tool_result","tool":"pay","call_id":"c1","outcome":"success"}`,
				`{"action":"tool_result","tool":"pay","call_id":"c1","outcome":"success"}`,
			},
			[]string{`{"call_id":"c1"}`, `{"call_id":"c1","request_ts":"2026-11-26T10:00:00.000000000Z"}`,
				`{"call_id":"c1","finding":{"call_id":"c1","denied_at":"2026-11-26T10:00:01.000000000Z","tool":"pay","type":"executed_after_denial"}}`,
				`{"call_id":"c1","finding":{"call_id":"c1","denied_at":"2026-11-26T10:00:01.000000000Z","tool":"pay","type":"executed_after_denial"}}`,
				`{"call_id":"c1"}`}},
		{"a denied result is not an execution; a new request ends a tool denial",
			[]string{
				`{"action":"approval_denied","tool":"pay"}`,
				`{"action":"tool_result","tool":"pay","outcome":"denied"}`,
				`{"action":"approval_requested","tool":"pay"}`,
				`{"action":"tool_call","tool":"pay"}`,
			},
			[]string{`{"pairing":"no pending request"}`, ``, ``, ``}},
		{"a decision for another call of the tool does not take this call's request",
			[]string{
				`{"action":"approval_requested","tool":"pay","call_id":"c1"}`,
				`{"action":"approval_granted","tool":"pay","call_id":"c2"}`,
				`{"action":"approval_denied","tool":"pay"}`,
			},
			[]string{`{"call_id":"c1"}`, `{"call_id":"c2","pairing":"no pending request"}`, `{"call_id":"c1","request_ts":"2026-11-26T12:00:00.000000000Z"}`}},
		{"other calls of a denied call's tool are not findings",
			[]string{
				`{"action":"approval_denied","tool":"pay","call_id":"c1"}`,
				`{"action":"tool_call","tool":"pay","call_id":"c2"}`,
			},
			[]string{`{"call_id":"c1","pairing":"no pending request"}`, `{"call_id":"c2"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := parseAll(Paired(NativeDialect()), tc.lines...)
			if len(rs) != len(tc.want) {
				t.Fatalf("%d records", len(rs))
			}
			for i, r := range rs {
				if string(r.Detail) != tc.want[i] {
					t.Errorf("record %d (%s): detail %s, want %s", i, r.Action, r.Detail, tc.want[i])
				}
			}
		})
	}
}

func TestPaired_Bounded(t *testing.T) {
	p := Paired(NativeDialect()).(*paired)
	var lines []string
	for range MaxPending + 10 {
		lines = append(lines, `{"action":"approval_requested","tool":"t"}`, `{"action":"approval_denied","call_id":"x"}`)
	}
	parseAll(p, strings.Join(lines[:1], ""))
	parseAll(p, lines...)
	if len(p.pending) > MaxPending || len(p.denied.list) > MaxPending {
		t.Fatalf("pending %d denied %d", len(p.pending), len(p.denied.list))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestDenials_MatchesScan drives the denial table with random pushes,
// removals and tool ends, and checks match against a plain scan after
// every step: the counts that skip the scan must never hide a match.
func TestDenials_MatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var ds denials
	for step := range 20000 {
		switch rng.IntN(4) {
		case 0, 1:
			ds.push(approval{tool: pick("", "a", "b"), callID: pick("", "c1", "c2", "c3", itoa(step))})
		case 2:
			if len(ds.list) > 0 {
				ds.removeAt(rng.IntN(len(ds.list)))
			}
		case 3:
			ds.endTool(pick("", "a", "b"))
		}
		tool, id := pick("", "a", "b"), pick("", "c1", "c2", "c3")
		want := -1
		for i, d := range ds.list {
			if id != "" && d.callID != "" && id == d.callID || (id == "" || d.callID == "") && d.tool != "" && d.tool == tool {
				want = i
				break
			}
		}
		if got := ds.match(tool, id); got != want {
			t.Fatalf("step %d: match(%q, %q) = %d, want %d", step, tool, id, got, want)
		}
	}
}

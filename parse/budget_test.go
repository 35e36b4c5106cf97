package parse

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/internal/hostile"
	"github.com/fips-agents/audit-sidecar/record"
)

func TestValues(t *testing.T) {
	for in, want := range map[string]int{
		``:                                    1,
		`"a"`:                                 1,
		`{"a":1}`:                             3,
		`[1,2,3]`:                             4,
		`{"a":[1,{"b":2}],"c":"x"}`:           9,
		`"{\"a\":1, \"b\":[2]}"`:              6, // JSON held in a string counts too
		`INFO:x:trace t: {"spans":[{"a":1}]}`: 9,
	} {
		if got := Values([]byte(in)); got != want {
			t.Errorf("Values(%s) = %d, want %d", in, got, want)
		}
	}
}

// budgetDialect is format's dialect under a value budget, with the mapping
// hostile lines expect.
func budgetDialect(t *testing.T, format string, limit int) Dialect {
	t.Helper()
	mk, err := New(Config{Format: format, Mapping: Mapping{"action": {Path: "action"}}, MaxValues: limit})
	if err != nil {
		t.Fatal(err)
	}
	return mk()
}

func budgetParse(d Dialect, l Line) []*record.Record {
	var rs []*record.Record
	d.Parse(l, now, func(r *record.Record) { rs = append(rs, r) })
	return rs
}

// Every hostile shape, in every dialect: a line within the value budget
// is read by its dialect; one over it becomes a single parse_error record
// that keeps the line's length, SHA-256 and a capped prefix, and says why.
func TestBudget_HostileShapes(t *testing.T) {
	const size, limit = 256 << 10, 4096
	for _, format := range hostile.Formats {
		for _, shape := range hostile.Shapes {
			t.Run(format+"/"+shape, func(t *testing.T) {
				line := hostile.Line(format, shape, size, limit)
				if len(line) > size {
					t.Fatalf("line of %d bytes, want at most %d", len(line), size)
				}
				rs := budgetParse(budgetDialect(t, format, limit), Line{Text: line, Source: record.Source{Offset: 7}})
				if shape != "over" {
					if Values(line) > limit {
						t.Fatalf("line holds %d values, more than %d", Values(line), limit)
					}
					for _, r := range rs {
						if r.Action == record.ActionParseError {
							t.Fatalf("line within the budget became a parse_error: %s", r.Detail)
						}
					}
					if len(rs) == 0 {
						t.Fatal("no record")
					}
					return
				}
				if len(rs) != 1 || rs[0].Action != record.ActionParseError || rs[0].Source == nil || rs[0].Source.Offset != 7 {
					t.Fatalf("line over the budget: %d records, first %+v", len(rs), rs[0])
				}
				var d struct {
					Error     string `json:"error"`
					Raw       string `json:"raw"`
					Bytes     int    `json:"raw_bytes"`
					SHA256    string `json:"raw_sha256"`
					Truncated bool   `json:"raw_truncated"`
				}
				if err := json.Unmarshal(rs[0].Detail, &d); err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(line)
				if !strings.Contains(d.Error, "JSON values and keys") || d.Bytes != len(line) || d.SHA256 != hex.EncodeToString(sum[:]) ||
					!d.Truncated || len(d.Raw) > MaxRawBytes || !strings.HasPrefix(string(line), d.Raw) {
					t.Errorf("parse_error detail: error %q, raw %d bytes, raw_bytes %d, sha256 %s, truncated %v", d.Error, len(d.Raw), d.Bytes, d.SHA256, d.Truncated)
				}
			})
		}
	}
}

// A line cut by the line limit is left to its dialect, which says so
// (and the native dialect no longer reads the members of the cut text).
func TestBudget_TruncatedLineNamesTheLineLimit(t *testing.T) {
	line := hostile.Line("native", "over", 64<<10, 0)
	for _, format := range []string{"native", "langchain"} {
		rs := budgetParse(budgetDialect(t, format, 1024), Line{Text: line, FullLen: 1 << 30})
		if len(rs) != 1 || rs[0].Action != record.ActionParseError || !strings.Contains(string(rs[0].Detail), "exceeds the line limit") ||
			!strings.Contains(string(rs[0].Detail), `"raw_bytes":1073741824`) {
			t.Errorf("%s: %d records, %s", format, len(rs), rs[0].Detail)
		}
	}
}

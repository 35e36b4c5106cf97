package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// Each file gets its own dialect: a denial in one file does not flag a
// call in another, and one line may become several records, all with
// that line's source.
func TestIngest_DialectPerFile(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sp.Register([]string{"s"})
	mk, err := parse.New(parse.Config{Format: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, Multi: true, Dialect: mk})
	if err != nil {
		t.Fatal(err)
	}
	at := func(file string, n int, text string) tailer.Line {
		return tailer.Line{Text: []byte(text), Watch: file, Path: file, Offset: int64(n * 100),
			Next: tailer.Position{Path: file, Offset: int64(n*100 + 100)}}
	}
	otlp := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"t","spanId":"s","startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},{"key":"gen_ai.tool.name","value":{"stringValue":"pay"}},{"key":"gen_ai.tool.call.id","value":{"stringValue":"c1"}}]}]}]}]}`
	lines := make(chan tailer.Line, 8)
	lines <- at("/a", 0, `{"action":"approval_denied","tool":"pay","call_id":"c1"}`)
	lines <- at("/b", 0, otlp)
	lines <- at("/a", 1, otlp)
	if err := runLines(in, lines); err != nil {
		t.Fatal(err)
	}
	sealed, err := sp.Read("s", spool.Range{Max: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sealed {
		r, err := record.Parse(s.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if r.Source == nil {
			continue
		}
		finding := strings.Contains(string(r.Detail), "executed_after_denial")
		got = append(got, r.Source.File+":"+r.Action+map[bool]string{true: "!", false: ""}[finding])
		if r.Source.File == "/a" && r.Action != "approval_denied" && r.Source.Offset != 100 {
			t.Errorf("record of /a's second line has offset %d", r.Source.Offset)
		}
	}
	want := "/a:approval_denied /b:tool_call /b:tool_result /a:tool_call! /a:tool_result!"
	if strings.Join(got, " ") != want {
		t.Fatalf("records %v, want %s", got, want)
	}
}

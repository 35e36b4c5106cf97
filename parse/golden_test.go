package parse

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
)

var update = flag.Bool("update", false, "rewrite parse/testdata/<dialect>/*.golden from the parser's output")

// goldenRecord is how a record appears in a golden file: the fields a
// parse sets, empty ones left out.
type goldenRecord struct {
	TS        string          `json:"ts"`
	Action    string          `json:"action"`
	User      string          `json:"user,omitempty"`
	Tenant    string          `json:"tenant,omitempty"`
	Agent     string          `json:"agent,omitempty"`
	Session   string          `json:"session,omitempty"`
	Trace     string          `json:"trace,omitempty"`
	Model     string          `json:"model,omitempty"`
	Tool      string          `json:"tool,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Outcome   string          `json:"outcome,omitempty"`
	Approver  string          `json:"approver,omitempty"`
	Detail    json.RawMessage `json:"detail,omitempty"`
	Line      int             `json:"line"`
}

// dialectConfig is the test config of a dialect: testdata/<dialect>/config.json
// when present.
func dialectConfig(t testing.TB, format string) Config {
	cfg := Config{Format: format}
	b, err := os.ReadFile(filepath.Join("testdata", format, "config.json"))
	if err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatalf("%s/config.json: %v", format, err)
		}
	}
	return cfg
}

// runLines parses text, one line at a time, with a new dialect of cfg.
func runLines(t testing.TB, cfg Config, text string) []*record.Record {
	mk, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := mk()
	var out []*record.Record
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, l := range lines {
		n := 0
		d.Parse(Line{Text: []byte(l), Source: record.Source{File: "in", Offset: int64(i + 1)}}, now, func(r *record.Record) {
			n++
			out = append(out, r)
		})
		if n == 0 {
			t.Fatalf("line %d: no record", i+1)
		}
	}
	return out
}

func golden(rs []*record.Record) []byte {
	var b bytes.Buffer
	for _, r := range rs {
		g := goldenRecord{TS: record.FormatTime(r.TS), Action: r.Action, User: r.User, Tenant: r.Tenant,
			Agent: r.Agent, Session: r.Session, Trace: r.Trace, Model: r.Model, Tool: r.Tool,
			Arguments: r.Arguments, Outcome: r.Outcome, Approver: r.Approver, Detail: r.Detail, Line: int(r.Source.Offset)}
		if r.Action == record.ActionParseError {
			g.TS = "" // parse errors carry the ingestion time
		}
		line, err := json.Marshal(g)
		if err != nil {
			panic(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestGolden parses every testdata/<dialect>/*.in and compares the records
// with the .golden file beside it (go test ./parse -run TestGolden -update
// rewrites them).
func TestGolden(t *testing.T) {
	ins, _ := filepath.Glob(filepath.Join("testdata", "*", "*.in"))
	if len(ins) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range ins {
		format := filepath.Base(filepath.Dir(in))
		t.Run(format+"/"+strings.TrimSuffix(filepath.Base(in), ".in"), func(t *testing.T) {
			text, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			rs := runLines(t, dialectConfig(t, format), string(text))
			for _, r := range rs {
				checkRecord(t, r)
			}
			got := golden(rs)
			// A second run must give the same bytes: a parse is deterministic.
			if again := golden(runLines(t, dialectConfig(t, format), string(text))); !bytes.Equal(got, again) {
				t.Fatal("two parses of the same input differ")
			}
			path := strings.TrimSuffix(in, ".in") + ".golden"
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := range max(len(gl), len(wl)) {
					var g, w string
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if g != w {
						t.Fatalf("%s: record %d differs\n got: %s\nwant: %s", path, i+1, g, w)
					}
				}
			}
		})
	}
}

// checkRecord checks what every record of every dialect must satisfy.
func checkRecord(t testing.TB, r *record.Record) {
	t.Helper()
	if !record.IsAction(r.Action) || isSidecarAction(r.Action) && r.Action != record.ActionParseError {
		t.Fatalf("action %q", r.Action)
	}
	if r.Outcome != "" && !record.IsOutcome(r.Outcome) {
		t.Fatalf("outcome %q", r.Outcome)
	}
	for _, raw := range []json.RawMessage{r.Arguments, r.Detail} {
		if raw != nil && !json.Valid(raw) {
			t.Fatalf("invalid JSON produced: %q", raw)
		}
	}
	if r.Detail != nil && r.Detail[0] != '{' {
		t.Fatalf("detail is not an object: %s", r.Detail)
	}
	if r.Source == nil || !r.IngestedAt.Equal(now) || r.TS.IsZero() {
		t.Fatalf("source %v ingested_at %v ts %v", r.Source, r.IngestedAt, r.TS)
	}
	c := *r
	c.Chain, c.Kid, c.Prev = "c", "k", strings.Repeat("0", 64)
	if p := record.AppendCanonical(nil, &c); !json.Valid(p) {
		t.Fatalf("canonical payload not JSON: %q", p)
	}
}

// fuzzDialect fuzzes one dialect with many lines in a row (state carried
// between them), seeded from its golden inputs.
func fuzzDialect(f *testing.F, format string) {
	ins, _ := filepath.Glob(filepath.Join("testdata", format, "*.in"))
	for _, in := range ins {
		b, _ := os.ReadFile(in)
		for _, l := range strings.Split(string(b), "\n") {
			f.Add([]byte(l))
		}
	}
	cfg := dialectConfig(f, format)
	mk, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	d := mk()
	f.Fuzz(func(t *testing.T, line []byte) {
		n := 0
		d.Parse(Line{Text: line, Source: record.Source{File: "f"}}, now, func(r *record.Record) {
			n++
			checkRecord(t, r)
		})
		if n == 0 {
			t.Fatal("no record")
		}
	})
}

func FuzzOTLP(f *testing.F)         { fuzzDialect(f, "otlp") }
func FuzzOpenAIAgents(f *testing.F) { fuzzDialect(f, "openai-agents") }
func FuzzLangChain(f *testing.F)    { fuzzDialect(f, "langchain") }
func FuzzFipsAgents(f *testing.F)   { fuzzDialect(f, "fipsagents") }
func FuzzMapping(f *testing.F)      { fuzzDialect(f, "mapping") }

// BenchmarkDialect parses each dialect's golden inputs, line by line, with
// pairing (as the pipeline does); bytes/s is of input lines.
func BenchmarkDialect(b *testing.B) {
	for _, format := range []string{"native", "otlp", "openai-agents", "langchain", "fipsagents", "mapping", "auto"} {
		dir := format
		if format == "native" {
			dir = "auto"
		}
		ins, _ := filepath.Glob(filepath.Join("testdata", dir, "*.in"))
		var lines [][]byte
		size := 0
		for _, in := range ins {
			t, _ := os.ReadFile(in)
			for _, l := range strings.Split(strings.TrimSuffix(string(t), "\n"), "\n") {
				if format == "native" && Detect([]byte(l)) != "native" {
					continue
				}
				lines = append(lines, []byte(l))
				size += len(l) + 1
			}
		}
		b.Run(format, func(b *testing.B) {
			mk, err := New(dialectConfig(b, format))
			if err != nil {
				b.Fatal(err)
			}
			d := mk()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range lines {
					d.Parse(Line{Text: l}, now, func(*record.Record) {})
				}
			}
		})
	}
}

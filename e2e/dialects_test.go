package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dialectCase is one agent framework's output fed to the running binary:
// the golden input of the parse tests, and the records its golden file
// says it becomes.
type dialectCase struct {
	name, format, input string
	envelope            string // "" or cri
	source              string // extra source keys (indented YAML)
}

const mappingYAML = `  mapping:
    ts: {path: time, layout: unix}
    action: {path: kind, map: {tool.invoke: tool_call, tool.done: tool_result, llm.call: model_call, hitl.ask: approval_requested, hitl.yes: approval_granted, hitl.no: approval_denied}}
    user: {path: ctx.user}
    tenant: {path: ctx.org, default: default-tenant}
    session: {path: ctx.session}
    model: {path: llm}
    tool: {path: tool.name}
    arguments: {path: tool.input}
    call_id: {path: tool.call}
    outcome: {path: status, map: {ok: success, err: failure}}
    approver: {path: reviewer}
`

// Each dialect, through the binary: a file in, the golden records out of
// GET /v1/audit, redacted, chained and verifiable; approvals queryable by
// action and by call id. The CRI cases wrap every line as the kubelet
// writes a container's stdout or stderr.
func TestDialect_EndToEnd(t *testing.T) {
	for _, tc := range []dialectCase{
		{"otlp", "otlp", "../parse/testdata/otlp/genai.in", "", ""},
		{"openai-agents", "openai-agents", "../parse/testdata/openai-agents/refund.in", "", "  openai_agents: {user_key: user, tenant_key: org}\n"},
		{"langchain", "langchain", "../parse/testdata/langchain/agent.in", "", ""},
		{"fipsagents", "fipsagents", "../parse/testdata/fipsagents/session.in", "", ""},
		{"mapping", "mapping", "../parse/testdata/mapping/team.in", "", mappingYAML},
		{"auto", "auto", "../parse/testdata/auto/mixed.in", "", ""},
		{"fipsagents-cri", "fipsagents", "../parse/testdata/fipsagents/session.in", "cri", ""},
		{"otlp-cri", "otlp", "../parse/testdata/otlp/genai.in", "cri", ""},
		{"langchain-docker", "langchain", "../parse/testdata/langchain/agent.in", "docker", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runDialectCase(t, tc)
		})
	}
}

// One container's output mixing frameworks (an OpenAI Agents trace
// processor and a LangChain callback handler printing JSON lines to stdout
// in one process, astream_events records, Python logging on stderr, a stray
// print), read with format auto: each line is stored as the dialect its own
// keys name makes it, whichever came first, bare and inside the CRI and
// docker envelopes a container runtime writes.
func TestDialect_AutoMixedFrameworks(t *testing.T) {
	for _, envelope := range []string{"", "cri", "docker"} {
		name := envelope
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			runDialectCase(t, dialectCase{"auto-" + name, "auto", "../parse/testdata/auto/frameworks.in", envelope, ""})
		})
	}
}

// pythonLogLine is a line of Python's default logging format.
var pythonLogLine = regexp.MustCompile(`^(DEBUG|INFO|WARNING|ERROR|CRITICAL):`)

func runDialectCase(t *testing.T, tc dialectCase) {
	in, err := os.ReadFile(tc.input)
	if err != nil {
		t.Fatal(err)
	}
	goldenText, err := os.ReadFile(strings.TrimSuffix(tc.input, ".in") + ".golden")
	if err != nil {
		t.Fatal(err)
	}
	var want []auditRecord
	for _, l := range strings.Split(strings.TrimSpace(string(goldenText)), "\n") {
		var r auditRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}

	e := newEnv(t)
	src := "  format: " + tc.format + "\n" + tc.source
	if tc.envelope != "" {
		src += "  envelope: " + tc.envelope + "\n"
	}
	writeFile(t, e.cfgPath, []byte(strings.Replace(e.configYAML(""), "  format: native\n", src, 1)))
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(string(in), "\n"), "\n") {
		stream := "stdout"
		if tc.format == "fipsagents" || pythonLogLine.MatchString(l) {
			stream = "stderr" // Python logging writes to stderr
		}
		switch tc.envelope {
		case "cri":
			for _, piece := range criWrap(stream, l, 1000) {
				b.WriteString(piece)
			}
		case "docker":
			for _, piece := range dockerWrap(stream, l, 1000) {
				b.WriteString(piece)
			}
		default:
			b.WriteString(l + "\n")
		}
	}
	appendLines(t, e.logPath, b.String())

	p := e.start(t)
	addr := p.addr(t)
	var got []auditRecord
	waitFor(t, "the dialect's records", func() bool {
		got = agentRecords(pageAll(t, addr, e.adminToken, nil, 1000))
		return len(got) >= len(want)
	})
	if len(got) != len(want) {
		t.Fatalf("%d records served, want %d", len(got), len(want))
	}
	key := func(r auditRecord) string {
		return strings.Join([]string{r.Action, r.Tool, r.Outcome, r.User, r.Tenant, r.Model, r.Session}, "|")
	}
	var gk, wk []string
	for i := range got {
		gk, wk = append(gk, key(got[i])), append(wk, key(want[i]))
	}
	slices.Sort(gk)
	slices.Sort(wk)
	if !slices.Equal(gk, wk) {
		t.Errorf("records served differ from the golden file\n got: %q\nwant: %q", gk, wk)
	}
	for _, r := range got {
		if s := string(r.raw); strings.Contains(s, "dana@example.com") || strings.Contains(s, "4111 1111 1111 1111") {
			t.Errorf("PII served unredacted: %.300s", s)
		}
	}

	// Approvals: by action, then the whole story of one call by its id.
	var wantDenied int
	for _, r := range want {
		if r.Action == "approval_denied" {
			wantDenied++
		}
	}
	denied := pageAll(t, addr, e.adminToken, url.Values{"action": {"approval_denied"}}, 100)
	if len(denied) != wantDenied {
		t.Errorf("action=approval_denied: %d records, want %d", len(denied), wantDenied)
	}
	for _, d := range denied {
		if d.Tool == "" {
			t.Errorf("approval_denied without its tool: %s", d.raw)
		}
		var id string
		if json.Unmarshal(d.Detail["call_id"], &id) != nil || id == "" {
			continue
		}
		var story []string
		for _, r := range pageAll(t, addr, e.adminToken, url.Values{"call_id": {id}}, 100) {
			story = append(story, r.Action)
		}
		if !slices.Contains(story, "approval_denied") || len(story) < 2 {
			t.Errorf("call_id=%s: %v", id, story)
		}
		t.Logf("call_id=%s: %v", id, story)
	}
	p.stop(t)
	requireValid(t, e.cfgPath)
}

// agentRecords leaves out the sidecar's own records.
func agentRecords(rs []auditRecord) []auditRecord {
	var out []auditRecord
	for _, r := range rs {
		switch r.Action {
		case "chain_start", "sidecar_start", "sidecar_stop", "checkpoint", "key_rotation", "retention_purge", "gap":
		default:
			out = append(out, r)
		}
	}
	return out
}

// fipsagents logs carry no identity: it is joined by request_id from the
// gateway's request log (source.identity_path), so that a tenant-scoped
// auditor sees the records of the tenant's requests.
func TestDialect_IdentityJoin(t *testing.T) {
	e := newEnv(t)
	gw := e.dir + "/gateway.jsonl"
	writeFile(t, gw, []byte(`{"ts":"2026-11-26T10:00:59Z","request_id":"req-7","tenant_id":"acme","subject":"u-17","status":200}`+"\n"+
		`{"ts":"2026-11-26T10:01:30Z","request_id":"req-8","tenant_id":"globex","subject":"u-99","status":200}`+"\n"))
	src := "  format: fipsagents\n  identity_path: " + gw + "\n"
	writeFile(t, e.cfgPath, []byte(strings.Replace(e.configYAML(""), "  format: native\n", src, 1)))
	in, err := os.ReadFile("../parse/testdata/fipsagents/session.in")
	if err != nil {
		t.Fatal(err)
	}
	appendLines(t, e.logPath, string(in))
	p := e.start(t)
	addr := p.addr(t)
	var acme []auditRecord
	waitFor(t, "the records of tenant acme", func() bool {
		acme = pageAll(t, addr, e.acmeToken, nil, 1000)
		return len(acme) >= 3
	})
	for _, r := range acme {
		if r.User != "u-17" || r.Tenant != "acme" || string(r.Detail["request_id"]) != `"req-7"` {
			t.Errorf("acme record: user %q tenant %q request %s", r.User, r.Tenant, r.Detail["request_id"])
		}
	}
	globex := pageAll(t, addr, e.adminToken, url.Values{"tenant": {"globex"}, "action": {"error"}}, 100)
	if len(globex) != 1 || globex[0].User != "u-99" {
		t.Errorf("globex: %d records", len(globex))
	}
	p.stop(t)
	requireValid(t, e.cfgPath)
}

// A line that becomes several records (an OTLP export, a fipsagents trace)
// is committed whole with its offset: killed mid-file with kill -9 and
// restarted, the sidecar writes every line's records exactly once.
func TestDialect_KillMidFileExactlyOnce(t *testing.T) {
	for _, tc := range []struct{ format, input string }{
		{"otlp", "../parse/testdata/otlp/genai.in"},
		{"fipsagents", "../parse/testdata/fipsagents/session.in"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			in, err := os.ReadFile(tc.input)
			if err != nil {
				t.Fatal(err)
			}
			golden, err := os.ReadFile(strings.TrimSuffix(tc.input, ".in") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			// Records per line of the input, from the golden file.
			perLine := map[int]int{}
			for _, l := range strings.Split(strings.TrimSpace(string(golden)), "\n") {
				var g struct{ Line int }
				json.Unmarshal([]byte(l), &g)
				perLine[g.Line]++
			}
			lines := strings.Split(strings.TrimSuffix(string(in), "\n"), "\n")
			const reps = 400
			want := map[int64]int{} // offset -> records
			var b strings.Builder
			for range reps {
				for i, l := range lines {
					want[int64(b.Len())] = perLine[i+1]
					b.WriteString(l + "\n")
				}
			}
			e := newEnv(t)
			e.batchWait = "1ms"
			cfg := strings.Replace(e.configYAML(""), "  format: native\n", "  format: "+tc.format+"\n", 1)
			cfg = strings.Replace(cfg, "  batch_wait: 1ms\n", "  batch_wait: 1ms\n  batch_records: 50\n", 1)
			writeFile(t, e.cfgPath, []byte(cfg))
			appendLines(t, e.logPath, b.String())
			db := openDB(t, e.dbPath)
			lineCount := func() int { // lines with records
				var n int
				db.QueryRow(`SELECT count(DISTINCT json_extract(payload, '$.source.offset')) FROM audit_records`).Scan(&n)
				return n
			}
			p := e.start(t)
			waitFor(t, "some records", func() bool { return lineCount() > len(want)/10 })
			p.kill9(t)
			if n := lineCount(); n >= len(want) {
				t.Logf("all %d lines were in before the kill; the restart re-reads nothing", n)
			}
			p = e.start(t)
			waitFor(t, "every line's records", func() bool { return lineCount() >= len(want) })
			p.stop(t)
			rows, err := db.Query(`SELECT json_extract(payload, '$.source.offset'), count(*) FROM audit_records
				WHERE json_extract(payload, '$.source.offset') IS NOT NULL GROUP BY 1`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			got := map[int64]int{}
			for rows.Next() {
				var off int64
				var n int
				if err := rows.Scan(&off, &n); err != nil {
					t.Fatal(err)
				}
				got[off] = n
			}
			// The restart forgets the pending approvals (documented): the
			// fipsagents line after it may lack its inferred approval_granted.
			bad, short := 0, 0
			for off, n := range want {
				switch {
				case got[off] == n:
				case got[off] == n-1 && tc.format == "fipsagents" && short == 0:
					short++
					t.Logf("line at offset %d: %d records of %d: its pairing state was lost with the restart", off, got[off], n)
				default:
					if bad++; bad <= 5 {
						t.Errorf("line at offset %d: %d records, want %d", off, got[off], n)
					}
				}
			}
			if len(got) != len(want) || bad > 0 {
				t.Fatalf("%d lines with records, want %d; %d lines wrong", len(got), len(want), bad)
			}
			requireValid(t, e.cfgPath)
		})
	}
}

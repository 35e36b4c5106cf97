package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/parse"
)

const minimal = `
source: {path: ./agent.jsonl}
chain: {id: demo-agent, key_file: ./hmac.key}
spool: {path: ./data/spool.db}
sinks: [{name: local, type: sqlite, path: ./data/audit.db}]
server: {listen: 127.0.0.1:0, tokens_file: ./tokens.yaml}
`

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_DefaultsAndPaths(t *testing.T) {
	p := write(t, minimal)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	if c.Source.Path != filepath.Join(dir, "agent.jsonl") || c.Sinks[0].Path != filepath.Join(dir, "data/audit.db") || c.Chain.KeyFile != filepath.Join(dir, "hmac.key") {
		t.Errorf("paths not resolved against the config folder: %+v", c)
	}
	if c.Source.StartAt != "beginning" || c.Spool.BatchRecords != DefaultBatchRecords || c.Server.QuerySink != "local" || len(c.Redact.Packs) != 2 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoad_Expand(t *testing.T) {
	t.Setenv("AUDIT_TEST_CHAIN", "from-env")
	body := strings.Replace(minimal, "demo-agent", "${AUDIT_TEST_CHAIN}", 1) +
		"# a comment with ${NOT_SET_ANYWHERE} is left alone\nlog: {level: ${AUDIT_TEST_LEVEL:-warn}}\n"
	c, err := Load(write(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if c.Chain.ID != "from-env" || c.Log.Level != "warn" {
		t.Errorf("expansion: %q %q", c.Chain.ID, c.Log.Level)
	}
	_, err = Load(write(t, minimal+"log: {level: ${AUDIT_TEST_UNSET_VAR}}\n"))
	if err == nil || !strings.Contains(err.Error(), "${AUDIT_TEST_UNSET_VAR} is not set") {
		t.Errorf("unset variable: %v", err)
	}
}

func TestLoad_Errors(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"unknown key", minimal + "bogus: 1\n", "bogus: unknown key"},
		{"unknown key in flow style", strings.Replace(minimal, "path: ./data/audit.db}", "path: ./data/audit.db, bogus: 1}", 1), "sinks[0].bogus: unknown key"},
		{"unknown nested key", strings.Replace(minimal, "{path: ./data/spool.db}", "{path: a, maxbytes: 3}", 1), "maxbytes"},
		{"missing sink path", strings.Replace(minimal, ", path: ./data/audit.db", "", 1), "sinks[0].path: required"},
		{"no sinks", strings.Replace(minimal, "sinks: [{name: local, type: sqlite, path: ./data/audit.db}]", "", 1), "sinks: at least one"},
		{"bad start_at", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, start_at: middle}", 1), "source.start_at"},
		{"bad type", strings.Replace(minimal, "type: sqlite", "type: mongo", 1), "sinks[0].type"},
		{"postgres without dsn", strings.Replace(minimal, "type: sqlite, path: ./data/audit.db", "type: postgres", 1), "sinks[0].dsn: required"},
		{"postgres with path", strings.Replace(minimal, "type: sqlite, path: ./data/audit.db", "type: postgres, dsn: 'postgres://x@h/db', path: a", 1), "sinks[0].path: only for type sqlite"},
		{"sqlite with dsn", strings.Replace(minimal, "path: ./data/audit.db", "path: ./data/audit.db, dsn: 'postgres://x@h/db'", 1), "sinks[0].dsn: only for type postgres"},
		{"unknown query index", strings.Replace(minimal, "path: ./data/audit.db", "path: ./data/audit.db, query_indexes: [user, tool]", 1), `sinks[0].query_indexes[1]: "tool" is not one of [user session]`},
		{"query index twice", strings.Replace(minimal, "path: ./data/audit.db", "path: ./data/audit.db, query_indexes: [session, session]", 1), `sinks[0].query_indexes[1]: "session" given twice`},
		{"null with query indexes", strings.Replace(minimal, "type: sqlite, path: ./data/audit.db", "type: 'null', query_indexes: [user]", 1), "sinks[0].query_indexes: only for type sqlite"},
		{"query indexes not a list", strings.Replace(minimal, "path: ./data/audit.db", "path: ./data/audit.db, query_indexes: user", 1), "sinks[0].query_indexes: cannot unmarshal"},
		{"empty query index", strings.Replace(minimal, "path: ./data/audit.db", "path: ./data/audit.db, query_indexes: ['']", 1), `sinks[0].query_indexes[0]: "" is not one of [user session]`},
		{"postgres with query indexes", strings.Replace(minimal, "type: sqlite, path: ./data/audit.db", "type: postgres, dsn: 'postgres://x@h/db', query_indexes: [user]", 1), "sinks[0].query_indexes: only for type sqlite"},
		{"no chain id", strings.Replace(minimal, "id: demo-agent, ", "", 1), "chain.id: required"},
		{"bad pack", minimal + "redact: {packs: [core, nope]}\n", `redact.packs[1]: unknown pack "nope" (known: br, core, eu, gdpr, hipaa, in, names, pci, secrets, us)`},
		{"hash needs key", minimal + "redact: {rules: [{name: emp, pattern: 'EMP-\\d+', action: hash}]}\n", "redact.hash_key_file: required"},
		{"bad action", minimal + "redact: {rules: [{name: emp, pattern: 'x', action: burn}]}\n", "redact.rules[0].action"},
		{"path required", minimal + "redact: {paths: [{action: drop}]}\n", "redact.paths[0].path: required"},
		{"bad path action", minimal + "redact: {paths: [{path: '*.ssn', action: shred}]}\n", "redact.paths[0].action"},
		{"path hash needs key", minimal + "redact: {paths: [{path: '*.ssn', action: hash}]}\n", "redact.hash_key_file: required"},
		{"unknown type action", minimal + "redact: {actions: {CARDS: partial}}\n", "redact.actions.CARDS: not a pack or a type"},
		{"bad type action", minimal + "redact: {actions: {CARD: shred}}\n", "redact.actions.CARD"},
		{"bad hash kid", minimal + "redact: {hash_key_id: 'a b'}\n", "redact.hash_key_id"},
		{"retention interval above max_age", minimal + "retention: {max_age: 1h, interval: 2h}\n", "retention.interval: must not exceed"},
		{"retention negative", minimal + "retention: {max_age: -1h}\n", "retention.max_age"},
		{"bad duration", minimal + "shutdown: {drain_timeout: soon}\n", "shutdown.drain_timeout"},
		{"bad format", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, format: yaml}", 1), "source.format: \"yaml\" is not one of"},
		{"mapping without format mapping", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, mapping: {action: {path: event}}}", 1), "source.mapping: only for source.format mapping"},
		{"unknown otlp key", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, otlp: {user_attr: x}}", 1), "source.otlp.user_attr: unknown key"},
		{"mapping needs format mapping's keys", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, format: mapping}", 1), "source.mapping: required when source.format is mapping"},
		{"mapping bad action value", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, format: mapping, mapping: {action: {path: event, map: {on_tool_start: tool_run}}}}", 1), `source.mapping.action.map.on_tool_start: "tool_run" is not one of`},
		{"mapping unknown field", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, format: mapping, mapping: {action: {path: e}, chain: {path: c}}}", 1), "source.mapping.chain: not a record field"},
		{"mapping without action", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, format: mapping, mapping: {user: {path: u}}}", 1), "source.mapping.action: required"},
		{"mapping bad layout", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, format: mapping, mapping: {action: {path: e}, ts: {path: t, layout: epoch}}}", 1), "source.mapping.ts.layout"},
		{"mapping bad path", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, format: mapping, mapping: {action: {path: 'a..b'}}}", 1), "source.mapping.action.path"},
		{"identity path pattern", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, identity_path: './gw/*.log'}", 1), "source.identity_path: must be one file"},
		{"identity path is the source", strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, identity_path: agent.jsonl}", 1), "source.identity_path: must not be source.path"},
		{"bad query sink", strings.Replace(minimal, "listen: 127.0.0.1:0,", "listen: 127.0.0.1:0, query_sink: other,", 1), "server.query_sink"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to name %q", err, tc.want)
			}
		})
	}
}

func TestLoad_Formats(t *testing.T) {
	for _, f := range parse.Formats {
		if f == "mapping" {
			continue // needs source.mapping: below
		}
		if _, err := Load(write(t, strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, format: "+f+"}", 1))); err != nil {
			t.Errorf("format %s: %v", f, err)
		}
	}
	body := strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, format: mapping, mapping: {action: {path: event, map: {on_tool_start: tool_call}}, ts: {path: time, layout: unix_ms}, call_id: {path: data.id}}}", 1)
	c, err := Load(write(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if c.Source.Mapping["action"].Map["on_tool_start"] != "tool_call" || c.Source.Mapping["ts"].Layout != "unix_ms" {
		t.Errorf("mapping: %+v", c.Source.Mapping)
	}
}

func TestLoad_EveryRedactPack(t *testing.T) {
	c, err := Load(write(t, minimal+"redact: {packs: [core, secrets, us, eu, in, br, hipaa, pci, gdpr], "+
		"paths: [{path: '*.password'}, {path: arguments.card.*, action: partial, name: card}], actions: {CARD: partial, eu: drop}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Redact.Packs) != 9 || c.Redact.Paths[0].Action != "mask" || c.Redact.Actions["eu"] != "drop" {
		t.Errorf("redact: %+v", c.Redact)
	}
}

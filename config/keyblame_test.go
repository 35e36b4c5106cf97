package config

import (
	"strings"
	"testing"
)

// TestLoad_DecodeErrorNamesItsKey: a value the decoder refuses is blamed on
// its own key, in block style and in flow style, where one line holds
// several keys, in nested maps and in lists.
func TestLoad_DecodeErrorNamesItsKey(t *testing.T) {
	cases := []struct {
		name, body string
		want, not  []string
	}{
		{"block", minimal + "shutdown:\n  drain_timeout: 5s\n  other: 1\n", []string{"line 9: shutdown.other: unknown key"}, nil},
		{"block, bad duration", strings.Replace(minimal, "spool: {path: ./data/spool.db}", "spool:\n  path: ./data/spool.db\n  batch_wait: 50 ms", 1),
			[]string{"spool.batch_wait: cannot unmarshal !!str `50 ms`"}, []string{"spool.path:"}},
		{"block, a list where a map goes, on the next line", strings.Replace(minimal, "spool: {path: ./data/spool.db}", "spool:\n  - ./data/spool.db", 1),
			[]string{"line 5: spool: cannot unmarshal !!seq into config.Spool"}, nil},
		{"block, nested in a list", strings.Replace(minimal, "sinks: [{name: local, type: sqlite, path: ./data/audit.db}]", "sinks:\n  - name: local\n    type: sqlite\n    path: ./data/audit.db\n  - name: b\n    type: {x: 1}\n", 1),
			[]string{"line 10: sinks[1].type: cannot unmarshal !!map into string"}, nil},
		{"flow, bad duration after a good key", strings.Replace(minimal, "{path: ./data/spool.db}", "{path: ./data/spool.db, batch_wait: 50 ms}", 1),
			[]string{"line 4: spool.batch_wait: cannot unmarshal !!str `50 ms`"}, []string{"spool.path:"}},
		{"flow, a long value cut by the decoder", strings.Replace(minimal, "{path: ./data/spool.db}", "{path: ./data/spool.db, batch_wait: fifty milliseconds}", 1),
			[]string{"spool.batch_wait: cannot unmarshal"}, []string{"spool.path:"}},
		{"flow, a bad map inside a good one", minimal + "source2: {a: {b: 1}}\n",
			[]string{"source2: unknown key"}, nil},
		{"flow, nested", minimal + "shutdown: {drain_timeout: 5s}\nsource2: 1\n",
			[]string{"source2: unknown key"}, nil},
		{"flow, a map where a scalar goes", strings.Replace(minimal, "{path: ./data/spool.db}", "{path: ./data/spool.db, batch_wait: {a: 1}}", 1),
			[]string{"spool.batch_wait: cannot unmarshal !!map"}, []string{"spool.path:"}},
		{"flow, in a list", strings.Replace(minimal, "[{name: local, type: sqlite, path: ./data/audit.db}]",
			"[{name: local, type: sqlite, path: ./data/audit.db}, {name: b, type: [sqlite], path: ./b.db}]", 1),
			[]string{"sinks[1].type: cannot unmarshal !!seq"}, []string{"sinks[0]"}},
		{"flow, a list item of the wrong kind", minimal + "redact: {packs: [core, {x: 1}]}\n",
			[]string{"redact.packs[1]: cannot unmarshal !!map"}, nil},
		{"flow, two bad values alike on one line", minimal + "retention: {max_age: soon, interval: soon}\n",
			[]string{"retention.max_age: cannot unmarshal", "retention.interval: cannot unmarshal"}, nil},
		{"flow, the same unknown key in two maps", minimal + "log: {a: {x: 1}, b: {x: 2}}\n",
			[]string{"log.a: unknown key", "log.b: unknown key"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, c.body))
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant %q", err, w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error %q\nblames %q", err, n)
				}
			}
		})
	}
}

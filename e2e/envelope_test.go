package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// criWrap wraps one event line (without "\n") as the kubelet writes it:
// pieces of at most size bytes, all but the last tagged P.
func criWrap(stream, line string, size int) []string {
	var out []string
	for {
		tag, piece := "F", line
		if len(line) > size {
			tag, piece = "P", line[:size]
		}
		out = append(out, fmt.Sprintf("2026-11-27T10:00:00.123456789Z %s %s %s\n", stream, tag, piece))
		if tag == "F" {
			return out
		}
		line = line[size:]
	}
}

// dockerWrap wraps one event line as docker's json-file driver does.
func dockerWrap(stream, line string, size int) []string {
	var out []string
	line += "\n"
	for len(line) > 0 {
		n := min(size, len(line))
		b, _ := json.Marshal(map[string]string{"log": line[:n], "stream": stream, "time": "2026-11-27T10:00:00.5Z"})
		out = append(out, string(b)+"\n")
		line = line[n:]
	}
	return out
}

// A pod log in the container runtime's format: events split at 16 KiB,
// interleaved with the agent's stderr, become whole records, exactly once,
// even when the sidecar is killed while a message is half read.
func TestE2E_Envelopes(t *testing.T) {
	for _, tc := range []struct {
		envelope string
		wrap     func(stream, line string, size int) []string
	}{
		{"cri", criWrap},
		{"docker", dockerWrap},
		{"auto", criWrap},
	} {
		t.Run(tc.envelope, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := strings.Replace(e.configYAML(""), "  format: native\n", "  format: native\n  envelope: "+tc.envelope+"\n", 1)
			writeFile(t, e.cfgPath, []byte(cfg))
			body := strings.Repeat("result-data ", 4000) // ~47 KiB: three fragments
			ev := func(n int) string {
				return strings.TrimSuffix(event(map[string]any{"action": "tool_result", "tool": "search", "n": n, "body": body}), "\n")
			}
			// Event 0 whole; a stderr line; event 1 interleaved with stderr.
			var b strings.Builder
			for _, l := range tc.wrap("stdout", ev(0), 16<<10) {
				b.WriteString(l)
			}
			one := tc.wrap("stdout", ev(1), 16<<10)
			b.WriteString(one[0])
			b.WriteString(tc.wrap("stderr", "Traceback: something went wrong", 16<<10)[0])
			b.WriteString(one[1])
			appendLines(t, e.logPath, b.String())

			p := e.start(t)
			db := openDB(t, e.dbPath)
			waitForEvents(t, db, 1, p)
			// The sidecar has read event 1's first fragments; kill it
			// before the final one exists.
			p.kill9(t)
			appendLines(t, e.logPath, strings.Join(one[2:], ""))
			p = e.start(t)
			waitForEvents(t, db, 2, p)
			p.stop(t)
			requireExactlyOnce(t, db, 2)
			var bodies int
			if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE json_extract(payload, '$.detail.body') = ?`, body).Scan(&bodies); err != nil {
				t.Fatal(err)
			}
			if bodies != 2 {
				t.Errorf("%d records carry the whole body, want 2", bodies)
			}
			// The stderr line is not an event: a parse_error record, once.
			var perr int
			db.QueryRow(`SELECT count(*) FROM audit_records WHERE action = 'parse_error'`).Scan(&perr)
			if perr != 1 {
				t.Errorf("%d parse_error records, want 1 (the stderr line)", perr)
			}
			requireValid(t, e.cfgPath)
		})
	}
}

package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestE2E_ConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, e *env) // changes e's files; the config is rewritten after it
		extra   string                     // appended to the config
		edit    func(cfg string) string    // applied to the whole config text
		wantKey string
	}{
		{
			name: "unknown key",
			edit: func(cfg string) string {
				return strings.Replace(cfg, "  poll: 50ms\n", "  poll: 50ms\n  bogus_option: 1\n", 1)
			},
			wantKey: "source.bogus_option",
		},
		{
			name:    "missing key file",
			setup:   func(t *testing.T, e *env) { os.Remove(e.keyPath) },
			wantKey: "chain.key_file",
		},
		{
			name: "10-byte key",
			setup: func(t *testing.T, e *env) {
				e.key = []byte("k" + randHex(t, 5)[:9])
				writeFile(t, e.keyPath, e.key)
			},
			wantKey: "chain.key_file",
		},
		{
			name: "spool path under a regular file",
			setup: func(t *testing.T, e *env) {
				file := filepath.Join(e.dir, "not-a-dir")
				writeFile(t, file, []byte("x"))
				e.spoolPath = filepath.Join(file, "spool.db")
			},
			wantKey: "spool.path",
		},
		{
			name:    "bad redaction pattern",
			extra:   "redact:\n  rules:\n    - {name: employee-id, pattern: 'EMP-(\\d{6}', action: mask}\n",
			wantKey: "redact.rules[0].pattern",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			appendLines(t, e.logPath, event(map[string]any{"action": "decision", "n": 0}))
			if tc.setup != nil {
				tc.setup(t, e)
			}
			cfg := e.configYAML(tc.extra)
			if tc.edit != nil {
				cfg = tc.edit(cfg)
			}
			writeFile(t, e.cfgPath, []byte(cfg))
			if len(e.key) == 10 {
				if got, _ := os.ReadFile(e.keyPath); len(got) != 10 {
					t.Fatalf("key file has %d bytes, want 10", len(got))
				}
			}

			code, stderr := runCmd(t, "run", "--config", e.cfgPath)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr:\n%s", code, stderr)
			}
			line := strings.TrimSuffix(stderr, "\n")
			if line == "" || strings.Contains(line, "\n") {
				t.Errorf("stderr is not exactly one line:\n%s", stderr)
			}
			if !strings.Contains(line, tc.wantKey) {
				t.Errorf("stderr does not name %s: %s", tc.wantKey, line)
			}
			if bytes.Contains([]byte(stderr), e.key) {
				t.Errorf("stderr contains the key bytes: %s", stderr)
			}
			if _, err := os.Stat(e.dbPath); err == nil {
				t.Errorf("the sink %s was created although the config is rejected", e.dbPath)
			}
		})
	}
}

// runCmd runs the binary to its end and returns its exit code and stderr.
func runCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exitDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, errb.String()
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), errb.String()
	}
	t.Fatalf("audit-sidecar %s: %v; stderr:\n%s", strings.Join(args, " "), err, errb.String())
	return 0, ""
}

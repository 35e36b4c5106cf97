package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// runRedact runs `audit-sidecar redact --config cfg args...` on stdin.
func runRedact(t *testing.T, cfg, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*exitDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"redact", "--config", cfg}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		t.Fatalf("redact: %v; stderr:\n%s", err, errb.String())
	}
	return code, out.String(), errb.String()
}

// TestE2E_RedactCommand: the redact command applies the configured packs,
// paths and actions to raw text and native events; --explain names rule,
// type, path and offsets and never the values; a bad pack is a usage
// error naming the key.
func TestE2E_RedactCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, `redact:
  packs: [gdpr, us]
  paths: [{path: "*.password", action: drop}]
  actions: {CARD: partial}
`)
	in := `{"action":"tool_call","arguments":{"iban":"DE89 3704 0044 0532 0130 00","user":{"name":"x","password":"hunter2-Zq9"},"card":"4111 1111 1111 1111"}}
patient DOB: 1985-03-14, VIN 1HGCM82633A004352, mail dana.k@example.com
`
	code, out, errs := runRedact(t, e.cfgPath, in)
	want := `{"action":"tool_call","arguments":{"iban":"[REDACTED:IBAN]","user":{"name":"x"},"card":"[REDACTED:CARD:last4=1111]"}}
patient DOB: [REDACTED:DOB], VIN [REDACTED:VIN], mail [REDACTED:EMAIL]
`
	if code != 0 || out != want {
		t.Fatalf("exit %d, stderr %s\n got %s\nwant %s", code, errs, out, want)
	}

	code, out, errs = runRedact(t, e.cfgPath, in, "--explain")
	if code != 0 {
		t.Fatalf("--explain exit %d: %s", code, errs)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var h struct {
			Line       int
			Rule, Type string
			Path       string
			Start, End int
		}
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		got = append(got, h.Rule+" "+h.Path)
	}
	wantHits := []string{"builtin:IBAN arguments.iban", "path:*.password arguments.user.password", "builtin:CARD arguments.card",
		"builtin:DOB ", "builtin:VIN ", "builtin:EMAIL "}
	if strings.Join(got, "|") != strings.Join(wantHits, "|") {
		t.Errorf("explain:\n%s", out)
	}
	for _, secret := range []string{"DE89", "hunter2", "4111", "1985-03-14", "1HGCM", "dana.k"} {
		if strings.Contains(out, secret) {
			t.Errorf("--explain printed %q", secret)
		}
	}

	e.writeConfig(t, "redact: {packs: [core, mars]}\n")
	if code, _, errs := runRedact(t, e.cfgPath, ""); code != 2 || !strings.Contains(errs, `redact.packs[1]: unknown pack "mars"`) {
		t.Errorf("unknown pack: exit %d, stderr %s", code, errs)
	}
}

package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the binary with args and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*exitDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		t.Fatalf("%v: %v; stderr:\n%s", args, err, errb.String())
	}
	return code, out.String(), errb.String()
}

// check-config passes a config run starts with, opening nothing: no
// spool, no sink file, no folder made.
func TestE2E_CheckConfig_OK(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code, out, errOut := runCLI(t, "check-config", "--config", e.cfgPath)
	if code != 0 || out != "config ok\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Dir(e.spoolPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("check-config made the data folder (%v)", err)
	}
	if entries, _ := os.ReadDir(e.dir); len(entries) != 3 {
		t.Errorf("check-config left files behind: %v", entries)
	}
}

// check-config reports every problem at once, each under its key, with
// exit 2, and never the text of a key.
func TestE2E_CheckConfig_EveryProblem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	e.key = []byte("short-key-text")
	writeFile(t, e.keyPath, e.key)
	writeFile(t, e.tokensPath, []byte("tokens: [{name: ops, sha256: nothex, role: admin}]\n"))
	blocker := filepath.Join(e.dir, "blocker")
	writeFile(t, blocker, []byte("a file where a folder goes"))
	e.spoolPath = filepath.Join(blocker, "spool.db")
	e.chainExtra = "  signing_key_file: " + filepath.Join(e.dir, "no-signing.pem") + "\n  checkpoint_every: 10\n  witness_dir: " + filepath.Join(blocker, "witness") + "\n"
	cfg := e.configYAML("")
	cfg = strings.Replace(cfg, `listen: "127.0.0.1:0"`, `listen: "`+busy.Addr().String()+`"`, 1)
	cfg = strings.Replace(cfg, "  tokens_file:", "  tls: {cert_file: "+filepath.Join(e.dir, "no.crt")+", key_file: "+filepath.Join(e.dir, "no.key")+"}\n  admin_listen: \"127.0.0.1:notaport\"\n  tokens_file:", 1)
	writeFile(t, e.cfgPath, []byte(cfg))

	code, out, errOut := runCLI(t, "check-config", "--config", e.cfgPath)
	if code != 2 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, key := range []string{"chain.key_file:", "server.tokens_file:", "server.tls.",
		"server.listen:", "server.admin_listen:", "spool.path:", "chain.signing_key_file:", "chain.witness_dir:"} {
		if !strings.Contains(errOut, "audit-sidecar: "+key) {
			t.Errorf("no line for %s in:\n%s", key, errOut)
		}
	}
	if strings.Contains(errOut, string(e.key)) {
		t.Errorf("the key's text is in the output:\n%s", errOut)
	}
	// run refuses the same config, before it makes anything.
	code, _, errOut = runCLI(t, "run", "--config", e.cfgPath)
	if code != 2 || !strings.Contains(errOut, "chain.key_file:") || !strings.Contains(errOut, "server.tokens_file:") {
		t.Errorf("run: exit %d, stderr %q", code, errOut)
	}
}

// Problems of the config itself are reported as config.Load finds them,
// every one, one a line.
func TestE2E_CheckConfig_ConfigProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.configYAML("redact: {packs: [core, nope]}\n")
	cfg = strings.Replace(cfg, "format: native", "format: native\n  envelope: nope", 1)
	writeFile(t, e.cfgPath, []byte(cfg))
	code, out, errOut := runCLI(t, "check-config", "--config", e.cfgPath)
	if code != 2 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "audit-sidecar: source.envelope:") || !strings.HasPrefix(lines[1], "audit-sidecar: redact.packs[1]:") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

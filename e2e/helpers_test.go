package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Generous deadlines: the tests wait for conditions, never for durations.
const (
	waitDeadline = 60 * time.Second
	waitPoll     = 50 * time.Millisecond
	exitDeadline = 60 * time.Second
)

// env is one sidecar installation in a temp dir: config, HMAC key, tokens,
// the tailed log, the spool and the SQLite sink.
type env struct {
	dir                    string
	cfgPath, keyPath       string
	tokensPath, logPath    string
	spoolPath, dbPath      string
	chainID                string
	key                    []byte
	adminToken, acmeToken  string
	rotateDrain, batchWait string
	runs                   int
	// chainExtra is added to the chain section (indented lines).
	chainExtra string
}

// newEnv writes a key, a tokens file (an admin token and one scoped to
// tenant acme) and a config into t.TempDir(). The log file is not created.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{
		dir:         dir,
		cfgPath:     filepath.Join(dir, "config.yaml"),
		keyPath:     filepath.Join(dir, "hmac.key"),
		tokensPath:  filepath.Join(dir, "tokens.yaml"),
		logPath:     filepath.Join(dir, "agent-events.jsonl"),
		spoolPath:   filepath.Join(dir, "data", "spool.db"),
		dbPath:      filepath.Join(dir, "data", "audit.db"),
		chainID:     "e2e-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())),
		key:         []byte("KEY-" + randHex(t, 32)),
		adminToken:  "adm-" + randHex(t, 16),
		acmeToken:   "acme-" + randHex(t, 16),
		rotateDrain: "1s",
		batchWait:   "20ms",
	}
	writeFile(t, e.keyPath, e.key)
	writeFile(t, e.tokensPath, fmt.Appendf(nil, "tokens:\n"+
		"  - {name: ops, sha256: %q, role: admin}\n"+
		"  - {name: acme-auditor, sha256: %q, role: admin, tenant: acme}\n",
		sha256Hex(e.adminToken), sha256Hex(e.acmeToken)))
	e.writeConfig(t, "")
	return e
}

// configYAML is the config of e, with extra appended (top-level YAML).
func (e *env) configYAML(extra string) string {
	return e.configWithSink(fmt.Sprintf("  - name: local\n    type: sqlite\n    path: %s\n", e.dbPath), "local", "") + extra
}

// configWithSink is e's config with the given sinks list (YAML items),
// query sink and extra server keys (indented lines).
func (e *env) configWithSink(sinks, querySink, server string) string {
	return fmt.Sprintf(`source:
  path: %s
  format: native
  start_at: beginning
  poll: 50ms
  rotate_drain: %s
chain:
  id: %s
  key_file: %s
%sspool:
  path: %s
  batch_wait: %s
sinks:
%sserver:
  listen: "127.0.0.1:0"
  query_sink: %s
  tokens_file: %s
%slog:
  level: info
`, e.logPath, e.rotateDrain, e.chainID, e.keyPath, e.chainExtra, e.spoolPath, e.batchWait, sinks, querySink, e.tokensPath, server)
}

func (e *env) writeConfig(t *testing.T, extra string) {
	t.Helper()
	writeFile(t, e.cfgPath, []byte(e.configYAML(extra)))
}

// proc is one running audit-sidecar process.
type proc struct {
	cmd        *exec.Cmd
	stderrPath string
	stdoutPath string        // what the process printed on stdout (checkpoints)
	done       chan struct{} // closed when the process has exited
	state      *os.ProcessState
}

// start starts `audit-sidecar run` on e's config, stderr to a file. The
// process is killed at the end of the test if it is still running; its
// stderr is logged then if the test failed, or always when the environment
// sets E2E_SHOW_STDERR.
func (e *env) start(t *testing.T) *proc {
	t.Helper()
	return e.startCmd(t, exec.Command(bin, "run", "--config", e.cfgPath))
}

// startCmd is start with a command of the caller's (another environment,
// or the binary run through a shell that sets a limit first).
func (e *env) startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	e.runs++
	n := e.runs
	p := &proc{stderrPath: filepath.Join(e.dir, fmt.Sprintf("stderr-%d.log", e.runs)), done: make(chan struct{})}
	f, err := os.Create(p.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	p.stdoutPath = filepath.Join(e.dir, fmt.Sprintf("stdout-%d.log", e.runs))
	of, err := os.Create(p.stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close() // the child has its own descriptor
	p.cmd = cmd
	p.cmd.Stderr = f
	p.cmd.Stdout = of
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start audit-sidecar: %v", err)
	}
	go func() {
		p.cmd.Wait() //nolint:errcheck // the exit status is read from ProcessState
		p.state = p.cmd.ProcessState
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill() //nolint:errcheck // best effort at cleanup
			<-p.done
		}
		if t.Failed() || os.Getenv("E2E_SHOW_STDERR") != "" {
			t.Logf("stderr of run %d:\n%s", n, p.stderr())
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) stderr() string {
	b, _ := os.ReadFile(p.stderrPath)
	return string(b)
}

// addr waits for the "http listening" log line and returns its address.
func (p *proc) addr(t *testing.T) string {
	t.Helper()
	var addr string
	waitFor(t, "the http listening log line", func() bool {
		if addr = listenAddr(p.stderr()); addr != "" {
			return true
		}
		if p.exited() {
			t.Fatalf("audit-sidecar exited (%v) before listening; stderr:\n%s", p.state, p.stderr())
		}
		return false
	})
	return addr
}

func listenAddr(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "http listening" && l.Addr != "" {
			return l.Addr
		}
	}
	return ""
}

// stop sends SIGTERM and requires exit code 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(exitDeadline):
		t.Fatalf("audit-sidecar did not exit within %s of SIGTERM; stderr:\n%s", exitDeadline, p.stderr())
	}
	if code := p.state.ExitCode(); code != 0 {
		t.Fatalf("audit-sidecar exited with %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr())
	}
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-p.done
}

// runVerify runs `audit-sidecar verify --config cfg args...`.
func runVerify(t *testing.T, cfg string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*exitDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"verify", "--config", cfg}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		t.Fatalf("verify: %v; stderr:\n%s", err, errb.String())
	}
	return code, out.String(), errb.String()
}

// requireValid runs verify and requires exit code 0.
func requireValid(t *testing.T, cfg string) {
	t.Helper()
	if code, out, errs := runVerify(t, cfg); code != 0 {
		t.Fatalf("verify exited %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(cond) {
		t.Fatalf("timed out after %s waiting for %s", waitDeadline, what)
	}
}

// eventually polls cond until it holds (true) or the deadline passes.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(waitPoll)
	}
	return true
}

// appendLines appends text to path in one write, creating the file.
func appendLines(t *testing.T, path string, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// event is one native agent event as a JSON line (with "\n").
func event(fields map[string]any) string {
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

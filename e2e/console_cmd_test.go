package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// consoleEvents are n agent events of tenants acme and globex.
func consoleEvents(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(event(map[string]any{"action": "tool_call", "tool": "crm.lookup", "user": "u-1",
			"tenant": []string{"acme", "globex"}[i%2], "session": "s-1", "n": i}))
	}
	return b.String()
}

// startConsole starts `audit-sidecar console --config cfg` and returns
// the process and its address.
func startConsole(t *testing.T, e *env, cfg string) (*proc, string) {
	t.Helper()
	p := e.startCmd(t, exec.Command(bin, "console", "--config", cfg))
	return p, p.addr(t)
}

// useConsole signs in to the console at addr as the admin and as acme's
// auditor: both search (acme sees acme alone), the admin runs the
// integrity check to a valid verdict and downloads the evidence bundle,
// which verifies as its README says; acme may do neither.
func useConsole(t *testing.T, e *env, addr string, total int) {
	t.Helper()
	admin := newConsoleHTTP(t, addr)
	admin.signin(t, e.adminToken)
	code, page := admin.do(t, http.MethodGet, "/console/search?limit=1000", nil)
	if code != http.StatusOK || bytes.Count(page, []byte("<td>crm.lookup</td>")) != total {
		t.Fatalf("admin search: %d, %d rows, want %d\n%s", code, bytes.Count(page, []byte("<td>crm.lookup</td>")), total, page)
	}
	verdict, body := admin.verifyStore(t)
	if verdict != "valid" || !strings.Contains(body, "The signed checkpoints were checked") ||
		!strings.Contains(body, "The checkpoints kept off the pod (the witness) were compared") {
		t.Fatalf("verdict %q\n%s", verdict, body)
	}
	code, zipped := admin.do(t, http.MethodGet, "/console/evidence.zip", nil)
	if code != http.StatusOK {
		t.Fatalf("evidence.zip: %d\n%s", code, zipped)
	}
	dir := unzipBundle(t, zipped)
	for _, f := range []string{"export.ndjson", "report.html", "report.json", "README.txt", "SHA256SUMS", "witness/" + e.chainID + ".checkpoint"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the bundle lacks %s", f)
		}
	}
	checkBundle(t, dir, e.keyPath)

	acme := newConsoleHTTP(t, addr)
	acme.signin(t, e.acmeToken)
	code, page = acme.do(t, http.MethodGet, "/console/search?limit=1000", nil)
	if code != http.StatusOK || bytes.Count(page, []byte("<td>acme</td>")) != total/2 || bytes.Contains(page, []byte("<td>globex</td>")) {
		t.Errorf("acme search: %d\n%s", code, page)
	}
	for _, p := range []string{"/console/integrity", "/console/evidence.zip"} {
		if code, _ := acme.do(t, http.MethodGet, p, nil); code != http.StatusForbidden {
			t.Errorf("acme GET %s: %d, want 403", p, code)
		}
	}
}

// TestE2E_ConsoleCommand_SQLite runs `audit-sidecar console` as its own
// process over the SQLite store a stopped sidecar wrote (with signed
// checkpoints and a witness folder): sign-in, search, the integrity check,
// the evidence bundle verified by the binary as its README says; the
// database file is byte for byte the same after the console ran.
func TestE2E_ConsoleCommand_SQLite(t *testing.T) {
	const total = 30
	e := newEnv(t)
	withCheckpoints(t, e)
	appendLines(t, e.logPath, consoleEvents(total))
	p := e.start(t)
	waitForEvents(t, openDB(t, e.dbPath), total, p)
	p.stop(t)
	snapshot(t, e.dbPath) // WAL into the file: the comparison is of the file alone
	before := fileSum(t, e.dbPath)

	c, addr := startConsole(t, e, e.cfgPath)
	useConsole(t, e, addr, total)
	c.stop(t)
	if after := fileSum(t, e.dbPath); after != before {
		t.Error("the console changed the database file")
	}
	for _, want := range []string{"console started", "console verification finished", "console evidence served", "console stopped"} {
		if !strings.Contains(c.stderr(), want) {
			t.Errorf("the console's log lacks %q", want)
		}
	}
	if strings.Contains(c.stderr(), e.adminToken) || strings.Contains(c.stderr(), string(e.key)) {
		t.Error("the console's log holds a token or the key")
	}
}

// pgSchemaDSN creates a schema of its own on the test server
// (AUDIT_TEST_PG_DSN), dropped at the test's end, and returns a DSN whose
// search_path is that schema.
func pgSchemaDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("AUDIT_TEST_PG_DSN")
	if base == "" {
		pgSkipOrFail(t, "AUDIT_TEST_PG_DSN not set")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "e2e_console_" + hex.EncodeToString(b[:])
	exec := func(sql string) {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Fatalf("connect the test server: %v", err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	t.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal("AUDIT_TEST_PG_DSN must be a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// pgCountTool counts the records of tool in the store at dsn (-1 while
// it cannot be read).
func pgCountTool(t *testing.T, dsn, tool string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		return -1
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM audit_records WHERE tool = $1`, tool).Scan(&n); err != nil {
		return -1
	}
	return n
}

// withCheckpointsIn adds signed checkpoints (every 10 records and every
// 200ms) and a witness folder to the config file at path.
func withCheckpointsIn(t *testing.T, e *env, path string) {
	t.Helper()
	priv, _ := signingKeys(t, e.dir, "signing")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "  key_file: "+e.keyPath+"\n", fmt.Sprintf(
		"  key_file: %s\n  signing_key_file: %s\n  checkpoint_every: 10\n  checkpoint_interval: 200ms\n  witness_dir: %s\n",
		e.keyPath, priv, filepath.Join(e.dir, "witness")), 1)
	writeFile(t, path, []byte(cfg))
}

// TestE2E_ConsoleCommand_Postgres runs `audit-sidecar console` over a
// PostgreSQL store that a sidecar is still writing (the central store's
// case): the console's own config names the same database, and the
// console reads it read-only while the sidecar runs.
func TestE2E_ConsoleCommand_Postgres(t *testing.T) {
	const total = 30
	dsn := pgSchemaDSN(t)
	e := newEnv(t)
	writeFile(t, e.cfgPath, []byte(pgConfigYAML(e, dsn)))
	withCheckpointsIn(t, e, e.cfgPath)
	appendLines(t, e.logPath, consoleEvents(total))
	p := e.start(t)
	witness := filepath.Join(e.dir, "witness", e.chainID+".checkpoint")
	waitFor(t, "every event in postgres, and a witnessed checkpoint", func() bool {
		_, err := os.Stat(witness)
		return err == nil && pgCountTool(t, dsn, "crm.lookup") == total
	})
	c, addr := startConsole(t, e, e.cfgPath)
	useConsole(t, e, addr, total)
	c.stop(t)
	p.stop(t)
}

// TestE2E_ConsoleCommand_ConfigErrors: the console command checks what it
// needs before it serves, each problem naming its key (exit 2), and its
// --help exits 0.
func TestE2E_ConsoleCommand_ConfigErrors(t *testing.T) {
	e := newEnv(t)
	appendLines(t, e.logPath, consoleEvents(4))
	p := e.start(t)
	waitForEvents(t, openDB(t, e.dbPath), 4, p)
	p.stop(t)
	good := e.configYAML("")
	notAStore := filepath.Join(e.dir, "empty.db")
	writeFile(t, notAStore, nil)
	for _, tc := range []struct{ name, cfg, want string }{
		{"no listen", strings.Replace(good, "  listen: \"127.0.0.1:0\"\n", "  listen: \"\"\n", 1), "server.listen: required by the console command"},
		{"tokens file missing", strings.Replace(good, e.tokensPath, filepath.Join(e.dir, "nope.yaml"), 1), "server.tokens_file:"},
		{"key file missing", strings.Replace(good, "key_file: "+e.keyPath, "key_file: "+filepath.Join(e.dir, "nope.key"), 1), "chain.key_file:"},
		{"not a store", strings.Replace(good, "path: "+e.dbPath, "path: "+notAStore, 1), "sinks[0].path: holds no audit records"},
		{"store missing", strings.Replace(good, "path: "+e.dbPath, "path: "+filepath.Join(e.dir, "gone.db"), 1), "sinks[0].path:"},
		{"unknown key", good + "console_extra: 1\n", "console_extra"},
	} {
		cfg := filepath.Join(e.dir, "bad.yaml")
		writeFile(t, cfg, []byte(tc.cfg))
		code, out := runIn(t, e.dir, bin, "console", "--config", cfg)
		if code != 2 || !strings.Contains(out, tc.want) || strings.Contains(out, e.adminToken) {
			t.Errorf("%s: exit %d, want 2 naming %q\n%s", tc.name, code, tc.want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "gone.db")); err == nil {
		t.Error("the console created the missing store")
	}
	if code, out := runIn(t, e.dir, bin, "console", "--help"); code != 0 || !strings.Contains(out, "audit-sidecar console --config FILE") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	if code, out := runIn(t, e.dir, bin, "console"); code != 2 || !strings.Contains(out, "--config is required") {
		t.Errorf("no --config: exit %d\n%s", code, out)
	}
}

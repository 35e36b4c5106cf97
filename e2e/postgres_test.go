package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The tests of this file run the sidecar against a PostgreSQL cluster of
// their own (initdb in a temp dir, a free port), never against the shared
// server, which they must not stop. They are gated like the rest of the
// suite's PostgreSQL tests: without AUDIT_TEST_PG_DSN they skip, unless
// AUDIT_TEST_REQUIRE_PG=1, when they fail.

// pgSinkName is the name of the postgres sink in the tests' configs.
const pgSinkName = "central"

// pgSkipOrFail skips the test, or fails it when AUDIT_TEST_REQUIRE_PG=1.
func pgSkipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("AUDIT_TEST_REQUIRE_PG") == "1" {
		t.Fatalf("%s and AUDIT_TEST_REQUIRE_PG=1", why)
	}
	t.Skip(why)
}

// pgBinDir finds the directory holding initdb and postgres: pg_config
// --bindir, then /usr/lib/postgresql/*/bin (newest first), then the PATH.
func pgBinDir() string {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" && has(dir) {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersionOf(dirs[i]) > pgVersionOf(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real)
		}
	}
	return ""
}

// pgVersionOf is the major version in /usr/lib/postgresql/<v>/bin.
func pgVersionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// pgCluster is a throwaway PostgreSQL cluster: a data directory made by
// initdb and, while started, a postmaster child process.
type pgCluster struct {
	binDir           string
	base             string // owned by the cluster's OS user
	dataDir, sockDir string
	logPath          string
	port             int
	cred             *syscall.Credential // the postgres user when the test runs as root
	dsn              string

	cmd  *exec.Cmd
	done chan struct{}
	pool *pgxpool.Pool // the test's own connections, for inspection
}

// newPGCluster gates the test, runs initdb in a temp dir and picks a free
// port; the cluster is not started. It is stopped and its pool closed at
// the end of the test.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	if os.Getenv("AUDIT_TEST_PG_DSN") == "" {
		pgSkipOrFail(t, "AUDIT_TEST_PG_DSN not set")
	}
	binDir := pgBinDir()
	if binDir == "" {
		pgSkipOrFail(t, "initdb not found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH)")
	}
	dir := t.TempDir()
	c := &pgCluster{binDir: binDir, base: filepath.Join(dir, "pg")}
	c.dataDir = filepath.Join(c.base, "data")
	c.sockDir = filepath.Join(c.base, "sock")
	c.logPath = filepath.Join(dir, "postgres.log")
	for _, d := range []string{c.base, c.sockDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: run them as the
		// postgres user, which must reach the temp dir.
		u, err := user.Lookup("postgres")
		if err != nil {
			pgSkipOrFail(t, "running as root and there is no postgres user to run initdb as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// t.TempDir's parent is made 0700 by os.MkdirTemp.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []string{c.base, c.sockDir} {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	initdb := exec.Command(filepath.Join(binDir, "initdb"), "-D", c.dataDir, "-U", "postgres",
		"--auth=trust", "--no-sync", "--no-locale", "-E", "UTF8")
	initdb.Dir = c.base
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.port = pgFreePort(t)
	c.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	pool, err := pgxpool.New(context.Background(), c.dsn+"&connect_timeout=5") // connects lazily
	if err != nil {
		t.Fatalf("pgxpool: %v", err)
	}
	c.pool = pool
	t.Cleanup(func() {
		c.pool.Close()
		c.shutdown(t)
		if t.Failed() || os.Getenv("E2E_SHOW_STDERR") != "" {
			b, _ := os.ReadFile(c.logPath)
			t.Logf("postgres log:\n%s", b)
		}
	})
	return c
}

// pgFreePort returns a TCP port free on 127.0.0.1, preferably below the
// usual ephemeral range, so that no outgoing connection takes it while the
// cluster is down between a stop and a restart on the same port.
func pgFreePort(t *testing.T) int {
	t.Helper()
	free := func(addr string) int {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return 0
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	for i := 0; i < 50; i++ {
		if p := free(fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))); p != 0 {
			return p
		}
	}
	if p := free("127.0.0.1:0"); p != 0 {
		return p
	}
	t.Fatal("no free TCP port")
	return 0
}

func (c *pgCluster) running() bool {
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// start starts the postmaster on the data dir and port and waits until it
// accepts connections.
func (c *pgCluster) start(t *testing.T) {
	t.Helper()
	if c.running() {
		t.Fatal("postgres already running")
	}
	logf, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(filepath.Join(c.binDir, "postgres"), "-D", c.dataDir, "-p", strconv.Itoa(c.port),
		"-k", c.sockDir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
		"-c", "shared_buffers=16MB", "-c", "max_connections=40")
	c.cmd.Dir = c.base
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// SIGQUIT (immediate shutdown) should the test binary die without
	// its cleanups.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT}
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start postgres: %v", err)
	}
	done := make(chan struct{})
	c.done = done
	cmd := c.cmd
	go func() {
		cmd.Wait() //nolint:errcheck // the exit status is read from ProcessState
		logf.Close()
		close(done)
	}()
	waitFor(t, "postgres to accept connections", func() bool {
		if !c.running() {
			b, _ := os.ReadFile(c.logPath)
			t.Fatalf("postgres exited (%v) before accepting connections; log:\n%s", cmd.ProcessState, b)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.dsn)
		if err != nil {
			return false
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx) == nil
	})
}

// stop shuts the cluster down with SIGINT ("fast" shutdown: sessions are
// terminated) and requires a clean exit.
func (c *pgCluster) stop(t *testing.T) {
	t.Helper()
	if !c.running() {
		t.Fatal("postgres is not running")
	}
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT postgres: %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(exitDeadline):
		t.Fatalf("postgres did not exit within %s of SIGINT", exitDeadline)
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("postgres exited with %d after SIGINT, want 0", code)
	}
}

// shutdown stops the cluster if it runs, harder if it does not go.
func (c *pgCluster) shutdown(t *testing.T) {
	if !c.running() {
		return
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL} {
		c.cmd.Process.Signal(sig) //nolint:errcheck // best effort at cleanup
		select {
		case <-c.done:
			return
		case <-time.After(20 * time.Second):
			t.Errorf("postgres did not exit within 20s of %v", sig)
		}
	}
	<-c.done
}

// pgConfigYAML is e's config with one postgres sink, the query sink, on
// dsn, and a readiness grace of one second.
func pgConfigYAML(e *env, dsn string) string {
	sinks := fmt.Sprintf("  - name: %s\n    type: postgres\n    dsn: %q\n", pgSinkName, dsn)
	return e.configWithSink(sinks, pgSinkName, "  ready_grace: 1s\n") + "shutdown:\n  drain_timeout: 30s\n"
}

// newPGEnv is an env whose only sink is the postgres sink on c, with an
// empty source log.
func newPGEnv(t *testing.T, c *pgCluster) *env {
	t.Helper()
	e := newEnv(t)
	writeFile(t, e.cfgPath, []byte(pgConfigYAML(e, c.dsn)))
	appendLines(t, e.logPath, "")
	return e
}

// pgEvents is the agent events from..to-1 as JSON lines.
func pgEvents(from, to int) string {
	var b strings.Builder
	for n := from; n < to; n++ {
		b.WriteString(event(map[string]any{"action": "tool_call", "tool": "pg", "user": "u-1", "n": n}))
	}
	return b.String()
}

// appendPGEvents appends events from..to-1 in chunks of chunk events.
func appendPGEvents(t *testing.T, path string, from, to, chunk int) {
	t.Helper()
	for n := from; n < to; n += chunk {
		appendLines(t, path, pgEvents(n, min(n+chunk, to)))
	}
}

// pgCountN counts stored agent events (rows whose payload has detail.n)
// of chain; -1 while the server or the table is not there.
func pgCountN(c *pgCluster, chain string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	err := c.pool.QueryRow(ctx, `SELECT count(*) FROM audit_records
		WHERE chain = $1 AND convert_from(payload, 'UTF8')::jsonb #> '{detail,n}' IS NOT NULL`, chain).Scan(&n)
	if err != nil {
		return -1
	}
	return n
}

// pgWaitForEvents waits until at least total agent events of chain are
// stored; on timeout it reports which are missing or duplicated.
func pgWaitForEvents(t *testing.T, c *pgCluster, chain string, total int, p *proc) {
	t.Helper()
	if eventually(func() bool { return pgCountN(c, chain) >= total }) {
		return
	}
	t.Errorf("timed out after %s waiting for %d events in postgres (%d stored; sidecar exited: %v)",
		waitDeadline, total, pgCountN(c, chain), p.exited())
	pgRequireChain(t, c, chain, total)
	t.FailNow()
}

// pgChain is what pgRequireChain found.
type pgChain struct {
	head       int            // highest seq (= number of records)
	actions    map[string]int // records by action
	lastAction string
}

// pgRequireChain reads the chain's rows in seq order and fails unless its
// seqs are exactly 1..head with no position stored twice, every agent
// event n in [0, total) is stored exactly once and nothing else carries an
// n, the events are in seq order as they were appended, no line became a
// parse_error, no other chain is stored and nothing is quarantined.
func pgRequireChain(t *testing.T, c *pgCluster, chain string, total int) pgChain {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := c.pool.Query(ctx, `SELECT seq, action, coalesce(convert_from(payload, 'UTF8')::jsonb #>> '{detail,n}', '')
		FROM audit_records WHERE chain = $1 ORDER BY seq`, chain)
	if err != nil {
		t.Fatalf("read chain: %v", err)
	}
	res := pgChain{actions: map[string]int{}}
	counts := map[int]int{}
	var prevSeq int64
	lastN := -1
	var dupSeqs, gaps, outOfOrder []string
	for rows.Next() {
		var seq int64
		var action, nText string
		if err := rows.Scan(&seq, &action, &nText); err != nil {
			t.Fatal(err)
		}
		switch {
		case seq == prevSeq:
			dupSeqs = append(dupSeqs, strconv.FormatInt(seq, 10))
		case seq != prevSeq+1:
			gaps = append(gaps, span(int(prevSeq+1), int(seq-1)))
		}
		prevSeq = seq
		res.actions[action]++
		res.lastAction = action
		if nText == "" {
			continue
		}
		n, err := strconv.Atoi(nText)
		if err != nil {
			t.Fatalf("seq %d: detail.n %q is not an int", seq, nText)
		}
		counts[n]++
		if n <= lastN && len(outOfOrder) < 10 {
			outOfOrder = append(outOfOrder, fmt.Sprintf("n=%d at seq %d after n=%d", n, seq, lastN))
		}
		lastN = max(lastN, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read chain: %v", err)
	}
	res.head = int(prevSeq)
	if res.head == 0 {
		t.Fatalf("chain %s: no records", chain)
	}
	if len(dupSeqs) > 0 {
		t.Errorf("chain %s: seqs stored more than once: %v", chain, dupSeqs)
	}
	if len(gaps) > 0 {
		t.Errorf("chain %s: seqs missing: %v (head %d)", chain, gaps, res.head)
	}
	if len(outOfOrder) > 0 {
		t.Errorf("chain %s: events out of append order: %v", chain, outOfOrder)
	}
	var missing, dup ranges
	for n := 0; n < total; n++ {
		switch k := counts[n]; {
		case k == 0:
			missing.add(n)
		case k > 1:
			dup.add(n)
		}
	}
	for n := range counts {
		if n < 0 || n >= total {
			t.Errorf("unexpected event n=%d stored", n)
		}
	}
	if missing.count+dup.count > 0 {
		t.Errorf("of %d events, %d missing %v, %d stored more than once %v",
			total, missing.count, missing.spans, dup.count, dup.spans)
	}
	if k := res.actions["parse_error"]; k != 0 {
		t.Errorf("%d parse_error records", k)
	}
	var chains, quarantined int
	if err := c.pool.QueryRow(ctx, `SELECT (SELECT count(DISTINCT chain) FROM audit_records),
		(SELECT count(*) FROM audit_quarantine)`).Scan(&chains, &quarantined); err != nil {
		t.Fatal(err)
	}
	if chains != 1 {
		t.Errorf("%d chains stored, want 1", chains)
	}
	if quarantined != 0 {
		t.Errorf("%d records quarantined", quarantined)
	}
	if t.Failed() {
		t.FailNow()
	}
	return res
}

// readyStatus is the status code of GET /readyz.
func readyStatus(t *testing.T, addr string) int {
	t.Helper()
	status, _ := get(t, addr, "", "/readyz", nil)
	return status
}

// sinkMetric reads the sample of metric name for the sink from /metrics;
// ok is false when it is not exported (yet).
func sinkMetric(t *testing.T, addr, name, sink string) (v float64, ok bool) {
	t.Helper()
	status, body := get(t, addr, "", "/metrics", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", status)
	}
	prefix := name + `{sink="` + sink + `"} `
	for _, line := range strings.Split(string(body), "\n") {
		if rest, found := strings.CutPrefix(line, prefix); found {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// requireServedOnce pages through GET /v1/audit (served by the postgres
// query sink) and fails unless every event n in [0, total) is served
// exactly once and no record twice.
func requireServedOnce(t *testing.T, addr, token string, total int) {
	t.Helper()
	recs := pageAll(t, addr, token, nil, 250)
	seqs := map[uint64]int{}
	ns := map[int]int{}
	for _, r := range recs {
		seqs[r.Seq]++
		if n, ok := r.n(); ok {
			ns[n]++
		}
	}
	for seq, k := range seqs {
		if k != 1 {
			t.Errorf("GET /v1/audit: seq %d served %d times", seq, k)
		}
	}
	var bad ranges
	for n := 0; n < total; n++ {
		if ns[n] != 1 {
			bad.add(n)
		}
	}
	if bad.count > 0 || len(ns) != total {
		t.Fatalf("GET /v1/audit: %d of %d events not served exactly once %v (%d distinct served)",
			bad.count, total, bad.spans, len(ns))
	}
}

// requireValidPG runs verify on the postgres sink and requires exit 0.
func requireValidPG(t *testing.T, cfg string) {
	t.Helper()
	if code, out, errs := runVerify(t, cfg, "--sink", pgSinkName); code != 0 {
		t.Fatalf("verify --sink %s exited %d, want 0\nstdout:\n%s\nstderr:\n%s", pgSinkName, code, out, errs)
	}
}

// requireOwnRecords checks the sidecar's own records after a clean stop:
// one chain_start, minStarts..maxStarts sidecar_start, sidecar_stop last.
func requireOwnRecords(t *testing.T, ch pgChain, minStarts, maxStarts int) {
	t.Helper()
	if k := ch.actions["chain_start"]; k != 1 {
		t.Errorf("%d chain_start records, want 1", k)
	}
	if k := ch.actions["sidecar_start"]; k < minStarts || k > maxStarts {
		t.Errorf("%d sidecar_start records, want %d..%d", k, minStarts, maxStarts)
	}
	if ch.lastAction != "sidecar_stop" {
		t.Errorf("last record after SIGTERM is %q, want sidecar_stop", ch.lastAction)
	}
}

// TestE2E_Postgres_OutageReplay stops the cluster while the sidecar
// delivers to it: records spool, readiness and the metrics report the
// outage, and after the cluster comes back every record arrives once, in
// order, and the chain verifies.
func TestE2E_Postgres_OutageReplay(t *testing.T) {
	t.Parallel()
	const before, during = 300, 500
	c := newPGCluster(t)
	c.start(t)
	e := newPGEnv(t, c)
	p := e.start(t)
	addr := p.addr(t)

	appendPGEvents(t, e.logPath, 0, before, 50)
	pgWaitForEvents(t, c, e.chainID, before, p)
	requireServedOnce(t, addr, e.adminToken, before)
	if s := readyStatus(t, addr); s != http.StatusOK {
		t.Fatalf("/readyz %d with the cluster up, want 200", s)
	}

	c.stop(t)
	appendPGEvents(t, e.logPath, before, before+during, 50)
	waitFor(t, "/readyz to report 503 once the sink fails for longer than ready_grace", func() bool {
		if p.exited() {
			t.Fatalf("audit-sidecar exited (%v) while postgres was down", p.state)
		}
		return readyStatus(t, addr) == http.StatusServiceUnavailable
	})
	var lag, up float64
	waitFor(t, `audit_sink_lag_records{sink="central"} > 0 and audit_sink_up{sink="central"} 0`, func() bool {
		var okLag, okUp bool
		lag, okLag = sinkMetric(t, addr, "audit_sink_lag_records", pgSinkName)
		up, okUp = sinkMetric(t, addr, "audit_sink_up", pgSinkName)
		return okLag && okUp && lag > 0 && up == 0
	})
	t.Logf("postgres down: sink lag %v records", lag)
	if status, body := get(t, addr, "", "/healthz", nil); status != http.StatusOK {
		t.Errorf("/healthz %d while the sink is down, want 200: %s", status, body)
	}

	c.start(t)
	pgWaitForEvents(t, c, e.chainID, before+during, p)
	waitFor(t, "/readyz back to 200 after the cluster came back", func() bool {
		return readyStatus(t, addr) == http.StatusOK
	})
	waitFor(t, "the sink metrics to show it caught up", func() bool {
		lag, okLag := sinkMetric(t, addr, "audit_sink_lag_records", pgSinkName)
		up, okUp := sinkMetric(t, addr, "audit_sink_up", pgSinkName)
		return okLag && okUp && lag == 0 && up == 1
	})
	requireServedOnce(t, addr, e.adminToken, before+during)

	p.stop(t)
	ch := pgRequireChain(t, c, e.chainID, before+during)
	requireOwnRecords(t, ch, 1, 1)
	if want := before + during + 3; ch.head != want {
		t.Errorf("head seq %d, want %d (events + chain_start, sidecar_start, sidecar_stop)", ch.head, want)
	}
	requireValidPG(t, e.cfgPath)
}

// TestE2E_Postgres_KillNineDuringBatches kills the sidecar with SIGKILL
// several times while it delivers a continuous stream to postgres: batches
// cut off mid-transaction or acknowledged by the server but not in the
// spool are replayed, and every event ends up stored exactly once.
func TestE2E_Postgres_KillNineDuringBatches(t *testing.T) {
	t.Parallel()
	const kills = 4
	c := newPGCluster(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	c.start(t)
	e := newPGEnv(t, c)
	p := e.start(t)
	p.addr(t) // the sink is open before the listener
	w := startAppender(e.logPath, seed)
	defer func() {
		select {
		case <-w.stop:
		default:
			w.finish(t)
		}
	}()

	stored := 0
	for i := 0; i < kills; i++ {
		// Kill while this run is delivering: once it has stored events
		// the previous runs had not, then at a random moment.
		prev := stored
		waitFor(t, fmt.Sprintf("run %d to deliver to postgres", i+1), func() bool {
			if p.exited() {
				t.Fatalf("audit-sidecar exited (%v) on its own", p.state)
			}
			return pgCountN(c, e.chainID) > prev
		})
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond) // a random moment to kill at, not an assertion
		p.kill9(t)
		stored = pgCountN(c, e.chainID)
		t.Logf("kill -9 #%d: %d events written, %d stored", i+1, w.written(), stored)
		p = e.start(t)
	}
	total := w.finish(t)
	pgWaitForEvents(t, c, e.chainID, total, p)
	p.stop(t)

	ch := pgRequireChain(t, c, e.chainID, total)
	requireOwnRecords(t, ch, 1, kills+1)
	requireValidPG(t, e.cfgPath)
}

// TestE2E_Postgres_StartWhileDown starts the sidecar while its postgres
// cluster is not running: the start must not fail, records spool, and
// once the cluster starts they all arrive.
func TestE2E_Postgres_StartWhileDown(t *testing.T) {
	t.Parallel()
	const total = 400
	c := newPGCluster(t) // initialised, not started
	e := newPGEnv(t, c)
	appendPGEvents(t, e.logPath, 0, total/2, 50)
	p := e.start(t)
	addr := p.addr(t)
	appendPGEvents(t, e.logPath, total/2, total, 50)

	waitFor(t, "/readyz to report 503 while postgres was never reachable", func() bool {
		if p.exited() {
			t.Fatalf("audit-sidecar exited (%v) with postgres down", p.state)
		}
		return readyStatus(t, addr) == http.StatusServiceUnavailable
	})
	waitFor(t, `audit_sink_up{sink="central"} 0 and a lag covering every event`, func() bool {
		lag, okLag := sinkMetric(t, addr, "audit_sink_lag_records", pgSinkName)
		up, okUp := sinkMetric(t, addr, "audit_sink_up", pgSinkName)
		return okLag && okUp && lag >= total && up == 0
	})
	if !pgLogged(p.stderr(), "postgres unreachable at start") {
		t.Errorf("no warning that postgres was unreachable at start")
	}
	// A query while the query sink is down fails as documented: 500.
	if status, body := get(t, addr, e.adminToken, "/v1/audit", nil); status != http.StatusInternalServerError {
		t.Errorf("GET /v1/audit with postgres down: status %d, want 500; body %.200s", status, body)
	}

	c.start(t)
	pgWaitForEvents(t, c, e.chainID, total, p)
	waitFor(t, "/readyz 200 once postgres is up", func() bool {
		return readyStatus(t, addr) == http.StatusOK
	})
	requireServedOnce(t, addr, e.adminToken, total)
	p.stop(t)

	ch := pgRequireChain(t, c, e.chainID, total)
	requireOwnRecords(t, ch, 1, 1)
	if want := total + 3; ch.head != want {
		t.Errorf("head seq %d, want %d (events + chain_start, sidecar_start, sidecar_stop)", ch.head, want)
	}
	requireValidPG(t, e.cfgPath)
}

// pgLogged reports whether a JSON log line of stderr has message msg.
func pgLogged(stderr, msg string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		var l struct{ Msg string }
		if json.Unmarshal([]byte(line), &l) == nil && strings.Contains(l.Msg, msg) {
			return true
		}
	}
	return false
}

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// listening is one "http listening" or "admin listening" log line.
type listening struct {
	Addr           string
	MaxConnections int  `json:"max_connections"`
	TLS            bool `json:"tls"`
	Probes         bool `json:"probes"`
}

// listenLine waits for the log line msg and returns it.
func (p *proc) listenLine(t *testing.T, msg string) listening {
	t.Helper()
	var got listening
	waitFor(t, "the "+msg+" log line", func() bool {
		for _, line := range strings.Split(p.stderr(), "\n") {
			var l struct {
				Msg string
				listening
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == msg && l.Addr != "" {
				got = l.listening
				return true
			}
		}
		if p.exited() {
			t.Fatalf("audit-sidecar exited (%v) before %q; stderr:\n%s", p.state, msg, p.stderr())
		}
		return false
	})
	return got
}

// withNoFile runs the binary through a shell that first sets the
// open-file limit (soft and hard) to n.
func withNoFile(e *env, n int) *exec.Cmd {
	return exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, n), bin, "run", "--config", e.cfgPath)
}

// fdCount is the number of descriptors process pid holds, and how many
// of them are sockets.
func fdCount(pid int) (all, sockets int) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	names, err := os.ReadDir(dir)
	if err != nil {
		return -1, -1
	}
	for _, n := range names {
		if target, err := os.Readlink(filepath.Join(dir, n.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			sockets++
		}
	}
	return len(names), sockets
}

// attack holds connections to addr open as three kinds of hostile client
// do, perConn of each kind at a time, reopening each one the sidecar
// closes: kept-alive connections left idle after one unauthenticated
// /healthz, slowloris (a header line now and then, never the end of the
// headers), and connections that never send a byte.
type attack struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
	dials atomic.Int64
}

func newAttack() *attack { return &attack{stop: make(chan struct{}), conns: map[net.Conn]bool{}} }

func (a *attack) run(addr string, perKind int) {
	kinds := map[string]func(c net.Conn){
		"idle": func(c net.Conn) {
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: sidecar\r\n\r\n"); err == nil {
				_, _ = io.Copy(io.Discard, c) // the answer, then nothing until the sidecar closes it
			}
		},
		"slowloris": func(c net.Conn) {
			if _, err := io.WriteString(c, "GET /v1/audit HTTP/1.1\r\nHost: sidecar\r\n"); err != nil {
				return
			}
			for i := 0; ; i++ {
				select {
				case <-a.stop:
					return
				case <-time.After(time.Second):
				}
				if _, err := fmt.Fprintf(c, "X-Slow-%d: %d\r\n", i, i); err != nil {
					return
				}
			}
		},
		"silent": func(c net.Conn) { _, _ = io.Copy(io.Discard, c) },
	}
	for _, hold := range kinds {
		for range perKind {
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				d := net.Dialer{Timeout: 10 * time.Second}
				for {
					select {
					case <-a.stop:
						return
					default:
					}
					c, err := d.Dial("tcp", addr)
					if err != nil {
						time.Sleep(100 * time.Millisecond)
						continue
					}
					a.dials.Add(1)
					a.mu.Lock()
					a.conns[c] = true
					a.mu.Unlock()
					hold(c)
					c.Close()
					a.mu.Lock()
					delete(a.conns, c)
					a.mu.Unlock()
				}
			}()
		}
	}
}

// end closes every connection and waits for the clients to return.
func (a *attack) end() {
	close(a.stop)
	a.mu.Lock()
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// TestE2E_ListenerSaturated_IngestionGoesOn: the sidecar runs with 512
// open files at most (soft and hard), an API and an admin listener,
// epochs and signed checkpoints. Both listeners are flooded with three
// times their connection cap of idle keep-alive, slowloris and silent
// connections, more than the process could hold descriptors for. While
// they are full, the agent writes and rotates its log: every line becomes
// a stored record, seals and witnessed checkpoints go on, the
// descriptors held never pass what the caps allow, and nothing logs a
// descriptor shortage. Once the flood ends the API answers, and the chain
// verifies.
func TestE2E_ListenerSaturated_IngestionGoesOn(t *testing.T) {
	t.Parallel()
	const noFile = 512
	if h := hardNoFile(t); h != "unlimited" {
		if n, err := strconv.Atoi(h); err != nil || n < noFile {
			t.Skipf("hard open-file limit %s: below the %d this test sets", h, noFile)
		}
	}
	e := newEnv(t)
	e.chainExtra = "  epoch: 200ms\n"
	pub, wdir := withCheckpoints(t, e)
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	tokensLine := "  tokens_file: " + e.tokensPath + "\n"
	writeFile(t, e.cfgPath, []byte(strings.Replace(string(cfg), tokensLine, tokensLine+"  admin_listen: \"127.0.0.1:0\"\n", 1)))

	appendLines(t, e.logPath, events(0, 100))
	p := e.startCmd(t, withNoFile(e, noFile))
	api, admin := p.listenLine(t, "http listening"), p.listenLine(t, "admin listening")
	if api.Probes || api.MaxConnections != admin.MaxConnections || api.MaxConnections >= 512 || api.MaxConnections < 8 {
		t.Fatalf("api %+v, admin %+v: want both capped alike below the default 512 by the open-file limit, probes on admin only", api, admin)
	}
	if !strings.Contains(p.stderr(), "server.max_connections lowered") {
		t.Error("the lowered cap is not logged")
	}
	perListener := api.MaxConnections
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 100, p)
	pid := p.cmd.Process.Pid
	before, _ := fdCount(pid)
	t.Logf("cap %d per listener; %d descriptors open before the flood (limit %d)", perListener, before, noFile)

	a := newAttack()
	a.run(api.Addr, perListener)
	a.run(admin.Addr, perListener)
	ended := false
	defer func() {
		if !ended {
			a.end()
		}
	}()
	// The descriptors held are sampled throughout: the connections past
	// the caps wait in the kernel's queue and hold none.
	var maxFDs atomic.Int64
	sampling, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n, _ := fdCount(pid); int64(n) > maxFDs.Load() {
				maxFDs.Store(int64(n))
			}
			select {
			case <-sampling:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	waitFor(t, "both listeners full", func() bool {
		_, sockets := fdCount(pid)
		return sockets >= 2*perListener
	})

	// The agent writes, rotates and writes on, while the listeners are full.
	appendLines(t, e.logPath, events(100, 200))
	if err := os.Rename(e.logPath, e.logPath+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, e.logPath, events(200, 300))
	waitForEvents(t, db, 300, p)
	last := seqOfEvent(t, db, 299)
	waitFor(t, "a seal after the newest event", func() bool { return maxSeq(t, db, ` WHERE action = 'seal'`) > last })
	waitFor(t, "a witnessed checkpoint covering the newest event", func() bool { return witnessedSize(t, wdir, e.chainID) >= last })
	_, sockets := fdCount(pid)
	if sockets < 2*perListener {
		t.Errorf("%d sockets open at the end of the ingestion, want the listeners still full (%d)", sockets, 2*perListener)
	}
	close(sampling)
	<-sampled
	if limit := int64(before + 2*perListener + 16); maxFDs.Load() > limit {
		t.Errorf("%d descriptors held at most, more than the %d open before plus the caps (%d)", maxFDs.Load(), before, limit)
	}
	t.Logf("%d connections opened by the flood; at most %d descriptors held (limit %d)", a.dials.Load(), maxFDs.Load(), noFile)
	for _, bad := range []string{"too many open files", "http server failed"} {
		if strings.Contains(p.stderr(), bad) {
			t.Errorf("the sidecar logged %q", bad)
		}
	}

	a.end()
	ended = true
	waitFor(t, "the API to answer once the flood ended", func() bool {
		code, _ := tryGet("http://"+api.Addr+"/v1/audit?limit=1", e.adminToken)
		return code == http.StatusOK
	})
	if code, _ := tryGet("http://"+admin.Addr+"/readyz", ""); code != http.StatusOK {
		t.Errorf("admin /readyz: %d", code)
	}
	p.stop(t)
	requireExactlyOnce(t, db, 300)
	db.Close()
	if code, out, errs := runVerify(t, e.cfgPath, "--pubkey", pub, "--witness", wdir); code != 0 {
		t.Fatalf("verify exited %d\n%s%s", code, out, errs)
	}
}

// TestE2E_OpenFileLimit_SoftRaisedToHard: started with a soft open-file
// limit of 300 under a higher hard limit, the sidecar runs with the hard
// limit (Go raises it at start) and sizes its connection cap from it.
func TestE2E_OpenFileLimit_SoftRaisedToHard(t *testing.T) {
	t.Parallel()
	h := hardNoFile(t)
	if n, err := strconv.Atoi(h); h != "unlimited" && (err != nil || n < 2048) {
		t.Skipf("hard open-file limit %s: too low to tell a raise", h)
	}
	e := newEnv(t)
	appendLines(t, e.logPath, events(0, 1))
	p := e.startCmd(t, exec.Command("sh", "-c", `ulimit -Sn 300 && exec "$0" "$@"`, bin, "run", "--config", e.cfgPath))
	api := p.listenLine(t, "http listening")
	soft := processSoftNoFile(t, p.cmd.Process.Pid)
	if soft <= 300 {
		t.Errorf("soft open-file limit of the process %d, want it raised above 300", soft)
	}
	if api.MaxConnections != 512 || strings.Contains(p.stderr(), "max_connections lowered") {
		t.Errorf("max_connections %d, want the default 512 (the raised limit leaves room)", api.MaxConnections)
	}
	p.stop(t)
}

// hardNoFile is the hard open-file limit a shell started here has
// ("unlimited" or a number).
func hardNoFile(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "ulimit -Hn").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// processSoftNoFile reads "Max open files" from /proc/pid/limits.
func processSoftNoFile(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "Max open files"); ok {
			n, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatalf("limits line %q: %v", s.Text(), err)
			}
			return n
		}
	}
	t.Fatal("no Max open files line")
	return 0
}

// tryGet sends one GET on its own connection; code 0 when it failed.
func tryGet(url, token string) (int, []byte) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

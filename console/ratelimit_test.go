package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fips-agents/audit-sidecar/query"
)

// limitedConsole is a console over a real store whose sign-ins are
// posted from any client address, with its clock, metrics and logs.
type limitedConsole struct {
	h     http.Handler
	clock *fakeClock
	reg   *prometheus.Registry
	logs  *observer.ObservedLogs
}

func newLimitedConsole(t *testing.T) *limitedConsole {
	t.Helper()
	reader, err := query.NewReader(query.Config{Store: openStore(t, testRecords(3)), Tokens: testTokens()})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	lc := &limitedConsole{clock: &fakeClock{now: testBase}, reg: prometheus.NewRegistry(), logs: logs}
	lc.h, err = New(Config{Reader: reader, Now: lc.clock.Now, Registerer: lc.reg, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	return lc
}

// signin posts token from remote (host:port) and returns the response.
func (lc *limitedConsole) signin(remote, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/console/signin", strings.NewReader(url.Values{"csrf": {"x"}, "token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", signinCookie+"=x")
	req.RemoteAddr = remote
	w := httptest.NewRecorder()
	lc.h.ServeHTTP(w, req)
	return w
}

// failures is audit_console_signin_failures_total{reason}, as the
// registry serves it.
func (lc *limitedConsole) failures(reason string) float64 {
	mfs, err := lc.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "audit_console_signin_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelOf(m, "reason") == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestConsole_SigninLimitPerAddress: an address that guesses is slowed,
// then refused (429, Retry-After), even with the right token; the right
// token from another address signs in; once the wait is over, the right
// token signs in and the address's failures are forgotten.
func TestConsole_SigninLimitPerAddress(t *testing.T) {
	lc := newLimitedConsole(t)
	const guesser, other = "203.0.113.7:40000", "198.51.100.2:40001"
	for i := range signinFreeFailures {
		if w := lc.signin(guesser, fmt.Sprintf("guess-%d", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("free failure %d: %d, want 401", i+1, w.Code)
		}
	}
	// The next failure is answered, and makes the address wait.
	if w := lc.signin(guesser, "guess-x"); w.Code != http.StatusUnauthorized {
		t.Fatalf("the failure past the free ones: %d, want 401", w.Code)
	}
	w := lc.signin(guesser, adminToken)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("the right token while the address waits: %d, Retry-After %q; want 429, 1", w.Code, w.Header().Get("Retry-After"))
	}
	if !strings.Contains(w.Body.String(), "Too many failed sign-ins") || !strings.Contains(w.Body.String(), `name="csrf"`) {
		t.Errorf("the 429 page does not say why or has no form:\n%s", w.Body)
	}
	if w := lc.signin(other, adminToken); w.Code != http.StatusSeeOther {
		t.Fatalf("the right token from another address: %d, want 303", w.Code)
	}
	// Each further failure doubles the wait.
	lc.clock.Add(time.Second)
	if w := lc.signin(guesser, "guess-y"); w.Code != http.StatusUnauthorized {
		t.Fatalf("a try after the wait: %d, want 401", w.Code)
	}
	if w := lc.signin(guesser, adminToken); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("after the next failure: %d, Retry-After %q; want 429, 2", w.Code, w.Header().Get("Retry-After"))
	}
	lc.clock.Add(2 * time.Second)
	if w := lc.signin(guesser, adminToken); w.Code != http.StatusSeeOther {
		t.Fatalf("the right token once the wait is over: %d, want 303", w.Code)
	}
	// The success forgot the failures: five free ones again.
	for i := range signinFreeFailures {
		if w := lc.signin(guesser, fmt.Sprintf("again-%d", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("after a success, failure %d: %d, want 401", i+1, w.Code)
		}
	}
	if got := lc.failures(failInvalidToken); got != signinFreeFailures*2+2 {
		t.Errorf("invalid_token failures counted: %v, want %d", got, signinFreeFailures*2+2)
	}
	if got := lc.failures(failRateLimited); got != 2 {
		t.Errorf("rate_limited refusals counted: %v, want 2", got)
	}
	if w := lc.signin(guesser, readerToken); w.Code != http.StatusForbidden || lc.failures(failRole) != 1 {
		t.Errorf("a reader token: %d, role failures %v; want 403, 1", w.Code, lc.failures(failRole))
	}
	// No log line holds a token, a guess or a part of one.
	for _, e := range lc.logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		for _, secret := range []string{adminToken, readerToken, "guess-", "again-", "tok-"} {
			if strings.Contains(line, secret) {
				t.Fatalf("a log line holds a token: %s", line)
			}
		}
	}
	if n := lc.logs.FilterMessage("console sign-in refused").Len(); n == 0 {
		t.Error("failed sign-ins are not logged")
	}
}

// TestConsole_SigninLimitOverall: many addresses guessing together (a
// failure each) leave no free failures: a new address's first failure
// makes it wait; an address that has not failed still signs in.
func TestConsole_SigninLimitOverall(t *testing.T) {
	lc := newLimitedConsole(t)
	for i := range signinOverallFailures + 1 {
		if w := lc.signin(fmt.Sprintf("10.0.%d.%d:1", i/256, i%256), "guess"); w.Code != http.StatusUnauthorized {
			t.Fatalf("address %d: %d, want 401", i, w.Code)
		}
	}
	const late = "192.0.2.50:9"
	if w := lc.signin(late, "guess"); w.Code != http.StatusUnauthorized {
		t.Fatalf("a new address's first failure: %d, want 401", w.Code)
	}
	if w := lc.signin(late, adminToken); w.Code != http.StatusTooManyRequests {
		t.Fatalf("its next try: %d, want 429 (no free failures while many fail)", w.Code)
	}
	if w := lc.signin("192.0.2.51:9", adminToken); w.Code != http.StatusSeeOther {
		t.Fatalf("the right token from an address that has not failed: %d, want 303", w.Code)
	}
	// Two minutes later the window is empty: free failures again.
	lc.clock.Add(2 * time.Minute)
	for i := range signinFreeFailures {
		if w := lc.signin("192.0.2.52:9", "guess"); w.Code != http.StatusUnauthorized {
			t.Fatalf("after the storm, failure %d: %d, want 401", i+1, w.Code)
		}
	}
}

// TestSigninLimiter_Bounds: the wait is capped, an address is forgotten
// an hour after its last failure, and the addresses remembered are
// bounded however many guess.
func TestSigninLimiter_Bounds(t *testing.T) {
	clock := &fakeClock{now: testBase}
	l := newSigninLimiter(clock.Now)
	var wait time.Duration
	for range 100 {
		wait = l.fail("a")
	}
	if wait != signinMaxBackoff {
		t.Fatalf("the wait after 100 failures: %s, want %s", wait, signinMaxBackoff)
	}
	if ok, left := l.allow("a"); ok || left != signinMaxBackoff {
		t.Fatalf("allow: %v, %s", ok, left)
	}
	clock.Add(signinForget)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("an address is still refused an hour after its last failure")
	}
	if w := l.fail("a"); w != 0 {
		t.Fatalf("a failure an hour later waits %s, want a free failure", w)
	}
	for i := range signinMaxAddrs + 500 {
		clock.Add(time.Minute) // no storm: one failure a minute
		l.fail("b-" + strconv.Itoa(i))
	}
	if n := len(l.addrs); n > signinMaxAddrs {
		t.Fatalf("%d addresses remembered, want at most %d", n, signinMaxAddrs)
	}
}

func TestClientAddr(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7:1234":               "203.0.113.7",
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":     "2001:db8:1:2::/64",
		"[::ffff:203.0.113.7]:80":        "203.0.113.7",
		"[fe80::1%eth0]:80":              "fe80::/64",
		"not an address":                 "not an address",
		"":                               "",
		"[2001:db8:1:3:3:4:5:6]:443":     "2001:db8:1:3::/64",
		"2001:db8:1:2:3:4:5:6":           "2001:db8:1:2::/64",
		"192.0.2.1":                      "192.0.2.1",
		"[::1]:8080":                     "::/64",
		"203.0.113.7:1234\x00injected":   "203.0.113.7",
		"<script>alert(1)</script>:1234": "<script>alert(1)</script>",
	} {
		if got := clientAddr(in); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// Sign-ins sent together from one address (none answered yet) are tries
// as much as sign-ins sent one after another: only the free ones and the
// one after them are looked at, and once the wait is over one try at a
// time, not as many as the address can send at once.
func TestSigninLimiter_TriesInFlight(t *testing.T) {
	clock := &fakeClock{now: testBase}
	l := newSigninLimiter(clock.Now)
	admitted := func() int {
		n := 0
		for range 50 {
			if ok, _ := l.allow("a"); ok {
				n++
			}
		}
		return n
	}
	n := admitted()
	if n > signinFreeFailures+1 {
		t.Fatalf("%d of 50 sign-ins sent together were looked at, want at most %d", n, signinFreeFailures+1)
	}
	for range n {
		l.fail("a")
	}
	if ok, _ := l.allow("a"); ok {
		t.Fatal("a try admitted before the wait is over")
	}
	clock.Add(signinMaxBackoff)
	if n := admitted(); n != 1 {
		t.Fatalf("after the wait %d of 50 sign-ins sent together were looked at, want 1", n)
	}
	l.succeed("a")
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("an address refused after its sign-in succeeded")
	}
	l.release("a") // a token of another role: neither a failure nor a success
	for range signinFreeFailures {
		if ok, _ := l.allow("b"); !ok {
			t.Fatal("an address that has not failed refused")
		}
		l.release("b")
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("an address whose tries were all answered without a failure refused")
	}
}

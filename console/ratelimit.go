package console

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// The bound on failed sign-ins. An address (an IPv4 address, or the /64
// of an IPv6 one: one host usually holds a whole /64) may fail
// signinFreeFailures times; after that each failure makes it wait before
// its next try, signinBackoff doubled per failure up to
// signinMaxBackoff, and a try before then is refused (429 with
// Retry-After) without the token being looked at. When more than
// signinOverallFailures failures came from all addresses in the last
// minute (many addresses guessing together), an address has no free
// failures: its first one makes it wait. An address that has not failed
// is never refused, so a correct token from elsewhere always signs in; a
// sign-in that succeeds forgets its address's failures. An address is
// forgotten signinForget after its last failure; at most
// signinMaxAddrs are remembered (the one whose last failure is oldest
// goes first).
const (
	signinFreeFailures    = 5
	signinBackoff         = time.Second
	signinMaxBackoff      = 15 * time.Minute
	signinOverallFailures = 100
	signinForget          = time.Hour
	signinMaxAddrs        = 10_000
)

// signinLimiter counts failed sign-ins per client address and overall.
// Its methods are safe for concurrent use.
type signinLimiter struct {
	mu    sync.Mutex
	now   func() time.Time
	addrs map[string]*failures
	// The failures of all addresses in the current minute and the one
	// before it: a sliding window of a minute, weighted.
	minute     time.Time
	this, prev int
}

// failures is what the limiter remembers of one address.
type failures struct {
	n     int
	last  time.Time
	until time.Time // no try before it
	// pending are the tries admitted by allow and not yet answered (by
	// fail, succeed or release): sign-ins sent together count as those
	// sent one after another.
	pending int
}

func newSigninLimiter(now func() time.Time) *signinLimiter {
	return &signinLimiter{now: now, addrs: map[string]*failures{}}
}

// clientAddr is the address remoteAddr (host:port, as http.Request's
// RemoteAddr) is counted under: the IP, or its /64 for IPv6. The
// console trusts no forwarding header: behind a proxy every client is
// the proxy's address.
func clientAddr(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// allow reports whether addr may try a sign-in now, and if not how long
// it must wait. A try it admits is pending until fail, succeed or release
// answers it: while tries are pending, only those that could not make
// the address wait if they all failed are admitted beside them (the free
// ones, and the one after them), so that sign-ins sent together are
// bounded as those sent one after another are.
func (l *signinLimiter) allow(addr string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[addr]
	if f != nil && f.pending == 0 && now.Sub(f.last) >= signinForget && !now.Before(f.until) {
		f.n = 0 // forgotten
	}
	switch {
	case f == nil:
		l.makeRoom(now)
		l.addrs[addr] = &failures{last: now, pending: 1}
		return true, 0
	case now.Before(f.until):
		return false, f.until.Sub(now)
	case f.n+f.pending <= l.free(now) || f.pending == 0:
		f.pending++
		return true, 0
	}
	return false, signinBackoff
}

// free is how many failures an address may make before it waits.
func (l *signinLimiter) free(now time.Time) int {
	l.roll(now)
	if l.overall(now) > signinOverallFailures {
		return 0
	}
	return signinFreeFailures
}

// fail counts a failed sign-in of addr and returns how long it must now
// wait before its next try (0: it may try again at once).
func (l *signinLimiter) fail(addr string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll(now)
	l.this++
	f := l.addrs[addr]
	if f == nil {
		l.makeRoom(now)
		f = &failures{}
		l.addrs[addr] = f
	}
	if now.Sub(f.last) >= signinForget {
		f.n = 0 // forgotten
	}
	f.pending = max(0, f.pending-1)
	f.n++
	f.last = now
	free := l.free(now)
	if f.n <= free {
		return 0
	}
	wait := signinMaxBackoff
	if k := f.n - free - 1; k < 20 {
		wait = min(signinBackoff<<k, signinMaxBackoff)
	}
	f.until = now.Add(wait)
	return wait
}

// succeed forgets addr's failures; its other pending tries are admitted
// again.
func (l *signinLimiter) succeed(addr string) {
	l.mu.Lock()
	delete(l.addrs, addr)
	l.mu.Unlock()
}

// release answers a try of addr that was neither a failure nor a
// success (a token whose role may not read records).
func (l *signinLimiter) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.addrs[addr]; f != nil {
		f.pending = max(0, f.pending-1)
		if f.n == 0 && f.pending == 0 {
			delete(l.addrs, addr)
		}
	}
}

// roll moves the overall window to now's minute.
func (l *signinLimiter) roll(now time.Time) {
	m := now.Truncate(time.Minute)
	switch d := m.Sub(l.minute); {
	case d <= 0:
	case d == time.Minute:
		l.minute, l.prev, l.this = m, l.this, 0
	default:
		l.minute, l.prev, l.this = m, 0, 0
	}
}

// overall is the failures of the last minute: this minute's, and the
// previous minute's weighted by how much of it the last minute covers.
func (l *signinLimiter) overall(now time.Time) int {
	left := time.Minute - now.Sub(l.minute)
	return l.this + int(int64(l.prev)*int64(left)/int64(time.Minute))
}

// makeRoom keeps the remembered addresses under signinMaxAddrs: the
// forgotten ones go, then the one whose last failure is oldest.
func (l *signinLimiter) makeRoom(now time.Time) {
	if len(l.addrs) < signinMaxAddrs {
		return
	}
	oldest, at := "", now
	for a, f := range l.addrs {
		if f.pending == 0 && now.Sub(f.last) >= signinForget && !now.Before(f.until) {
			delete(l.addrs, a)
			continue
		}
		if f.last.Before(at) || oldest == "" {
			oldest, at = a, f.last
		}
	}
	if len(l.addrs) >= signinMaxAddrs {
		delete(l.addrs, oldest)
	}
}

// Reasons of audit_console_signin_failures_total.
const (
	failInvalidToken = "invalid_token"
	failRole         = "role"
	failRateLimited  = "rate_limited"
)

// newSigninFailures is audit_console_signin_failures_total, registered
// with reg when it is set.
func newSigninFailures(reg prometheus.Registerer) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "audit_console_signin_failures_total",
		Help: "Console sign-ins refused, by reason (invalid_token: a token not configured; role: a token that may not read records; rate_limited: refused with 429 after repeated invalid tokens from the address). Their log lines are sampled and never hold the token.",
	}, []string{"reason"})
	for _, r := range []string{failInvalidToken, failRole, failRateLimited} {
		v.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(v)
	}
	return v
}

// signinLimited answers a sign-in its address may not try yet: 429 with
// Retry-After, the form again, the token not looked at.
func (c *console) signinLimited(w http.ResponseWriter, r *http.Request, wait time.Duration, log *zap.Logger) {
	c.signinFailures.WithLabelValues(failRateLimited).Inc()
	secs := int((wait + time.Second - 1) / time.Second)
	log.Info("console sign-in refused", zap.String("reason", "too many failed sign-ins from the address"), zap.Int("retry_after_s", secs))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	c.signinForm(w, r, http.StatusTooManyRequests,
		fmt.Sprintf("Too many failed sign-ins came from your address. Try again in %s.", waitWords(secs)))
}

// waitWords is a wait in words: "12 seconds", "4 minutes".
func waitWords(secs int) string {
	switch {
	case secs == 1:
		return "1 second"
	case secs < 120:
		return strconv.Itoa(secs) + " seconds"
	}
	return strconv.Itoa((secs+59)/60) + " minutes"
}

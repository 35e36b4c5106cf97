package server

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// limitListener holds at most cap(sem) accepted connections open. At the
// cap, a connection just accepted is given the slot of the oldest silent
// connection, which is closed: one without a request under way (kept
// alive between requests, or new: its request headers not yet read, see
// track) that has sent nothing waiting to be read and, when new, was
// accepted at least silentGrace ago. When there is none, it waits for a
// connection to close or to become silent. So silent and idle
// connections cannot keep a new client, such as the kubelet's probe, out
// for as long as their timeouts, while the clients of a burst, whose
// requests are on their way, are served, not cut; and the listener holds
// at most one descriptor past its cap (the connection waiting for a
// slot); the connections behind it wait in the kernel's queue.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	opened    func(delta int) // observes open connections; never nil
	evicted   func()          // observes connections closed for a new one; never nil

	mu sync.Mutex
	// idle holds the connections that have not sent a complete request,
	// with when they became so: keyed by the connection http.Server
	// sees, with the limitConn to close.
	idle map[net.Conn]idleConn
	// woken is signalled when a connection joins idle.
	woken chan struct{}
	// grace is silentGrace of the listener's header timeout.
	grace time.Duration
	// waiting, when set, is called each time Accept, at the cap with no
	// connection to close, waits for a slot: tests see it wait instead of
	// seeing nothing handed out for a while.
	waiting func()
}

type idleConn struct {
	since time.Time
	conn  *limitConn
	// kept is true for a kept-alive connection between requests, false
	// for a new one, evictable only once silent for silentGrace.
	kept bool
}

// silentGrace is how long a new connection may stay silent before, at
// the cap, it may be closed for another: a tenth of the listener's header
// timeout, from 100 ms to 1 s. A client that connects and then writes its
// request is given the time to write it on a busy machine, and a flood of
// silent connections, each closed only once this old, makes room fast
// enough for a probe of the admin listener, whose header timeout is 2 s
// (e2e.TestAdvHTTP_ProbesStarvedByAnonymousFlood).
func silentGrace(readHeader time.Duration) time.Duration {
	return min(max(readHeader/10, 100*time.Millisecond), time.Second)
}

// recheck is how soon a connection passed over for bytes waiting to be
// read is looked at again, had it become silent meanwhile (no state
// change announces that).
const recheck = 20 * time.Millisecond

func newLimitListener(l net.Listener, n int, opened func(int), readHeader time.Duration) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{}), opened: opened,
		evicted: func() {}, idle: map[net.Conn]idleConn{}, woken: make(chan struct{}, 1), grace: silentGrace(readHeader)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.sem <- struct{}{}:
			return l.wrap(c), nil
		default:
		}
		evicted, wait := l.evictOldest(time.Now())
		if evicted {
			continue // its slot is free
		}
		var matured <-chan time.Time
		if wait > 0 {
			matured = time.After(wait) // collected unfired once unreferenced
		}
		if l.waiting != nil {
			l.waiting()
		}
		select {
		case l.sem <- struct{}{}:
			return l.wrap(c), nil
		case <-l.woken:
		case <-matured:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

// wrap counts c open in the slot it took.
func (l *limitListener) wrap(c net.Conn) *limitConn {
	l.opened(1)
	return &limitConn{Conn: c, release: func() { l.opened(-1); <-l.sem }, accepted: time.Now()}
}

// evictOldest closes the oldest connection that is silent at now (see
// limitListener), if there is one; if there is not, wait is how long
// until one may be (0: none will without a change of state). Its
// limitConn is closed, not the TLS connection over it: a TLS close would
// first send an alert, which a client that reads nothing could hold up.
func (l *limitListener) evictOldest(now time.Time) (evicted bool, wait time.Duration) {
	soonest := func(d time.Duration) {
		if wait == 0 || d < wait {
			wait = d
		}
	}
	l.mu.Lock()
	var oldest net.Conn
	var entry idleConn
	for c, e := range l.idle {
		if !e.kept {
			if d := e.since.Add(l.grace).Sub(now); d > 0 {
				soonest(d)
				continue
			}
		}
		if oldest != nil && !e.since.Before(entry.since) {
			continue
		}
		if n, _ := pendingBytes(e.conn.Conn); n > 0 {
			soonest(recheck) // its request is on its way
			continue
		}
		oldest, entry = c, e
	}
	if oldest != nil {
		delete(l.idle, oldest)
	}
	l.mu.Unlock()
	if oldest == nil {
		return false, wait
	}
	entry.conn.Close()
	l.evicted()
	return true, 0
}

// track is the http.Server's ConnState hook: a connection may be closed
// for a new one while it is idle (kept alive between requests) or new
// (its request headers not yet read), and silent (see evictOldest).
func (l *limitListener) track(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew, http.StateIdle:
		lc := limitConnOf(c)
		if lc == nil {
			return
		}
		l.mu.Lock()
		l.idle[c] = idleConn{since: time.Now(), conn: lc, kept: state == http.StateIdle}
		l.mu.Unlock()
		select {
		case l.woken <- struct{}{}:
		default:
		}
	default:
		l.mu.Lock()
		delete(l.idle, c)
		l.mu.Unlock()
	}
}

// limitConnOf is the limitConn under c (itself, or under TLS).
func limitConnOf(c net.Conn) *limitConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, _ := c.(*limitConn)
	return lc
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, at the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
	// accepted is when the listener accepted it (see MaxConnAge).
	accepted time.Time
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

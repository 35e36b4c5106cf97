package server

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// limitListener holds at most cap(sem) accepted connections open. At the
// cap, a connection just accepted is given the slot of the oldest
// connection that has not sent a complete request (a new one that has
// sent nothing yet, or a kept-alive one idle between requests; see
// track), which is closed; when every open connection is in the middle
// of a request, it waits for one to close. So silent and idle
// connections cannot keep a new client, such as the kubelet's probe, out
// for as long as their timeouts, and the listener holds at most one
// descriptor past its cap (the connection waiting for a slot); the
// connections behind it wait in the kernel's queue.
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
}

type idleConn struct {
	since time.Time
	conn  *limitConn
}

func newLimitListener(l net.Listener, n int, opened func(int)) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{}), opened: opened,
		evicted: func() {}, idle: map[net.Conn]idleConn{}, woken: make(chan struct{}, 1)}
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
		if l.evictOldest() {
			continue // its slot is free
		}
		select {
		case l.sem <- struct{}{}:
			return l.wrap(c), nil
		case <-l.woken:
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

// evictOldest closes the oldest connection that has not sent a complete
// request, if there is one. Its limitConn is closed, not the TLS
// connection over it: a TLS close would first send an alert, which a
// client that reads nothing could hold up.
func (l *limitListener) evictOldest() bool {
	l.mu.Lock()
	var oldest net.Conn
	var entry idleConn
	for c, e := range l.idle {
		if oldest == nil || e.since.Before(entry.since) {
			oldest, entry = c, e
		}
	}
	if oldest != nil {
		delete(l.idle, oldest)
	}
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	entry.conn.Close()
	l.evicted()
	return true
}

// track is the http.Server's ConnState hook: a connection is evictable
// while it is new (nothing of a request read yet) or idle (kept alive
// between requests).
func (l *limitListener) track(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew, http.StateIdle:
		lc := limitConnOf(c)
		if lc == nil {
			return
		}
		l.mu.Lock()
		l.idle[c] = idleConn{since: time.Now(), conn: lc}
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

package server

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pipeListener hands out one end of a net.Pipe per Accept and records,
// at each Accept, how many of its connections had been closed.
type pipeListener struct {
	mu            sync.Mutex
	closed        int
	closedAtCalls []int
	shut          chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.closedAtCalls = append(l.closedAtCalls, l.closed)
	l.mu.Unlock()
	select {
	case <-l.shut:
		return nil, net.ErrClosed
	default:
	}
	a, b := net.Pipe()
	b.Close()
	return &countingConn{Conn: a, l: l}, nil
}

func (l *pipeListener) Close() error   { close(l.shut); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{} }

type countingConn struct {
	net.Conn
	l *pipeListener
}

func (c *countingConn) Close() error {
	c.l.mu.Lock()
	c.l.closed++
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func TestLimitListener_HandsOutPastTheCapOnlyAfterAClose(t *testing.T) {
	inner := &pipeListener{shut: make(chan struct{})}
	var open atomic.Int64
	l := newLimitListener(inner, 2, func(d int) { open.Add(int64(d)) }, time.Second)
	c1, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if open.Load() != 2 {
		t.Fatalf("%d open, want 2", open.Load())
	}
	waits := make(chan struct{}, 1)
	l.waiting = func() {
		select {
		case waits <- struct{}{}:
		default:
		}
	}
	third := make(chan net.Conn)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		third <- c
	}()
	// The third connection is taken from the inner listener (one
	// descriptor past the cap at most), and handed out only once a slot
	// is free: none of these connections can be closed for it (they
	// never told http.Server's ConnState hook that they are idle). Once
	// Accept waits for a slot, nothing may have been handed out.
	select {
	case <-waits:
	case c := <-third:
		t.Fatalf("a connection was handed out past the cap (%v)", c)
	case <-time.After(waitDeadline):
		t.Fatal("the third Accept never waited for a slot")
	}
	inner.mu.Lock()
	n := len(inner.closedAtCalls)
	inner.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d connections taken from the inner listener, want 3 (one past the cap)", n)
	}
	select {
	case <-third:
		t.Fatal("a connection was handed out past the cap")
	default:
	}
	if open.Load() != 2 {
		t.Fatalf("%d open, want 2", open.Load())
	}
	c1.Close()
	c1.Close() // a second Close gives back nothing more
	c3 := <-third
	if open.Load() != 2 {
		t.Errorf("%d open after a close and an accept, want 2", open.Load())
	}

	// Full again: Close ends a waiting Accept.
	waiting := make(chan error)
	go func() { _, err := l.Accept(); waiting <- err }()
	l.Close()
	if err := <-waiting; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	c2.Close()
	c3.Close()
	if open.Load() != 0 {
		t.Errorf("%d open after every close, want 0", open.Load())
	}
}

// TestLimitListener_OnlySilentConnectionsMakeRoom: at the cap, a
// kept-alive connection idle between requests may be closed for a new one
// at once, a new connection only once it has been silent for silentGrace,
// and neither while bytes it sent wait to be read, so the clients of a
// burst, whose requests are on their way, are not cut
// (e2e.TestE2E_QueryBurst_MemoryBounded sends 1000 to a cap of 512).
func TestLimitListener_OnlySilentConnectionsMakeRoom(t *testing.T) {
	l := newLimitListener(&pipeListener{shut: make(chan struct{})}, 2, func(int) {}, 2*time.Second)
	t0 := time.Now()
	silentGrace := l.grace
	if silentGrace != 200*time.Millisecond {
		t.Fatalf("grace %v for a 2 s header timeout, want 200ms", silentGrace)
	}
	track := func(c net.Conn, since time.Time, kept bool) *limitConn {
		lc := &limitConn{Conn: c, release: func() {}}
		l.idle[lc] = idleConn{since: since, conn: lc, kept: kept}
		return lc
	}
	pipe := func() (net.Conn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	isClosed := func(peer net.Conn) bool {
		peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := peer.Read(make([]byte, 1))
		return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	}

	a, youngPeer := pipe()
	young := track(a, t0, false)
	if evicted, wait := l.evictOldest(t0.Add(silentGrace / 4)); evicted || wait != silentGrace*3/4 {
		t.Fatalf("a new connection within its grace: evicted %v, wait %v; want none, %v", evicted, wait, silentGrace*3/4)
	}
	b, keptPeer := pipe()
	kept := track(b, t0.Add(silentGrace/8), true)
	if evicted, _ := l.evictOldest(t0.Add(silentGrace / 4)); !evicted {
		t.Fatal("a kept-alive connection idle between requests was not closed at the cap")
	}
	if _, ok := l.idle[kept]; ok || !isClosed(keptPeer) {
		t.Fatal("the connection closed was not the kept-alive one")
	}
	if _, ok := l.idle[young]; !ok {
		t.Fatal("the new connection within its grace was closed")
	}

	// Real sockets: one whose request waits to be read is passed over,
	// however old, for a younger silent one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accept := func(write string) (server, client net.Conn) {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		server, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { server.Close() })
		if write != "" {
			io.WriteString(client, write)
			waitFor(t, "the request in the server's receive queue", func() bool { n, _ := pendingBytes(server); return n == len(write) })
		}
		return server, client
	}
	if n, ok := pendingBytes(&net.TCPConn{}); ok || n != 0 {
		t.Fatalf("a closed socket: %d pending, known %v", n, ok)
	}
	delete(l.idle, young)
	youngPeer.Close()
	const req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	s1, c1 := accept(req)
	burst := track(s1, t0, false)
	s2, c2 := accept("")
	silent := track(s2, t0.Add(silentGrace/2), false)
	if evicted, wait := l.evictOldest(t0.Add(silentGrace)); evicted || wait != recheck {
		t.Fatalf("an old connection with its request waiting and a young silent one: evicted %v, wait %v; want none, %v", evicted, wait, recheck)
	}
	if evicted, _ := l.evictOldest(t0.Add(2 * silentGrace)); !evicted {
		t.Fatal("the silent connection past its grace was not closed")
	}
	if _, ok := l.idle[silent]; ok || !isClosed(c2) {
		t.Fatal("the connection closed was not the silent one")
	}
	if _, ok := l.idle[burst]; !ok {
		t.Fatal("the connection whose request waits to be read was closed")
	}
	if evicted, wait := l.evictOldest(t0.Add(time.Hour)); evicted || wait != recheck {
		t.Fatalf("only a connection with its request waiting: evicted %v, wait %v; want none, recheck in %v", evicted, wait, recheck)
	}
	io.ReadFull(s1, make([]byte, len(req))) //nolint:errcheck // drained: now it is silent
	if evicted, _ := l.evictOldest(t0.Add(time.Hour)); !evicted || !isClosed(c1) {
		t.Fatal("a connection whose request was read, and that then fell silent, was not closed")
	}
}

package server

import (
	"errors"
	"net"
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
	l := newLimitListener(inner, 2, func(d int) { open.Add(int64(d)) })
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
	// never told http.Server's ConnState hook that they are idle).
	deadline := time.Now().Add(waitDeadline)
	for {
		inner.mu.Lock()
		n := len(inner.closedAtCalls)
		inner.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the third connection was never accepted from the inner listener")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-third:
		t.Fatal("a connection was handed out past the cap")
	case <-time.After(100 * time.Millisecond):
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

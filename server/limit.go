package server

import (
	"net"
	"sync"
)

// limitListener holds at most cap(sem) accepted connections open: Accept
// waits for one to close first, so the connections past the cap wait in
// the kernel's queue, where they hold no descriptor of the process.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	opened    func(delta int) // observes open connections; never nil
}

func newLimitListener(l net.Listener, n int, opened func(int)) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{}), opened: opened}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	l.opened(1)
	return &limitConn{Conn: c, release: func() { l.opened(-1); <-l.sem }}, nil
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
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

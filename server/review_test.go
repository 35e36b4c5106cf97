package server

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestListen_AtTheCapTheOldestSilentConnectionMakesRoom: a listener
// whose every slot is held by connections that have not sent a complete
// request (nothing, part of their headers) or kept-alive ones between
// requests serves a new client at once (their timeouts are an hour
// here), closing the oldest of them; one whose request is being served
// is never closed for it.
func TestListen_AtTheCapTheOldestSilentConnectionMakesRoom(t *testing.T) {
	reg := prometheus.NewRegistry()
	to := Timeouts{ReadHeader: time.Hour, Read: time.Hour, Write: time.Hour, Idle: time.Hour}
	unblock, entered := make(chan struct{}), make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			entered <- struct{}{}
			<-unblock
		}
		okHandler(w, r)
	})
	l, err := Listen(Config{Name: "admin", Addr: "127.0.0.1:0", Handler: h, MaxConns: 3, Timeouts: to, Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Shutdown(t.Context())
	addr := l.Addr().String()
	open := func() float64 { return gauge(t, reg, "audit_http_connections", "admin") }

	// The oldest: a kept-alive connection after one request.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	evictable := func() int {
		l.limited.mu.Lock()
		defer l.limited.mu.Unlock()
		return len(l.limited.idle)
	}
	waitFor(t, "the first connection idle", func() bool { return evictable() == 1 })
	// Then one whose request is being served, then one that has sent
	// part of its headers.
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-entered:
	case <-time.After(waitDeadline):
		t.Fatal("the request to /block was not served")
	}
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	io.WriteString(silent, "GET / HTTP/1.1\r\nHost: x\r\n")
	waitFor(t, "every slot taken", func() bool { return open() == 3 && evictable() == 2 })

	probe := func() error {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitDeadline}
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := probe(); err != nil {
		t.Fatalf("a new client at the cap: %v", err)
	}
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(waitDeadline))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}
	if !closed(idle) {
		t.Error("the oldest connection, idle between requests, was not the one closed")
	}
	// Full again, with a newer silent connection.
	waitFor(t, "the client's connection closed", func() bool { return open() == 2 })
	newer, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close()
	waitFor(t, "every slot taken", func() bool { return open() == 3 })
	if err := probe(); err != nil {
		t.Fatalf("a second new client at the cap: %v", err)
	}
	if !closed(silent) {
		t.Error("the oldest connection without a complete request was not closed for the second client")
	}
	newer.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := newer.Read(make([]byte, 1)); err == io.EOF {
		t.Error("the newer silent connection was closed too")
	}
	// The one being served was left alone: it is answered.
	close(unblock)
	busy.SetReadDeadline(time.Now().Add(waitDeadline))
	if resp, err := http.ReadResponse(bufio.NewReader(busy), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the connection in the middle of a request: %v", err)
	}
	if n := counter(t, reg, "audit_http_connections_evicted_total", "admin"); n != 2 {
		t.Errorf("audit_http_connections_evicted_total %v, want 2", n)
	}
}

// counter is the value of the named counter of a listener in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, listener string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "listener" && l.GetValue() == listener {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestTLS_ClientCertificateCheckedAtEachRequest: a kept-alive connection
// opened with a certificate of a client CA that is then rotated out is
// answered 403 with Connection: close at its next request, and so is one
// whose certificate has expired since its handshake.
func TestTLS_ClientCertificateCheckedAtEachRequest(t *testing.T) {
	serverCA, clientCA, newClientCA := newCA(t, "server ca"), newCA(t, "client ca"), newCA(t, "new client ca")
	sec := &secretDir{dir: t.TempDir()}
	cert, key, _ := serverCA.issue(t, "sidecar", false, nil)
	sec.update(t, map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": clientCA.pem})
	core, logs := observer.New(zap.DebugLevel)
	url := listenTLS(t, TLSFiles{CertFile: sec.path("tls.crt"), KeyFile: sec.path("tls.key"), ClientCAFile: sec.path("ca.crt")}, zap.New(core))
	cp, kp, _ := clientCA.issue(t, "auditor", true, nil)
	pair, err := tls.X509KeyPair(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: waitDeadline, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: serverCA.pool(), Certificates: []tls.Certificate{pair}}, MaxIdleConnsPerHost: 1,
	}}
	get := func() (*http.Response, bool) {
		t.Helper()
		reused := false
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
		}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, reused
	}
	if resp, _ := get(); resp.StatusCode != http.StatusOK {
		t.Fatalf("before the rotation: %s", resp.Status)
	}
	sec.update(t, map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": newClientCA.pem})
	resp, reused := get()
	if !reused {
		t.Fatal("the kept-alive connection was not reused: the test proves nothing")
	}
	if resp.StatusCode != http.StatusForbidden || !resp.Close || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("a certificate of the rotated-out CA on a kept-alive connection: %s, close %v, nosniff %q; want 403, closed",
			resp.Status, resp.Close, resp.Header.Get("X-Content-Type-Options"))
	}
	if logs.FilterMessage("client certificate no longer valid; connection closed").Len() != 1 {
		t.Error("the refusal is not logged")
	}

	// Expiry: the check uses the time of the request.
	tl, err := NewTLS(TLSFiles{CertFile: sec.path("tls.crt"), KeyFile: sec.path("tls.key"), ClientCAFile: sec.path("ca.crt")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	np, nk, _ := newClientCA.issue(t, "auditor", true, nil)
	npair, err := tls.X509KeyPair(np, nk)
	if err != nil {
		t.Fatal(err)
	}
	leaf := npair.Leaf
	cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
	if err := tl.verifyClient(cs, time.Now()); err != nil {
		t.Fatalf("a valid certificate: %v", err)
	}
	if err := tl.verifyClient(cs, leaf.NotAfter.Add(time.Second)); err == nil {
		t.Error("a certificate past its NotAfter is accepted")
	}
	if err := tl.verifyClient(&tls.ConnectionState{}, time.Now()); err == nil {
		t.Error("a connection without a client certificate is accepted")
	}
}

// TestListen_OptionsStarReachesTheHandler: OPTIONS * is the handler's to
// answer (net/http's own answer carries no nosniff).
func TestListen_OptionsStarReachesTheHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
	})
	l, err := Listen(Config{Name: "api", Addr: "127.0.0.1:0", Handler: h, MaxConns: 4, Timeouts: testTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Shutdown(t.Context())
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(waitDeadline))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("OPTIONS *: %s, nosniff %q", resp.Status, resp.Header.Get("X-Content-Type-Options"))
	}
}

// TestReadTLSFile_OnlyBoundedRegularFiles: a device, a folder or a file
// past the size bound is refused at once instead of read.
func TestReadTLSFile_OnlyBoundedRegularFiles(t *testing.T) {
	dir := t.TempDir()
	big := dir + "/big.pem"
	writeFile(t, big, []byte(strings.Repeat("A", maxTLSFile+1)))
	for _, p := range []string{"/dev/zero", dir, big} {
		done := make(chan error, 1)
		go func() { _, err := readTLSFile(p); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: read", p)
			}
		case <-time.After(waitDeadline):
			t.Fatalf("%s: reading does not end", p)
		}
	}
	if _, err := NewTLS(TLSFiles{CertFile: "/dev/zero", KeyFile: "/dev/zero"}, nil); err == nil {
		t.Error("/dev/zero as a certificate is accepted")
	}
}

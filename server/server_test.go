package server

import (
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestListen_SilentAndSlowClientsAreCutAndTheCapHolds: two clients that
// send nothing, or a header line now and then, fill a listener capped at
// two; a real request is served, in the place of the oldest of them, and
// the header timeout cuts the other. The open connections never pass the
// cap.
func TestListen_SilentAndSlowClientsAreCutAndTheCapHolds(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	to := Timeouts{ReadHeader: 300 * time.Millisecond, Read: time.Second, Write: time.Second, Idle: 300 * time.Millisecond}
	l, err := Listen(Config{Name: "api", Addr: "127.0.0.1:0", Handler: okHandler, MaxConns: 2, Timeouts: to, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Shutdown(t.Context())
	addr := l.Addr().String()
	open := func() float64 { return gauge(t, reg, "audit_http_connections", "api") }
	if got := gauge(t, reg, "audit_http_connections_limit", "api"); got != 2 {
		t.Fatalf("limit gauge %v, want 2", got)
	}

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	stopSlow := make(chan struct{})
	defer close(stopSlow)
	go func() {
		if _, err := io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
			return
		}
		for {
			select {
			case <-stopSlow:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := io.WriteString(slow, "X: y\r\n"); err != nil {
					return
				}
			}
		}
	}()
	waitFor(t, "both slots taken", func() bool { return open() == 2 })

	served := make(chan error, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitDeadline}
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		served <- err
	}()
	deadline := time.After(waitDeadline)
	for done := false; !done; {
		if got := open(); got > 2 {
			t.Fatalf("%v connections open, cap 2", got)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("the queued request: %v", err)
			}
			done = true
		case <-deadline:
			t.Fatal("the queued request was never served")
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Both were cut by the server: a read sees the end, or a reset (the
	// slow client's writes that reached the server after it closed the
	// connection are answered with one).
	for name, c := range map[string]net.Conn{"silent": silent, "slow": slow} {
		c.SetReadDeadline(time.Now().Add(waitDeadline))
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s connection: %v, want it closed by the server", name, err)
		}
	}
}

func TestConnBudget(t *testing.T) {
	per1, limit, err := ConnBudget(1)
	if err != nil {
		t.Skipf("open-file limit %d too low here: %v", limit, err)
	}
	per2, _, err := ConnBudget(2)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(per1)+FDReserve > limit || per2 > per1/2+1 || per2 < MinConns {
		t.Errorf("limit %d: %d for one listener, %d for each of two", limit, per1, per2)
	}
}

// gauge is the value of the named gauge of a listener in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name, listener string) float64 {
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
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

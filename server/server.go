package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// MaxHeaderBytes caps a request's headers (net/http's default is 1 MiB):
// with the connection cap it bounds what idle and slow clients hold in
// memory.
const MaxHeaderBytes = 64 << 10

// MaxConnAge is how long a connection is kept alive at most: the response
// to its first request after that says Connection: close, so that every
// client makes a new connection (and a new TLS handshake, with the
// certificates of the day) at least this often.
const MaxConnAge = 10 * time.Minute

// Timeouts bound each phase of a connection (see http.Server); all must
// be positive.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// Config is one listener.
type Config struct {
	Name     string       // "api" or "admin": the label of its metrics and log lines
	Addr     string       // host:port
	Handler  http.Handler // required
	MaxConns int          // open connections at most; at least 1
	Timeouts Timeouts
	TLS      *TLS // nil: plain HTTP
	Logger   *zap.Logger
	Metrics  *Metrics // nil: none
}

// Listener is one serving listener.
type Listener struct {
	srv     *http.Server
	addr    net.Addr
	done    chan struct{}
	limited *limitListener
}

// Listen binds cfg.Addr and serves cfg.Handler on it until Shutdown.
func Listen(cfg Config) (*Listener, error) {
	if cfg.Handler == nil || cfg.MaxConns < 1 {
		return nil, errors.New("server: a handler and a connection cap of at least 1 are required")
	}
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	lg = lg.With(zap.String("listener", cfg.Name))
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	opened := func(int) {}
	if cfg.Metrics != nil {
		g := cfg.Metrics.open.WithLabelValues(cfg.Name)
		opened = func(d int) { g.Add(float64(d)) }
		cfg.Metrics.limit.WithLabelValues(cfg.Name).Set(float64(cfg.MaxConns))
	}
	limited := newLimitListener(ln, cfg.MaxConns, opened, cfg.Timeouts.ReadHeader)
	if cfg.Metrics != nil {
		c := cfg.Metrics.evicted.WithLabelValues(cfg.Name)
		limited.evicted = c.Inc
	}
	var served net.Listener = limited
	handler := cfg.Handler
	if cfg.TLS != nil {
		served = tls.NewListener(served, cfg.TLS.Config())
		if cfg.TLS.files.ClientCAFile != "" {
			handler = cfg.TLS.requireValidClient(handler, lg)
		}
	}
	handler = maxAge(handler)
	t := cfg.Timeouts
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		// HTTP/1.1 only: the timeouts above and the connection cap are
		// what bound a client; HTTP/2 would multiplex many requests on one
		// connection.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(errorLog{lg}, "", 0),
		// OPTIONS * goes to the handler, which answers it as any unknown
		// path (with nosniff), instead of net/http's bare 200.
		DisableGeneralOptionsHandler: true,
		ConnState:                    limited.track,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, limitConnOf(c))
		},
	}
	l := &Listener{srv: srv, addr: ln.Addr(), done: make(chan struct{}), limited: limited}
	go func() {
		defer close(l.done)
		if err := srv.Serve(served); err != nil && !errors.Is(err, http.ErrServerClosed) {
			lg.Error("http server failed", zap.Error(err))
		}
	}()
	return l, nil
}

// connKey holds a request's *limitConn in its context.
type connKey struct{}

// maxAge closes connections older than MaxConnAge after their response.
func maxAge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lc, _ := r.Context().Value(connKey{}).(*limitConn); lc != nil && time.Since(lc.accepted) > MaxConnAge {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// Addr is the bound address (the port chosen for ":0").
func (l *Listener) Addr() net.Addr { return l.addr }

// Shutdown stops accepting, lets requests in progress finish until ctx
// ends, then closes every connection left.
func (l *Listener) Shutdown(ctx context.Context) {
	if err := l.srv.Shutdown(ctx); err != nil {
		l.srv.Close()
	}
	<-l.done
}

// errorLog takes net/http's own log lines: a failed TLS handshake is the
// client's business (debug), anything else a warning.
type errorLog struct{ log *zap.Logger }

func (w errorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		w.log.Debug("tls handshake failed", zap.String("detail", msg))
	} else {
		w.log.Warn("http server", zap.String("detail", msg))
	}
	return len(p), nil
}

// Metrics are the listeners' gauges and counters.
type Metrics struct {
	open, limit *prometheus.GaugeVec
	evicted     *prometheus.CounterVec
}

// NewMetrics registers the listeners' metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		open:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "audit_http_connections", Help: "Open connections of an HTTP listener (api, admin)."}, []string{"listener"}),
		limit:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "audit_http_connections_limit", Help: "Open connections an HTTP listener holds at most (server.max_connections, lowered to fit the open-file limit); past it, a new connection takes the place of the oldest that has sent no complete request, or waits."}, []string{"listener"}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_http_connections_evicted_total", Help: "Connections an HTTP listener at its cap closed, new or idle (no request under way), to accept a new one."}, []string{"listener"}),
	}
	reg.MustRegister(m.open, m.limit, m.evicted)
	return m
}

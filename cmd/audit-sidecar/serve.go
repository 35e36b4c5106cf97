package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/pprof"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/console"
	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/server"
)

// listeners are the HTTP listeners serve started, and what their
// handlers run in the background (the console's verifications).
type listeners struct {
	all  []*server.Listener
	stop context.CancelFunc // ends the background work; nil: none
}

// shutdown ends the background work, lets requests in progress finish
// for at most d in all, then closes every connection left.
func (ls *listeners) shutdown(d time.Duration) {
	if ls.stop != nil {
		ls.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for _, l := range ls.all {
		l.Shutdown(ctx)
	}
}

// loadTLS reads server.tls's files when it is set; on error it names the
// key at fault.
func loadTLS(cfg *config.Config, log *zap.Logger) (*server.TLS, string, error) {
	t := cfg.Server.TLS
	if !t.On() {
		return nil, "", nil
	}
	tlsFiles, err := server.NewTLS(server.TLSFiles{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile}, log)
	if fe := (*server.FileError)(nil); errors.As(err, &fe) {
		return nil, "server.tls." + fe.Field, fe.Err
	} else if err != nil {
		return nil, "server.tls", err
	}
	return tlsFiles, "", nil
}

// adminReadHeader bounds the headers of a request to the admin listener:
// a probe or a scrape sends them at once, and a connection that sends
// nothing must not hold a slot for long (server.timeouts.read_header is
// for the API's clients).
const adminReadHeader = 2 * time.Second

// adminTimeouts are the API's timeouts with adminReadHeader at most.
func adminTimeouts(t server.Timeouts) server.Timeouts {
	t.ReadHeader = min(t.ReadHeader, adminReadHeader)
	return t
}

// adminHandler serves the probes and, with pprof, Go's profiles; every
// answer says nosniff. Paths match exactly (no redirect to a cleaned
// path, as http.ServeMux does with an HTML body): anything else is the
// probe handler's 404.
func adminHandler(probes http.Handler, withPProf bool) http.Handler {
	profiles := map[string]http.HandlerFunc{
		"/debug/pprof/cmdline": pprof.Cmdline, "/debug/pprof/profile": pprof.Profile,
		"/debug/pprof/symbol": pprof.Symbol, "/debug/pprof/trace": pprof.Trace,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		p := r.URL.Path
		if withPProf && strings.HasPrefix(p, "/debug/pprof/") && path.Clean(p) == strings.TrimSuffix(p, "/") && !strings.Contains(p, "//") {
			if h, ok := profiles[p]; ok {
				h(w, r)
			} else {
				pprof.Index(w, r) // the index, or a named profile
			}
			return
		}
		probes.ServeHTTP(w, r)
	})
}

// withConsole serves the paths under console.Prefix with the console,
// the rest with api.
func withConsole(api, ui http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, console.Prefix) {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// serve starts the API listener (server.listen: /v1/audit, the console
// with server.console, and the probes and metrics unless
// server.admin_listen is set) and the admin listener
// (server.admin_listen: /healthz, /readyz, /metrics, /debug/pprof with
// server.pprof), each when it is set; tlsFiles (from loadTLS) makes the API
// listener TLS. On error it names the config key at fault and nothing is
// left listening.
func serve(cfg *config.Config, store query.Store, tokens []query.Token, tlsFiles *server.TLS, ready func() error, reg *prometheus.Registry, log *zap.Logger) (*listeners, string, error) {
	sc := cfg.Server
	apiAddr, adminAddr := sc.ListenAddr(), sc.AdminListen
	n := 0
	for _, a := range []string{apiAddr, adminAddr} {
		if a != "" {
			n++
		}
	}
	if n == 0 {
		return &listeners{}, "", nil
	}
	perListener, fdLimit, err := server.ConnBudget(n)
	if err != nil {
		return nil, "server.max_connections", err
	}
	conns := min(sc.MaxConnections, perListener)
	if conns < sc.MaxConnections {
		log.Warn("server.max_connections lowered to keep file descriptors for the pipeline",
			zap.Int("max_connections", conns), zap.Uint64("open_file_limit", fdLimit), zap.Int("reserved", server.FDReserve))
	}
	metrics := server.NewMetrics(reg)
	timeouts := server.Timeouts{ReadHeader: sc.Timeouts.ReadHeader, Read: sc.Timeouts.Read, Write: sc.Timeouts.Write, Idle: sc.Timeouts.Idle}
	promHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	out := &listeners{}
	if apiAddr != "" {
		qcfg := query.Config{Store: store, Tokens: tokens, Ready: ready, Logger: log, Metrics: promHandler,
			MaxConcurrentQueries: sc.MaxConcurrentQueries, Registerer: reg}
		reader, err := query.NewReader(qcfg)
		if err != nil {
			return nil, "server", err
		}
		h := reader.Handler(adminAddr == "")
		if sc.Console {
			ctx, cancel := context.WithCancel(context.Background())
			out.stop = cancel
			ch, err := console.New(console.Config{Reader: reader, Logger: log, Registerer: reg, Metrics: reg, Integrity: consoleIntegrity(ctx, cfg, store, log)})
			if err != nil {
				cancel()
				return nil, "server.console", err
			}
			h = withConsole(h, ch)
		}
		l, err := server.Listen(server.Config{Name: "api", Addr: apiAddr, Handler: h, MaxConns: conns,
			Timeouts: timeouts, TLS: tlsFiles, Logger: log, Metrics: metrics})
		if err != nil {
			out.shutdown(0)
			return nil, "server.listen", err
		}
		out.all = append(out.all, l)
		log.Info("http listening", zap.String("addr", l.Addr().String()), zap.Bool("tls", tlsFiles != nil),
			zap.Bool("client_certificates", sc.TLS.ClientCAFile != ""), zap.Bool("probes", adminAddr == ""),
			zap.Int("max_connections", conns), zap.Bool("console", sc.Console))
	}
	if adminAddr != "" {
		l, err := server.Listen(server.Config{Name: "admin", Addr: adminAddr, Handler: adminHandler(query.NewProbeHandler(ready, promHandler), sc.PProf),
			MaxConns: conns, Timeouts: adminTimeouts(timeouts), Logger: log, Metrics: metrics})
		if err != nil {
			out.shutdown(0)
			return nil, "server.admin_listen", err
		}
		out.all = append(out.all, l)
		log.Info("admin listening", zap.String("addr", l.Addr().String()), zap.Bool("pprof", sc.PProf),
			zap.Int("max_connections", conns))
	}
	return out, "", nil
}

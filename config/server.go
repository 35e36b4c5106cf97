package config

import (
	"fmt"
	"net"
	"time"
)

// Timeouts bound each phase of an HTTP connection.
type Timeouts struct {
	ReadHeader time.Duration `yaml:"read_header"`
	Read       time.Duration `yaml:"read"`
	Write      time.Duration `yaml:"write"`
	Idle       time.Duration `yaml:"idle"`
}

// TLS is the API listener's certificate; all empty means plain HTTP.
type TLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"` // set: clients must present a certificate it signed
}

// On reports whether any TLS key is set.
func (t TLS) On() bool { return t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != "" }

// MaxConcurrentQueriesLimit is the largest server.max_concurrent_queries:
// each query served holds about a MiB, one record more when records are
// larger.
const MaxConcurrentQueriesLimit = 1024

// validateListeners checks the keys of the listeners besides the API's
// address, tokens and query sink: the admin listener, the connection cap,
// the timeouts and TLS. The files are read by the run command, not here.
func (s Server) validateListeners() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if s.AdminListen != "" {
		_, port, err := net.SplitHostPort(s.AdminListen)
		switch {
		case err != nil:
			bad("server.admin_listen", "must be host:port")
		case s.AdminListen == s.ListenAddr() && port != "0":
			bad("server.admin_listen", "must differ from server.listen")
		}
	}
	if s.PProf && s.AdminListen == "" {
		bad("server.pprof", "requires server.admin_listen (profiles are never served on the API listener)")
	}
	if s.Console && s.ListenAddr() == "" {
		bad("server.console", "requires server.listen (the console is served on the API listener)")
	}
	if s.MaxConnections < 0 {
		bad("server.max_connections", "must be positive")
	}
	if s.MaxConcurrentQueries < 0 || s.MaxConcurrentQueries > MaxConcurrentQueriesLimit {
		bad("server.max_concurrent_queries", "must be from 1 to %d", MaxConcurrentQueriesLimit)
	}
	t := s.Timeouts
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"read_header", t.ReadHeader}, {"read", t.Read}, {"write", t.Write}, {"idle", t.Idle}} {
		if d.v < 0 {
			bad("server.timeouts."+d.key, "must be positive")
		}
	}
	if t.Read > 0 && t.ReadHeader > t.Read {
		bad("server.timeouts.read_header", "must not exceed server.timeouts.read")
	}
	if s.TLS.On() {
		if s.ListenAddr() == "" {
			bad("server.tls", "requires server.listen (TLS is for the API listener)")
		}
		if s.TLS.CertFile == "" {
			bad("server.tls.cert_file", "required when server.tls is set")
		}
		if s.TLS.KeyFile == "" {
			bad("server.tls.key_file", "required when server.tls is set")
		}
	}
	return errs
}

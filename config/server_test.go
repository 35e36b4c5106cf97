package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// withServer is the minimal config with its server line replaced.
func withServer(server string) string {
	return strings.Replace(minimal, "server: {listen: 127.0.0.1:0, tokens_file: ./tokens.yaml}", "server: "+server, 1)
}

func TestLoad_ServerListenersDefaults(t *testing.T) {
	p := write(t, withServer("{listen: 127.0.0.1:0, tokens_file: ./tokens.yaml, tls: {cert_file: tls/tls.crt, key_file: tls/tls.key, client_ca_file: ca.crt}}"))
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.AdminListen != "" || s.PProf || s.MaxConnections != DefaultMaxConnections {
		t.Errorf("admin_listen %q, pprof %v, max_connections %d: want off, off, %d", s.AdminListen, s.PProf, s.MaxConnections, DefaultMaxConnections)
	}
	want := Timeouts{ReadHeader: DefaultReadHeaderTimeout, Read: DefaultReadTimeout, Write: DefaultWriteTimeout, Idle: DefaultIdleTimeout}
	if s.Timeouts != want {
		t.Errorf("timeouts %+v, want %+v", s.Timeouts, want)
	}
	dir := filepath.Dir(p)
	tls := TLS{CertFile: filepath.Join(dir, "tls/tls.crt"), KeyFile: filepath.Join(dir, "tls/tls.key"), ClientCAFile: filepath.Join(dir, "ca.crt")}
	if s.TLS != tls {
		t.Errorf("tls %+v, want paths resolved against the config folder: %+v", s.TLS, tls)
	}
	own := c.OwnFiles()
	for _, f := range []string{tls.CertFile, tls.KeyFile, tls.ClientCAFile} {
		if !slices.Contains(own, f) {
			t.Errorf("OwnFiles lacks %s: the source could be pointed at it", f)
		}
	}
}

func TestLoad_ServerListenersValid(t *testing.T) {
	cases := map[string]string{
		"admin only, no tokens file": `{listen: "", admin_listen: "0.0.0.0:9090"}`,
		"admin beside the API":       "{listen: 127.0.0.1:8080, tokens_file: ./tokens.yaml, admin_listen: 0.0.0.0:9090, pprof: true}",
		"both on port 0":             "{listen: 127.0.0.1:0, tokens_file: ./tokens.yaml, admin_listen: 127.0.0.1:0}",
		"short read timeout":         "{listen: 127.0.0.1:0, tokens_file: ./tokens.yaml, timeouts: {read: 2s}}",
		"tls":                        "{listen: 127.0.0.1:0, tokens_file: ./tokens.yaml, tls: {cert_file: c.pem, key_file: k.pem}}",
	}
	for name, server := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := Load(write(t, withServer(server)))
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.Timeouts.ReadHeader > c.Server.Timeouts.Read {
				t.Errorf("read_header %s above read %s", c.Server.Timeouts.ReadHeader, c.Server.Timeouts.Read)
			}
		})
	}
}

func TestLoad_ServerListenersErrors(t *testing.T) {
	const api = "listen: 127.0.0.1:8080, tokens_file: ./tokens.yaml, "
	cases := []struct{ name, server, want string }{
		{"admin not host:port", "{" + api + "admin_listen: 9090}", "server.admin_listen: must be host:port"},
		{"admin same as API", "{" + api + "admin_listen: 127.0.0.1:8080}", "server.admin_listen: must differ"},
		{"pprof without admin", "{" + api + "pprof: true}", "server.pprof: requires server.admin_listen"},
		{"negative max_connections", "{" + api + "max_connections: -1}", "server.max_connections"},
		{"negative idle", "{" + api + "timeouts: {idle: -1s}}", "server.timeouts.idle"},
		{"negative write", "{" + api + "timeouts: {write: -1s}}", "server.timeouts.write"},
		{"header above read", "{" + api + "timeouts: {read_header: 1m, read: 10s}}", "server.timeouts.read_header: must not exceed"},
		{"unknown timeout", "{" + api + "timeouts: {handshake: 1s}}", "server.timeouts.handshake"},
		{"tls without cert", "{" + api + "tls: {key_file: k.pem}}", "server.tls.cert_file: required"},
		{"tls without key", "{" + api + "tls: {cert_file: c.pem}}", "server.tls.key_file: required"},
		{"client CA without tls", "{" + api + "tls: {client_ca_file: ca.pem}}", "server.tls.cert_file: required"},
		{"tls without API", `{listen: "", admin_listen: 0.0.0.0:9090, tls: {cert_file: c.pem, key_file: k.pem}}`, "server.tls: requires server.listen"},
		{"console without API", `{listen: "", admin_listen: 0.0.0.0:9090, console: true}`, "server.console: requires server.listen"},
		{"console not a bool", "{" + api + "console: sometimes}", "console"},
		{"unknown tls key", "{" + api + "tls: {cert_file: c.pem, key_file: k.pem, ca_file: x}}", "server.tls.ca_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, withServer(tc.server)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to name %q", err, tc.want)
			}
		})
	}
}

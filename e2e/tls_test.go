package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// certAuthority is a CA made for one test (ECDSA P-256).
type certAuthority struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

func randSerial(t *testing.T) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newCertAuthority(t *testing.T, name string) *certAuthority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certAuthority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *certAuthority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue makes a server certificate for 127.0.0.1 (or a client one) with
// a key on curve, and returns the PEM of both and its serial.
func (ca *certAuthority) issue(t *testing.T, client bool, curve elliptic.Curve) (certPEM, keyPEM []byte, serial *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(t), Subject: pkix.Name{CommonName: "audit-sidecar"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), tmpl.SerialNumber
}

func (ca *certAuthority) clientPair(t *testing.T) tls.Certificate {
	t.Helper()
	c, k, _ := ca.issue(t, true, elliptic.P256())
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// secretVolume lays files out as the kubelet projects a Secret:
// <dir>/<name> -> ..data/<name>, ..data -> ..<version>; an update writes
// a new version, swaps ..data in one rename and removes the old one.
type secretVolume struct {
	dir     string
	version int
}

func (s *secretVolume) path(name string) string { return filepath.Join(s.dir, name) }

func (s *secretVolume) update(t *testing.T, files map[string][]byte) {
	t.Helper()
	s.version++
	v := fmt.Sprintf("..2026_11_26_10_00_%02d.%d", s.version, s.version)
	for name, b := range files {
		writeFile(t, filepath.Join(s.dir, v, name), b)
	}
	old, _ := os.Readlink(filepath.Join(s.dir, "..data"))
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(v, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if _, err := os.Lstat(s.path(name)); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), s.path(name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		os.RemoveAll(filepath.Join(s.dir, old))
	}
}

// tlsGet sends GET /v1/audit?limit=1 over a new TLS connection and
// returns the status and the serial of the server's certificate.
func tlsGet(addr, token string, cfg *tls.Config) (int, *big.Int, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/v1/audit?limit=1", nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // the status is what counts
	return resp.StatusCode, resp.TLS.PeerCertificates[0].SerialNumber, nil
}

// withTLS writes e's config with the API on TLS from the files of sec
// (tls.crt, tls.key, and ca.crt when clientCA) and an admin listener.
func withTLS(t *testing.T, e *env, sec *secretVolume, clientCA bool) {
	t.Helper()
	server := fmt.Sprintf("  admin_listen: \"127.0.0.1:0\"\n  tls:\n    cert_file: %s\n    key_file: %s\n", sec.path("tls.crt"), sec.path("tls.key"))
	if clientCA {
		server += fmt.Sprintf("    client_ca_file: %s\n", sec.path("ca.crt"))
	}
	writeFile(t, e.cfgPath, []byte(e.configWithSink(fmt.Sprintf("  - name: local\n    type: sqlite\n    path: %s\n", e.dbPath), "local", server)))
}

// TestE2E_TLS_RotatedInPlace: the API listener serves TLS from a Secret
// volume; the certificate rotated the way the kubelet does it (a ..data
// symbolic link swapped) is served from the next handshake on, without a
// restart; plain HTTP on the TLS port gets no answer; the probes stay on
// the admin listener in plain HTTP.
func TestE2E_TLS_RotatedInPlace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ca := newCertAuthority(t, "cluster issuer")
	sec := &secretVolume{dir: filepath.Join(e.dir, "tls")}
	cert1, key1, serial1 := ca.issue(t, false, elliptic.P256())
	sec.update(t, map[string][]byte{"tls.crt": cert1, "tls.key": key1})
	withTLS(t, e, sec, false)
	appendLines(t, e.logPath, events(0, 10))
	p := e.start(t)
	api, admin := p.listenLine(t, "http listening"), p.listenLine(t, "admin listening")
	if !api.TLS {
		t.Fatalf("api listener %+v: not TLS", api)
	}
	waitForEvents(t, openDB(t, e.dbPath), 10, p)
	client := &tls.Config{RootCAs: ca.pool()}
	code, serial, err := tlsGet(api.Addr, e.adminToken, client)
	if err != nil || code != http.StatusOK || serial.Cmp(serial1) != 0 {
		t.Fatalf("first query: %d, serial %v, %v; want 200 with serial %v", code, serial, err, serial1)
	}
	if code, _ := tryGet("http://"+api.Addr+"/v1/audit", e.adminToken); code == http.StatusOK {
		t.Error("plain HTTP on the TLS listener was answered")
	}
	if code, _ := tryGet("http://"+admin.Addr+"/readyz", ""); code != http.StatusOK {
		t.Errorf("admin /readyz: %d", code)
	}

	cert2, key2, serial2 := ca.issue(t, false, elliptic.P256())
	sec.update(t, map[string][]byte{"tls.crt": cert2, "tls.key": key2})
	waitFor(t, "the rotated certificate", func() bool {
		code, serial, err := tlsGet(api.Addr, e.adminToken, client)
		return err == nil && code == http.StatusOK && serial.Cmp(serial2) == 0
	})
	if p.exited() {
		t.Fatal("the sidecar exited")
	}
	p.stop(t)
	requireNoKeyMaterialIn(t, p.stderr(), key1, key2)
}

// TestE2E_TLS_ClientCertificates: with server.tls.client_ca_file, a
// client without a certificate and one with a certificate of another CA
// are refused at the handshake; a certificate of the CA gets to the
// token check (401 without a token, 200 with one).
func TestE2E_TLS_ClientCertificates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	serverCA, clientCA, otherCA := newCertAuthority(t, "server issuer"), newCertAuthority(t, "client issuer"), newCertAuthority(t, "another issuer")
	sec := &secretVolume{dir: filepath.Join(e.dir, "tls")}
	cert, key, _ := serverCA.issue(t, false, elliptic.P256())
	sec.update(t, map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": clientCA.pem})
	withTLS(t, e, sec, true)
	appendLines(t, e.logPath, events(0, 1))
	p := e.start(t)
	api := p.listenLine(t, "http listening")

	with := func(pair *tls.Certificate) *tls.Config {
		c := &tls.Config{RootCAs: serverCA.pool()}
		if pair != nil {
			c.Certificates = []tls.Certificate{*pair}
		}
		return c
	}
	good, other := clientCA.clientPair(t), otherCA.clientPair(t)
	for name, cfg := range map[string]*tls.Config{"no client certificate": with(nil), "a certificate of another CA": with(&other)} {
		if code, _, err := tlsGet(api.Addr, e.adminToken, cfg); err == nil {
			t.Errorf("%s: answered %d, want the handshake refused", name, code)
		}
	}
	if code, _, err := tlsGet(api.Addr, "", with(&good)); err != nil || code != http.StatusUnauthorized {
		t.Errorf("the CA's client certificate without a token: %d, %v; want 401", code, err)
	}
	if code, _, err := tlsGet(api.Addr, e.adminToken, with(&good)); err != nil || code != http.StatusOK {
		t.Errorf("the CA's client certificate with a token: %d, %v; want 200", code, err)
	}
	p.stop(t)
}

// TestE2E_TLS_FIPSMode checks what the built binary's API listener
// negotiates with Go's FIPS 140-3 mode on and off: TLS 1.1 is refused in
// both; in FIPS mode a client offering only ChaCha20-Poly1305 (TLS 1.2)
// or only X25519 (TLS 1.3) is refused, and served otherwise; AES-GCM
// with P-256 is served in both. In FIPS mode a certificate on P-224
// stops the start, naming server.tls.cert_file.
func TestE2E_TLS_FIPSMode(t *testing.T) {
	t.Parallel()
	ca := newCertAuthority(t, "cluster issuer")
	clientFIPS := fips140.Enabled()
	for _, mode := range []string{"on", "off"} {
		t.Run("fips140-"+mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			sec := &secretVolume{dir: filepath.Join(e.dir, "tls")}
			cert, key, _ := ca.issue(t, false, elliptic.P256())
			sec.update(t, map[string][]byte{"tls.crt": cert, "tls.key": key})
			withTLS(t, e, sec, false)
			appendLines(t, e.logPath, events(0, 1))
			cmd := exec.Command(bin, "run", "--config", e.cfgPath)
			cmd.Env = append(os.Environ(), "GODEBUG=fips140="+mode)
			p := e.startCmd(t, cmd)
			api := p.listenLine(t, "http listening")
			waitFor(t, "the start record's log line", func() bool { return strings.Contains(p.stderr(), `"msg":"sidecar started"`) })
			if on := strings.Contains(p.stderr(), `"fips140":true`); on != (mode == "on") {
				t.Fatalf("the sidecar reports fips140=%v, want %s", on, mode)
			}
			tls12 := func(suite uint16) *tls.Config {
				return &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
			}
			tls13 := func(curve tls.CurveID) *tls.Config {
				return &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{curve}}
			}
			cases := []struct {
				name         string
				cfg          *tls.Config
				servedInFIPS bool
				servedOff    bool
				clientNeeds  bool // the client offers what FIPS mode would not let it offer
			}{
				{"TLS 1.1", &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false, false, true},
				{"TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256", tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), true, true, false},
				{"TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384", tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384), true, true, false},
				{"TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305 only", tls12(tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256), false, true, true},
				{"TLS 1.3 P-256", tls13(tls.CurveP256), true, true, false},
				{"TLS 1.3 X25519 only", tls13(tls.X25519), false, true, true},
			}
			for _, tc := range cases {
				if tc.clientNeeds && clientFIPS {
					t.Logf("%s: not tried, this test process runs in FIPS mode and cannot offer it", tc.name)
					continue
				}
				want := tc.servedOff
				if mode == "on" {
					want = tc.servedInFIPS
				}
				code, _, err := tlsGet(api.Addr, e.adminToken, tc.cfg)
				if served := err == nil && code == http.StatusOK; served != want {
					t.Errorf("%s: served %v (%d, %v), want %v", tc.name, served, code, err, want)
				}
			}
			p.stop(t)
		})
	}
	t.Run("P-224-certificate-in-FIPS-mode", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sec := &secretVolume{dir: filepath.Join(e.dir, "tls")}
		cert, key, _ := ca.issue(t, false, elliptic.P224())
		sec.update(t, map[string][]byte{"tls.crt": cert, "tls.key": key})
		withTLS(t, e, sec, false)
		code, stderr := runEnv(t, []string{"GODEBUG=fips140=on"}, "run", "--config", e.cfgPath)
		if code != 2 || !strings.Contains(stderr, "server.tls.cert_file") {
			t.Errorf("exit %d, want 2 naming server.tls.cert_file; stderr:\n%s", code, stderr)
		}
		requireNoKeyMaterialIn(t, stderr, key)
	})
}

// TestE2E_TLS_ConfigErrors: every unusable TLS setting stops the start
// with exit code 2 and one line naming the key, before any store is
// created, and never prints key material.
func TestE2E_TLS_ConfigErrors(t *testing.T) {
	t.Parallel()
	ca := newCertAuthority(t, "cluster issuer")
	cert, key, _ := ca.issue(t, false, elliptic.P256())
	_, otherKey, _ := ca.issue(t, false, elliptic.P256())
	marker := []byte("-----BEGIN PRIVATE KEY-----\nTUFSS0VSLW5ldmVyLWluLWEtbG9nLWxpbmU=\n-----END PRIVATE KEY-----\n")
	tests := []struct {
		name    string
		files   map[string][]byte // written into the secret volume
		server  string            // server keys (%[1]s is the volume's folder)
		wantKey string
	}{
		{"missing certificate", map[string][]byte{"tls.key": key},
			"  tls: {cert_file: %[1]s/tls.crt, key_file: %[1]s/tls.key}\n", "server.tls.cert_file"},
		{"missing key", map[string][]byte{"tls.crt": cert},
			"  tls: {cert_file: %[1]s/tls.crt, key_file: %[1]s/tls.key}\n", "server.tls.key_file"},
		{"key of another certificate", map[string][]byte{"tls.crt": cert, "tls.key": otherKey},
			"  tls: {cert_file: %[1]s/tls.crt, key_file: %[1]s/tls.key}\n", "server.tls.key_file"},
		{"key file that is no key", map[string][]byte{"tls.crt": cert, "tls.key": marker},
			"  tls: {cert_file: %[1]s/tls.crt, key_file: %[1]s/tls.key}\n", "server.tls.key_file"},
		{"certificate file holding the key", map[string][]byte{"tls.key": key},
			"  tls: {cert_file: %[1]s/tls.key, key_file: %[1]s/tls.key}\n", "server.tls.cert_file"},
		{"client CA that is no certificate", map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": []byte("not a certificate\n")},
			"  tls: {cert_file: %[1]s/tls.crt, key_file: %[1]s/tls.key, client_ca_file: %[1]s/ca.crt}\n", "server.tls.client_ca_file"},
		{"client CA without TLS", map[string][]byte{"ca.crt": ca.pem},
			"  tls: {client_ca_file: %[1]s/ca.crt}\n", "server.tls.cert_file"},
		{"pprof without an admin listener", nil, "  pprof: true\n", "server.pprof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dir := filepath.Join(e.dir, "tls")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, b := range tc.files {
				writeFile(t, filepath.Join(dir, name), b)
			}
			server := tc.server
			if strings.Contains(server, "%") {
				server = fmt.Sprintf(server, dir)
			}
			writeFile(t, e.cfgPath, []byte(e.configWithSink(fmt.Sprintf("  - name: local\n    type: sqlite\n    path: %s\n", e.dbPath), "local", server)))
			appendLines(t, e.logPath, events(0, 1))
			code, stderr := runCmd(t, "run", "--config", e.cfgPath)
			line := strings.TrimSuffix(stderr, "\n")
			if code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, tc.wantKey) {
				t.Errorf("exit %d, want 2 and one line naming %s; stderr:\n%s", code, tc.wantKey, stderr)
			}
			requireNoKeyMaterialIn(t, stderr, key, otherKey, marker)
			if _, err := os.Stat(e.dbPath); err == nil {
				t.Error("the sink was created although the config is rejected")
			}
		})
	}
}

// TestE2E_AdminOnly: without an API listener (and so without a tokens
// file), the admin listener serves the probes and metrics, and pprof when
// asked for; it serves no records.
func TestE2E_AdminOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.configYAML("")
	cfg = strings.Replace(cfg, "  listen: \"127.0.0.1:0\"\n", "  listen: \"\"\n  admin_listen: \"127.0.0.1:0\"\n  pprof: true\n", 1)
	cfg = strings.Replace(cfg, "  tokens_file: "+e.tokensPath+"\n", "", 1)
	writeFile(t, e.cfgPath, []byte(cfg))
	appendLines(t, e.logPath, events(0, 5))
	p := e.start(t)
	admin := p.listenLine(t, "admin listening")
	waitForEvents(t, openDB(t, e.dbPath), 5, p)
	if strings.Contains(p.stderr(), `"msg":"http listening"`) {
		t.Error("an API listener was started")
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/debug/pprof/": 200, "/v1/audit": 404} {
		code, body := tryGet("http://"+admin.Addr+path, e.adminToken)
		if code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
		if path == "/metrics" && !bytes.Contains(body, []byte(`audit_http_connections_limit{listener="admin"}`)) {
			t.Errorf("/metrics lacks audit_http_connections_limit for the admin listener")
		}
	}
	p.stop(t)
}

// TestE2E_AdminListen_ProbesMove: with server.admin_listen the probes and
// metrics leave the API listener (404 there) for the admin one.
func TestE2E_AdminListen_ProbesMove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	writeFile(t, e.cfgPath, []byte(e.configWithSink(fmt.Sprintf("  - name: local\n    type: sqlite\n    path: %s\n", e.dbPath), "local", "  admin_listen: \"127.0.0.1:0\"\n")))
	appendLines(t, e.logPath, events(0, 1))
	p := e.start(t)
	api, admin := p.listenLine(t, "http listening"), p.listenLine(t, "admin listening")
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := tryGet("http://"+api.Addr+path, ""); code != http.StatusNotFound {
			t.Errorf("API %s: %d, want 404", path, code)
		}
		if code, _ := tryGet("http://"+admin.Addr+path, ""); code != http.StatusOK {
			t.Errorf("admin %s: %d, want 200", path, code)
		}
	}
	if code, _ := tryGet("http://"+admin.Addr+"/debug/pprof/", ""); code != http.StatusNotFound {
		t.Errorf("admin /debug/pprof/ without server.pprof: %d, want 404", code)
	}
	if code, _ := tryGet("http://"+api.Addr+"/v1/audit?limit=1", e.adminToken); code != http.StatusOK {
		t.Errorf("API /v1/audit: %d", code)
	}
	p.stop(t)
}

// runEnv runs the binary to its end with env added and returns its exit
// code and stderr.
func runEnv(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exitDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, errb.String()
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), errb.String()
	}
	t.Fatalf("audit-sidecar %s: %v; stderr:\n%s", strings.Join(args, " "), err, errb.String())
	return 0, ""
}

// requireNoKeyMaterialIn fails if text holds a line of a PEM key body.
func requireNoKeyMaterialIn(t *testing.T, text string, keys ...[]byte) {
	t.Helper()
	for _, key := range keys {
		for _, line := range bytes.Split(key, []byte("\n")) {
			if len(line) > 16 && !bytes.HasPrefix(line, []byte("-----")) && strings.Contains(text, string(line)) {
				t.Fatal("the output holds private key material")
			}
		}
	}
}

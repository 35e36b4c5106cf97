package server

import (
	"bytes"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/tls"
	"errors"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Generous deadline for conditions; the tests never assert durations.
const waitDeadline = 30 * time.Second

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

func testTimeouts() Timeouts {
	return Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 30 * time.Second}
}

// listenTLS serves okHandler with files on 127.0.0.1:0 and returns the
// https URL.
func listenTLS(t *testing.T, files TLSFiles, log *zap.Logger) string {
	t.Helper()
	tl, err := NewTLS(files, log)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen(Config{Name: "api", Addr: "127.0.0.1:0", Handler: okHandler, MaxConns: 16, Timeouts: testTimeouts(), TLS: tl, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Shutdown(t.Context()) })
	return "https://" + l.Addr().String() + "/"
}

// fetch makes one request on a new connection (a new handshake) and
// returns the serial of the server's certificate.
func fetch(url string, cfg *tls.Config) (*big.Int, error) {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: waitDeadline}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		return nil, errors.New("unexpected answer " + resp.Status)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber, nil
}

func TestTLS_ReloadsAKubernetesSecretSwappedInPlace(t *testing.T) {
	ca := newCA(t, "server ca")
	sec := &secretDir{dir: t.TempDir()}
	cert1, key1, serial1 := ca.issue(t, "sidecar 1", false, nil)
	sec.update(t, map[string][]byte{"tls.crt": cert1, "tls.key": key1})
	url := listenTLS(t, TLSFiles{CertFile: sec.path("tls.crt"), KeyFile: sec.path("tls.key")}, nil)
	client := &tls.Config{RootCAs: ca.pool()}

	got, err := fetch(url, client)
	if err != nil || got.Cmp(serial1) != 0 {
		t.Fatalf("first handshake: serial %v, %v; want %v", got, err, serial1)
	}
	cert2, key2, serial2 := ca.issue(t, "sidecar 2", false, nil)
	sec.update(t, map[string][]byte{"tls.crt": cert2, "tls.key": key2})
	waitFor(t, "the rotated certificate to be served", func() bool {
		got, err := fetch(url, client)
		return err == nil && got.Cmp(serial2) == 0
	})
}

func TestTLS_ReloadsFilesRewrittenInPlace_KeepsTheOldPairUntilBothMatch(t *testing.T) {
	ca := newCA(t, "server ca")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert1, key1, serial1 := ca.issue(t, "sidecar 1", false, nil)
	writeFile(t, certFile, cert1)
	writeFile(t, keyFile, key1)
	core, logs := observer.New(zap.DebugLevel)
	url := listenTLS(t, TLSFiles{CertFile: certFile, KeyFile: keyFile}, zap.New(core))
	client := &tls.Config{RootCAs: ca.pool()}
	if got, err := fetch(url, client); err != nil || got.Cmp(serial1) != 0 {
		t.Fatalf("first handshake: serial %v, %v; want %v", got, err, serial1)
	}

	// The certificate is rewritten before its key: the pair does not
	// match, so the old pair is still served, and the failure logged once.
	cert2, key2, serial2 := ca.issue(t, "sidecar 2", false, nil)
	afterTick(t, certFile)
	writeFile(t, certFile, cert2)
	for range 3 {
		if got, err := fetch(url, client); err != nil || got.Cmp(serial1) != 0 {
			t.Fatalf("between the two writes: serial %v, %v; want the old %v", got, err, serial1)
		}
	}
	if n := logs.FilterMessageSnippet("do not load").Len(); n != 1 {
		t.Errorf("%d warnings about the unloadable pair, want 1", n)
	}
	afterTick(t, keyFile)
	writeFile(t, keyFile, key2)
	waitFor(t, "the rewritten pair to be served", func() bool {
		got, err := fetch(url, client)
		return err == nil && got.Cmp(serial2) == 0
	})
	requireNoKeyMaterial(t, logs, key1, key2)
}

func TestTLS_ClientCertificates(t *testing.T) {
	serverCA, clientCA, otherCA := newCA(t, "server ca"), newCA(t, "client ca"), newCA(t, "another ca")
	sec := &secretDir{dir: t.TempDir()}
	cert, key, _ := serverCA.issue(t, "sidecar", false, nil)
	sec.update(t, map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": clientCA.pem})
	url := listenTLS(t, TLSFiles{CertFile: sec.path("tls.crt"), KeyFile: sec.path("tls.key"), ClientCAFile: sec.path("ca.crt")}, nil)

	clientConfig := func(ca *testCA) *tls.Config {
		c := &tls.Config{RootCAs: serverCA.pool()}
		if ca != nil {
			cp, kp, _ := ca.issue(t, "auditor", true, nil)
			pair, err := tls.X509KeyPair(cp, kp)
			if err != nil {
				t.Fatal(err)
			}
			c.Certificates = []tls.Certificate{pair}
		}
		return c
	}
	good, other := clientConfig(clientCA), clientConfig(otherCA)
	if _, err := fetch(url, good); err != nil {
		t.Fatalf("a client certificate from the client CA: %v", err)
	}
	for name, c := range map[string]*tls.Config{"no certificate": clientConfig(nil), "another CA's certificate": other} {
		if _, err := fetch(url, c); err == nil {
			t.Errorf("%s: served", name)
		}
	}

	// The client CA rotates (the other CA takes its place): the old
	// clients are refused, the new ones served, without a restart.
	sec.update(t, map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": otherCA.pem})
	waitFor(t, "the rotated client CA", func() bool { _, err := fetch(url, other); return err == nil })
	if _, err := fetch(url, good); err == nil {
		t.Error("a certificate of the replaced client CA is still served")
	}
}

func TestTLS_MinimumVersion(t *testing.T) {
	ca := newCA(t, "server ca")
	dir := t.TempDir()
	cert, key, _ := ca.issue(t, "sidecar", false, nil)
	writeFile(t, filepath.Join(dir, "c"), cert)
	writeFile(t, filepath.Join(dir, "k"), key)
	url := listenTLS(t, TLSFiles{CertFile: filepath.Join(dir, "c"), KeyFile: filepath.Join(dir, "k")}, nil)
	if _, err := fetch(url, &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if _, err := fetch(url, &tls.Config{RootCAs: ca.pool(), MinVersion: v, MaxVersion: v}); err != nil {
			t.Errorf("%s: %v", tls.VersionName(v), err)
		}
	}
}

func TestNewTLS_Errors(t *testing.T) {
	ca := newCA(t, "server ca")
	dir := t.TempDir()
	cert, key, _ := ca.issue(t, "sidecar", false, nil)
	_, otherKey, _ := ca.issue(t, "another", false, nil)
	p224Cert, p224Key, _ := ca.issue(t, "p-224", false, elliptic.P224())
	marker := []byte("-----BEGIN PRIVATE KEY-----\nU0VDUkVULU1BUktFUi1kbzNub3RsZWFr\n-----END PRIVATE KEY-----\n")
	files := map[string][]byte{
		"cert": cert, "key": key, "other.key": otherKey, "garbage.key": marker,
		"empty": nil, "ca": ca.pem, "p224.crt": p224Cert, "p224.key": p224Key,
	}
	for name, b := range files {
		writeFile(t, filepath.Join(dir, name), b)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name      string
		files     TLSFiles
		wantField string
	}{
		{"missing certificate", TLSFiles{CertFile: p("nope"), KeyFile: p("key")}, "cert_file"},
		{"missing key", TLSFiles{CertFile: p("cert"), KeyFile: p("nope")}, "key_file"},
		{"certificate file without a certificate", TLSFiles{CertFile: p("empty"), KeyFile: p("key")}, "cert_file"},
		{"key of another certificate", TLSFiles{CertFile: p("cert"), KeyFile: p("other.key")}, "key_file"},
		{"key file that is not a key", TLSFiles{CertFile: p("cert"), KeyFile: p("garbage.key")}, "key_file"},
		{"key given as the certificate", TLSFiles{CertFile: p("key"), KeyFile: p("key")}, "cert_file"},
		{"missing client CA", TLSFiles{CertFile: p("cert"), KeyFile: p("key"), ClientCAFile: p("nope")}, "client_ca_file"},
		{"client CA without a certificate", TLSFiles{CertFile: p("cert"), KeyFile: p("key"), ClientCAFile: p("empty")}, "client_ca_file"},
	}
	if os.Getuid() != 0 {
		writeFile(t, p("unreadable.key"), key)
		if err := os.Chmod(p("unreadable.key"), 0); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name      string
			files     TLSFiles
			wantField string
		}{"unreadable key", TLSFiles{CertFile: p("cert"), KeyFile: p("unreadable.key")}, "key_file"})
	}
	if fips140.Enabled() {
		tests = append(tests, struct {
			name      string
			files     TLSFiles
			wantField string
		}{"a P-224 key in FIPS mode", TLSFiles{CertFile: p("p224.crt"), KeyFile: p("p224.key")}, "cert_file"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			_, err := NewTLS(tc.files, zap.New(core))
			var fe *FileError
			if !errors.As(err, &fe) || fe.Field != tc.wantField {
				t.Fatalf("error %v, want a FileError of %s", err, tc.wantField)
			}
			for _, secret := range [][]byte{key, otherKey, marker, p224Key} {
				if bytes.Contains([]byte(err.Error()), secret) || strings.Contains(err.Error(), "U0VDUkVU") {
					t.Fatalf("the error holds key material: %v", err)
				}
			}
			requireNoKeyMaterial(t, logs, key, otherKey, marker)
		})
	}
	if !fips140.Enabled() {
		if _, err := NewTLS(TLSFiles{CertFile: p("p224.crt"), KeyFile: p("p224.key")}, nil); err != nil {
			t.Errorf("a P-224 certificate outside FIPS mode: %v", err)
		}
	}
}

func TestFIPSCertificate(t *testing.T) {
	ca := newCA(t, "ca")
	for _, tc := range []struct {
		curve elliptic.Curve
		want  bool
	}{{elliptic.P224(), false}, {elliptic.P256(), true}, {elliptic.P384(), true}, {elliptic.P521(), true}} {
		c, _, _ := ca.issue(t, "leaf", false, tc.curve)
		leaf, err := firstCertificate(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := fipsCertificate(leaf); got != tc.want {
			t.Errorf("%s: allowed %v, want %v", tc.curve.Params().Name, got, tc.want)
		}
	}
}

// afterTick waits until the file system's clock has moved past the last
// change of path, so that rewriting it in place gives it new times (file
// times advance in ticks of the kernel's clock).
func afterTick(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(t.TempDir(), "tick")
	waitFor(t, "the file clock to tick", func() bool {
		writeFile(t, probe, nil)
		pi, err := os.Stat(probe)
		return err == nil && pi.ModTime().After(fi.ModTime())
	})
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// requireNoKeyMaterial fails if a log entry holds any of the keys, or a
// base64 line of them.
func requireNoKeyMaterial(t *testing.T, logs *observer.ObservedLogs, keys ...[]byte) {
	t.Helper()
	for _, e := range logs.All() {
		var text strings.Builder
		text.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			text.WriteString(k)
			text.WriteString(fmtAny(v))
		}
		for _, key := range keys {
			for _, line := range bytes.Split(key, []byte("\n")) {
				if len(line) > 16 && !bytes.HasPrefix(line, []byte("-----")) && strings.Contains(text.String(), string(line)) {
					t.Fatalf("log entry %q holds key material", e.Message)
				}
			}
		}
	}
}

func fmtAny(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

package server

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// TLSFiles names the API listener's certificate chain, its private key and
// the optional CA of client certificates (PEM files).
type TLSFiles struct {
	CertFile, KeyFile, ClientCAFile string
}

// FileError is a TLS file that cannot be used. Field is "cert_file",
// "key_file" or "client_ca_file"; Err never holds key material.
type FileError struct {
	Field string
	Err   error
}

func (e *FileError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// TLS serves the files of a TLSFiles, reloaded when they change (see the
// package doc).
type TLS struct {
	files TLSFiles
	log   *zap.Logger

	mu      sync.Mutex
	current *tls.Config
	loaded  stamps // of the files current was read from
	failed  stamps // of the last set that did not load (logged once)
}

// NewTLS reads the files; an error is a *FileError. A nil logger logs
// nothing.
func NewTLS(files TLSFiles, log *zap.Logger) (*TLS, error) {
	if log == nil {
		log = zap.NewNop()
	}
	t := &TLS{files: files, log: log}
	st := t.stamp()
	cfg, err := t.load()
	if err != nil {
		return nil, err
	}
	t.current, t.loaded = cfg, st
	return t, nil
}

// Config is the tls.Config to serve with: each handshake gets the newest
// set of files that loaded.
func (t *TLS) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: t.configForClient}
}

func (t *TLS) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.stamp()
	if st == t.loaded || st == t.failed {
		return t.current, nil
	}
	cfg, err := t.load()
	if err != nil {
		t.failed = st
		t.log.Warn("tls files changed but do not load; serving the previous certificate", zap.Error(err))
		return t.current, nil
	}
	t.current, t.loaded, t.failed = cfg, st, stamps{}
	return t.current, nil
}

// maxTLSFile bounds what is read of a certificate, key or CA file: PEM
// bundles of a few hundred certificates are far below it.
const maxTLSFile = 4 << 20

// readTLSFile reads a regular file of at most maxTLSFile bytes: a device
// (/dev/zero), a FIFO or a folder named by mistake must fail the start,
// not hang it or fill the memory.
func readTLSFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTLSFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTLSFile {
		clear(b)
		return nil, fmt.Errorf("%s: larger than %d MiB", path, maxTLSFile>>20)
	}
	return b, nil
}

// load reads the files into a server config.
func (t *TLS) load() (*tls.Config, error) {
	certPEM, err := readTLSFile(t.files.CertFile)
	if err != nil {
		return nil, &FileError{"cert_file", err}
	}
	keyPEM, err := readTLSFile(t.files.KeyFile)
	if err != nil {
		return nil, &FileError{"key_file", err}
	}
	leaf, err := firstCertificate(certPEM)
	if err != nil {
		return nil, &FileError{"cert_file", err}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM)
	if err != nil {
		// crypto/tls names what it found (PEM block types, a mismatch),
		// never the bytes; the message is still replaced, to be sure.
		return nil, &FileError{"key_file", errors.New("does not hold the private key of the certificate in cert_file (PEM, PKCS#1, PKCS#8 or SEC 1)")}
	}
	if fips140.Enabled() && !fipsCertificate(leaf) {
		return nil, &FileError{"cert_file", errors.New("its key is not one FIPS 140-3 mode allows in TLS (RSA 2048 bits or more, ECDSA P-256, P-384 or P-521, Ed25519)")}
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		NextProtos:   []string{"http/1.1"},
	}
	sum := sha256.Sum256(leaf.Raw)
	fields := []zap.Field{zap.String("cert_sha256", hex.EncodeToString(sum[:])), zap.Time("not_after", leaf.NotAfter)}
	if t.files.ClientCAFile != "" {
		caPEM, err := readTLSFile(t.files.ClientCAFile)
		if err != nil {
			return nil, &FileError{"client_ca_file", err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, &FileError{"client_ca_file", errors.New("holds no PEM certificate")}
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.SessionTicketsDisabled = true
		fields = append(fields, zap.Bool("client_certificates_required", true))
	}
	t.log.Info("tls certificate loaded", fields...)
	return cfg, nil
}

// requireValidClient serves h only to a request whose client
// certificate is valid now against the client CA in force: the handshake
// checked it against the CA of its time, and a kept-alive connection
// outlives both a rotation of the CA and the certificate's expiry.
// Another request is 403 with Connection: close (the client's next
// connection is checked at its handshake).
func (t *TLS) requireValidClient(h http.Handler, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := t.verifyClient(r.TLS, time.Now()); err != nil {
			fields := []zap.Field{zap.String("remote", r.RemoteAddr), zap.Error(err)}
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				leaf := r.TLS.PeerCertificates[0]
				sum := sha256.Sum256(leaf.Raw)
				fields = append(fields, zap.String("cert_sha256", hex.EncodeToString(sum[:])), zap.Time("not_after", leaf.NotAfter))
			}
			log.Warn("client certificate no longer valid; connection closed", fields...)
			hd := w.Header()
			hd.Set("Connection", "close")
			hd.Set("Content-Type", "application/json")
			hd.Set("Cache-Control", "no-store")
			hd.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":"client certificate: not valid now (expired, or its CA is no longer trusted)"}`+"\n") //nolint:errcheck
			return
		}
		h.ServeHTTP(w, r)
	})
}

// verifyClient checks the client certificate of a connection against the
// client CA of the newest set of files that loaded (read again if they
// changed, as at a handshake) at time now.
func (t *TLS) verifyClient(cs *tls.ConnectionState, now time.Time) error {
	cfg, _ := t.configForClient(nil)
	if cfg.ClientCAs == nil {
		return nil
	}
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return errors.New("no client certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: cfg.ClientCAs, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err
}

// firstCertificate parses the first CERTIFICATE block of a PEM file.
func firstCertificate(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("holds no PEM certificate")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		return c, nil
	}
}

// fipsCertificate reports whether crypto/tls in FIPS 140-3 mode can
// serve a certificate with c's key (defaults_fips140.go in crypto/tls).
func fipsCertificate(c *x509.Certificate) bool {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return k.Curve == elliptic.P256() || k.Curve == elliptic.P384() || k.Curve == elliptic.P521()
	case ed25519.PublicKey:
		return true
	}
	return false
}

// stamps are the identities of the three files.
type stamps [3]fileStamp

func (t *TLS) stamp() stamps {
	return stamps{stampOf(t.files.CertFile), stampOf(t.files.KeyFile), stampOf(t.files.ClientCAFile)}
}

package inject

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// ServiceAccountDir is where the kubelet mounts a pod's ServiceAccount
// token, the cluster's CA and the pod's namespace.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// APIServerConfig locates the API server from inside a pod, as a client
// library's in-cluster config does, without one.
type APIServerConfig struct {
	Host      string // $KUBERNETES_SERVICE_HOST; required
	Port      string // $KUBERNETES_SERVICE_PORT; required
	TokenFile string // ServiceAccountDir/token
	CAFile    string // ServiceAccountDir/ca.crt
}

// APIServer creates events through the API server's REST API, over HTTPS
// with the pod's ServiceAccount token. It is an EventPoster.
type APIServer struct {
	base      string // https://host:port
	tokenFile string
	client    *http.Client
}

var _ EventPoster = (*APIServer)(nil)

// reasonRe is a Status reason worth repeating (Forbidden, NotFound): a
// word, not whatever the other end sent.
var reasonRe = lazyRegexp(`^[A-Za-z]{1,64}$`)

// maxTokenBytes bounds the token file read (a projected token is about
// 1 KiB).
const maxTokenBytes = 64 << 10

// NewAPIServer reads the CA and checks that the token can be read; the
// token is read again at every post, as the kubelet rotates it (a
// projected token lives an hour).
func NewAPIServer(cfg APIServerConfig) (*APIServer, error) {
	if cfg.Host == "" || cfg.Port == "" {
		return nil, errors.New("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT unset")
	}
	if cfg.TokenFile == "" {
		cfg.TokenFile = path.Join(ServiceAccountDir, "token")
	}
	if cfg.CAFile == "" {
		cfg.CAFile = path.Join(ServiceAccountDir, "ca.crt")
	}
	ca, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read the API server's CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("the API server's CA %s holds no PEM certificate", cfg.CAFile)
	}
	if _, err := readToken(cfg.TokenFile); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConns:        2,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &APIServer{
		base:      "https://" + net.JoinHostPort(cfg.Host, cfg.Port),
		tokenFile: cfg.TokenFile,
		client:    &http.Client{Transport: tr},
	}, nil
}

// readToken is the token in file, trimmed; its errors never hold it.
func readToken(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("read the ServiceAccount token: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("read the ServiceAccount token %s: %w", file, err)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case len(b) > maxTokenBytes:
		return "", fmt.Errorf("the ServiceAccount token %s is larger than %d bytes", file, maxTokenBytes)
	case tok == "":
		return "", fmt.Errorf("the ServiceAccount token %s is empty", file)
	case strings.ContainsAny(tok, " \t\r\n"):
		return "", fmt.Errorf("the ServiceAccount token %s holds blanks", file)
	}
	return tok, nil
}

// Post creates ev in its namespace: POST
// /apis/events.k8s.io/v1/namespaces/NS/events. Any answer but 201 (or
// 200) is an error naming the status and the API's reason, never the
// token.
func (a *APIServer) Post(ctx context.Context, ev *Event) error {
	tok, err := readToken(a.tokenFile)
	if err != nil {
		return err
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode the event: %w", err)
	}
	u := a.base + "/apis/events.k8s.io/v1/namespaces/" + url.PathEscape(ev.Metadata.Namespace) + "/events"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post the event: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "audit-sidecar-injector")
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("post the event: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK {
		return nil
	}
	var st struct {
		Reason string `json:"reason"`
	}
	json.Unmarshal(answer, &st) //nolint:errcheck // the status code is the error
	if reasonRe().MatchString(st.Reason) {
		return fmt.Errorf("post the event: %s (%s)", resp.Status, st.Reason)
	}
	return fmt.Errorf("post the event: %s", resp.Status)
}

package e2e

import (
	"bytes"
	"crypto/elliptic"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"

	"github.com/fips-agents/audit-sidecar/inject"
)

// TestE2E_Inject_ReportsEvents starts `audit-sidecar inject` as in a pod:
// KUBERNETES_SERVICE_HOST and _PORT name an API server (a fake one, over
// TLS), the ServiceAccount folder holds its CA and a token. A pod of a
// ReplicaSet that cannot be injected is refused, and the API server gets
// a Warning event regarding the ReplicaSet, with the bearer token, that
// decodes strictly into events.k8s.io/v1; /metrics counts it sent; the
// token is in no log line.
func TestE2E_Inject_ReportsEvents(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.e2e-token-value.signature"
	events := make(chan *eventsv1.Event, 10)
	bad := make(chan string, 10)
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/events.k8s.io/v1/namespaces/agents/events" || r.Header.Get("Authorization") != "Bearer "+token {
			bad <- r.Method + " " + r.URL.Path
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var ev eventsv1.Event
		if strict, err := kjson.UnmarshalStrict(body, &ev); err != nil || len(strict) > 0 {
			bad <- string(body)
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		events <- &ev
		w.WriteHeader(http.StatusCreated)
		w.Write(body) //nolint:errcheck // test server
	}))
	defer api.Close()

	dir := t.TempDir()
	sa := filepath.Join(dir, "serviceaccount")
	if err := os.MkdirAll(sa, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(sa, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("token", []byte(token))
	write("ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}))
	ca := newCertAuthority(t, "webhook-ca")
	crt, key, _ := ca.issue(t, false, elliptic.P256())
	sec := &secretVolume{dir: filepath.Join(dir, "tls")}
	sec.update(t, map[string][]byte{"tls.crt": crt, "tls.key": key})

	host, port, _ := strings.Cut(strings.TrimPrefix(api.URL, "https://"), ":")
	cmd := exec.Command(bin, "inject", "--listen", "127.0.0.1:0",
		"--cert-file", sec.path("tls.crt"), "--key-file", sec.path("tls.key"),
		"--namespace", "audit-system", "--service-account-dir", sa)
	cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port)
	p := (&env{dir: dir}).startCmd(t, cmd)
	addr := p.listenLine(t, "webhook listening").Addr
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12}}}

	yes := true
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "support-bot-7d9f8c6b5-",
		Annotations:     map[string]string{inject.AnnotationInject: "true", inject.AnnotationFormat: "syslog"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "support-bot-7d9f8c6b5", UID: "rs-uid-1", Controller: &yes}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "a"}}}}
	raw, _ := json.Marshal(pod)
	body, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "u-1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Namespace: "agents", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	res, err := client.Post("https://"+addr+"/mutate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out admissionv1.AdmissionReview
	err = json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	if err != nil || out.Response == nil || out.Response.Allowed {
		t.Fatalf("review %+v, %v: want refused", out.Response, err)
	}

	var ev *eventsv1.Event
	waitFor(t, "the event at the API server", func() bool {
		select {
		case ev = <-events:
			return true
		case b := <-bad:
			t.Fatalf("the API server got %s", b)
		default:
		}
		return false
	})
	if ev.Regarding.Kind != "ReplicaSet" || ev.Regarding.UID != "rs-uid-1" || ev.Type != "Warning" || ev.Reason != "InjectionFailed" ||
		ev.ReportingInstance == "" || !strings.Contains(ev.Note, inject.AnnotationFormat) {
		t.Errorf("event %+v", ev)
	}
	waitFor(t, "the sent event in /metrics", func() bool {
		res, err := client.Get("https://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		m, _ := io.ReadAll(res.Body)
		return strings.Contains(string(m), `audit_inject_events_total{result="sent"} 1`)
	})
	p.stop(t)
	if strings.Contains(p.stderr(), token) || strings.Contains(p.stderr(), "e2e-token-value") {
		t.Error("the token is in the log")
	}
}

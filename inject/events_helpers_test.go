package inject

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	eventsv1 "k8s.io/api/events/v1"
	kjson "sigs.k8s.io/json"
)

// fakeAPIServer is an API server over TLS that takes events.k8s.io/v1
// Events: it checks the path, the bearer token and the body (decoded
// strictly into the k8s.io/api type and checked as the API server's
// validation does), and answers with its status, after its gate opens
// when it has one.
type fakeAPIServer struct {
	t      *testing.T
	srv    *httptest.Server
	dir    string // holds the token and the CA
	status int    // the answer; 201 unless set

	mu     sync.Mutex
	token  string // the token it accepts
	gate   chan struct{}
	events chan *eventsv1.Event // each valid event received
	asked  chan struct{}        // a request arrived (before the gate)
	errs   []string
}

func newFakeAPIServer(t *testing.T) *fakeAPIServer {
	t.Helper()
	f := &fakeAPIServer{t: t, dir: t.TempDir(), status: http.StatusCreated,
		events: make(chan *eventsv1.Event, 1000), asked: make(chan struct{}, 1000)}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	// Posts cut by their timeout end in handshake errors: not the test's.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(func() {
		f.open()
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, e := range f.errs {
			t.Error(e)
		}
	})
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(f.dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	f.setToken("tok-" + strings.Repeat("a1", 20))
	return f
}

// setToken writes the token file, as the kubelet does when it rotates
// it, and makes the server accept that token only.
func (f *fakeAPIServer) setToken(tok string) {
	f.mu.Lock()
	f.token = tok
	f.mu.Unlock()
	tmp := filepath.Join(f.dir, "token.tmp")
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(f.dir, "token")); err != nil {
		f.t.Fatal(err)
	}
}

// block makes every request wait until open.
func (f *fakeAPIServer) block() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
}

func (f *fakeAPIServer) open() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

func (f *fakeAPIServer) fail(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

var eventsPath = regexp.MustCompile(`^/apis/events\.k8s\.io/v1/namespaces/([a-z0-9-]+)/events$`)

func (f *fakeAPIServer) serve(w http.ResponseWriter, r *http.Request) {
	f.asked <- struct{}{}
	f.mu.Lock()
	gate, tok, status := f.gate, f.token, f.status
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	m := eventsPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || m == nil {
		f.fail("%s %s: not an event creation", r.Method, r.URL.Path)
		http.Error(w, "no", http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+tok {
		f.fail("an event posted without the current token")
		http.Error(w, `{"kind":"Status","reason":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		f.fail("Content-Type %q", r.Header.Get("Content-Type"))
	}
	body, _ := io.ReadAll(r.Body)
	var ev eventsv1.Event
	strict, err := kjson.UnmarshalStrict(body, &ev)
	if err != nil || len(strict) > 0 {
		f.fail("event %s: strict decode: %v %v", body, err, strict)
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	if problems := validateEvent(&ev, m[1]); len(problems) > 0 {
		f.fail("event %s: %s", body, strings.Join(problems, "; "))
		http.Error(w, "invalid", http.StatusUnprocessableEntity)
		return
	}
	if status == http.StatusCreated {
		f.events <- &ev
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status != http.StatusCreated {
		// An answer that repeats the request's token must not reach an error.
		fmt.Fprintf(w, `{"kind":"Status","reason":"Forbidden","message":"no for %s"}`, r.Header.Get("Authorization"))
		return
	}
	w.Write(body) //nolint:errcheck // the client is gone
}

// validateEvent checks what the API server's validation of an
// events.k8s.io/v1 Event creation checks.
func validateEvent(ev *eventsv1.Event, pathNS string) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	qualified := regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	subdomain := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	switch {
	case ev.APIVersion != "events.k8s.io/v1" || ev.Kind != "Event":
		bad("apiVersion %q kind %q", ev.APIVersion, ev.Kind)
	case ev.Namespace != pathNS:
		bad("namespace %q posted to %q", ev.Namespace, pathNS)
	case len(ev.Name) > 253 || !subdomain.MatchString(ev.Name):
		bad("name %q", ev.Name)
	case ev.Regarding.Namespace != "" && ev.Regarding.Namespace != ev.Namespace:
		bad("regarding.namespace %q", ev.Regarding.Namespace)
	case ev.EventTime.IsZero():
		bad("eventTime required")
	case !qualified.MatchString(ev.ReportingController):
		bad("reportingController %q", ev.ReportingController)
	case ev.ReportingInstance == "" || len(ev.ReportingInstance) > 128:
		bad("reportingInstance %q", ev.ReportingInstance)
	case ev.Action == "" || len(ev.Action) > 128, ev.Reason == "" || len(ev.Reason) > 128:
		bad("action %q reason %q", ev.Action, ev.Reason)
	case len(ev.Note) > 1024:
		bad("note of %d bytes", len(ev.Note))
	case ev.Type != "Warning" && ev.Type != "Normal":
		bad("type %q", ev.Type)
	case ev.Series != nil && (ev.Series.Count < 2 || ev.Series.LastObservedTime.IsZero()):
		bad("series %+v", ev.Series)
	case ev.Regarding.Kind == "" || ev.Regarding.Name == "":
		bad("regarding %+v", ev.Regarding)
	}
	return p
}

// poster is an APIServer for f.
func (f *fakeAPIServer) poster() *APIServer {
	f.t.Helper()
	host, port, _ := strings.Cut(strings.TrimPrefix(f.srv.URL, "https://"), ":")
	a, err := NewAPIServer(APIServerConfig{Host: host, Port: port,
		TokenFile: filepath.Join(f.dir, "token"), CAFile: filepath.Join(f.dir, "ca.crt")})
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// next is the next event received.
func (f *fakeAPIServer) next() *eventsv1.Event {
	f.t.Helper()
	select {
	case ev := <-f.events:
		return ev
	case <-time.After(30 * time.Second):
		f.t.Fatal("no event received")
		return nil
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// counts are the Recorder's counters.
type counts struct{ sent, failed, dropped, aggregated float64 }

func (r *Recorder) counts() counts {
	v := func(c prometheus.Counter) float64 {
		var m dto.Metric
		if err := c.Write(&m); err != nil {
			panic(err)
		}
		return m.GetCounter().GetValue()
	}
	return counts{v(r.m.sent), v(r.m.failed), v(r.m.dropped), v(r.m.aggregated)}
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startRecorder runs a Recorder posting to f until the test ends.
func startRecorder(t *testing.T, p EventPoster, cfg RecorderConfig) *Recorder {
	t.Helper()
	if cfg.Instance == "" {
		cfg.Instance = "audit-sidecar-injector-5f7c9d-x2x9q"
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	r, err := NewRecorder(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }() //nolint:errcheck // Run returns nil
	t.Cleanup(func() { cancel(); <-done })
	return r
}

package inject

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

// unfit is an agent pod the injector cannot inject: an unknown format.
func unfit() *corev1.Pod {
	p := agentPod()
	p.Annotations[AnnotationFormat] = "syslog"
	return p
}

// handlerWith is the webhook's handler reporting to r.
func handlerWith(t *testing.T, o Options, r *Recorder) *Handler {
	t.Helper()
	h, err := NewHandler(o, nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sameAnswer checks that resp is what the handler answers without
// events for pod.
func sameAnswer(t *testing.T, o Options, pod *corev1.Pod, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	want := review(t, o, "agents", pod)
	if resp.Allowed != want.Allowed || string(resp.Patch) != string(want.Patch) || strings.Join(resp.Warnings, "|") != strings.Join(want.Warnings, "|") ||
		(resp.Result == nil) != (want.Result == nil) || resp.Result != nil && resp.Result.Message != want.Result.Message {
		t.Errorf("with events the answer is %+v, without %+v", resp, want)
	}
}

// TestEvents_RefusedPodIsReported: a pod of a ReplicaSet refused under
// Fail, and one admitted bare under Ignore, each give a Warning event
// regarding the ReplicaSet (UID and all), in the pod's namespace, posted
// with the ServiceAccount's token, that names the reason; the
// admission's answer is the one without events.
func TestEvents_RefusedPodIsReported(t *testing.T) {
	for _, tc := range []struct {
		policy FailurePolicy
		action string
	}{{Fail, ActionRefused}, {Ignore, ActionAdmitted}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			f := newFakeAPIServer(t)
			r := startRecorder(t, f.poster(), RecorderConfig{})
			o := testOpts
			o.FailurePolicy = tc.policy
			resp := reviewBy(t, handlerWith(t, o, r), "agents", unfit(), nil)
			sameAnswer(t, o, unfit(), resp)
			ev := f.next()
			owner := unfit().OwnerReferences[0]
			want := corev1.ObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "agents", Name: owner.Name, UID: owner.UID}
			if ev.Regarding != want {
				t.Errorf("regarding %+v, want %+v", ev.Regarding, want)
			}
			if ev.Namespace != "agents" || ev.Type != "Warning" || ev.Reason != ReasonInjectionFailed || ev.Action != tc.action ||
				ev.ReportingController != DefaultController || ev.ReportingInstance != "audit-sidecar-injector-5f7c9d-x2x9q" || ev.Series != nil {
				t.Errorf("event %+v", ev)
			}
			if !strings.Contains(ev.Note, AnnotationFormat) || !strings.Contains(ev.Note, "support-bot-7d9f8c6b5-*") {
				t.Errorf("note %q: want the pod and the annotation at fault", ev.Note)
			}
			if tc.policy == Ignore && !strings.Contains(ev.Note, "admitted without the audit sidecar") {
				t.Errorf("note %q: want what became of the pod", ev.Note)
			}
			waitFor(t, "the event counted as sent", func() bool { return r.counts().sent == 1 })
		})
	}
}

// TestEvents_RegardsWhatExists: a pod without a controller is regarded
// by its name, one with a generateName alone by its namespace; an owner
// that is not the controller is not regarded.
func TestEvents_RegardsWhatExists(t *testing.T) {
	named := unfit()
	named.OwnerReferences, named.GenerateName, named.Name = nil, "", "debug-shell"
	anonymous := unfit()
	anonymous.OwnerReferences = nil
	notController := unfit()
	notController.OwnerReferences[0].Controller = nil
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want corev1.ObjectReference
	}{
		{"named", named, corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "agents", Name: "debug-shell"}},
		{"generateName only", anonymous, corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: "agents"}},
		{"owner but no controller", notController, corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: "agents"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPIServer(t)
			r := startRecorder(t, f.poster(), RecorderConfig{})
			reviewBy(t, handlerWith(t, testOpts, r), "agents", tc.pod, nil)
			if ev := f.next(); ev.Regarding != tc.want || ev.Namespace != "agents" {
				t.Errorf("event in %q regarding %+v, want %+v", ev.Namespace, ev.Regarding, tc.want)
			}
		})
	}
}

// TestEvents_NoneForDryRunOrInjected: a dry run (kubectl apply
// --dry-run=server) reports nothing, nor does a pod injected or left
// alone; the first event the server gets is the real refusal's.
func TestEvents_NoneForDryRunOrInjected(t *testing.T) {
	f := newFakeAPIServer(t)
	r := startRecorder(t, f.poster(), RecorderConfig{})
	h := handlerWith(t, testOpts, r)
	yes := true
	dry := unfit()
	dry.Annotations[AnnotationMode] = "sidecar" // another note than the real one's
	if resp := reviewBy(t, h, "agents", dry, &yes); resp.Allowed {
		t.Fatal("dry run admitted")
	}
	reviewBy(t, h, "agents", agentPod(), nil)    // injected
	reviewBy(t, h, "audit-system", unfit(), nil) // the injector's namespace
	reviewBy(t, h, "agents", unfit(), nil)
	if ev := f.next(); strings.Contains(ev.Note, AnnotationMode) || !strings.Contains(ev.Note, AnnotationFormat) {
		t.Errorf("first event %q: want the real refusal's", ev.Note)
	}
}

// TestEvents_RepeatsAreAggregated: a ReplicaSet whose pods are refused
// over and over costs one event at once and, when the window ends, one
// more whose series counts them all; a quiet window forgets the key, and
// the next refusal starts over.
func TestEvents_RepeatsAreAggregated(t *testing.T) {
	f := newFakeAPIServer(t)
	clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	r := startRecorder(t, f.poster(), RecorderConfig{Now: clock.Now, Window: time.Hour})
	h := handlerWith(t, testOpts, r)
	for range 50 {
		reviewBy(t, h, "agents", unfit(), nil)
		clock.add(time.Second)
	}
	if ev := f.next(); ev.Series != nil || !ev.EventTime.Time.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("first event: series %+v at %v", ev.Series, ev.EventTime)
	}
	r.flush() // inside the window: nothing
	if c := r.counts(); c.aggregated != 49 {
		t.Errorf("counts %+v, want 49 aggregated", c)
	}
	clock.add(time.Hour)
	r.flush()
	ev := f.next() // had a repeat been posted, it would come first
	if ev.Series == nil || ev.Series.Count != 50 || !ev.Series.LastObservedTime.Time.Equal(time.Date(2026, 3, 1, 10, 0, 49, 0, time.UTC)) {
		t.Errorf("series %+v, want 50 last seen at 10:00:49", ev.Series)
	}
	// One more within the new window, then the window ends: counted in.
	reviewBy(t, h, "agents", unfit(), nil)
	clock.add(2 * time.Hour)
	r.flush()
	if ev := f.next(); ev.Series == nil || ev.Series.Count != 51 {
		t.Errorf("series %+v, want 51", ev.Series)
	}
	clock.add(2 * time.Hour)
	r.flush() // a quiet window: forgotten
	r.mu.Lock()
	left := len(r.keys)
	r.mu.Unlock()
	if left != 0 {
		t.Errorf("%d keys after a quiet window", left)
	}
	reviewBy(t, h, "agents", unfit(), nil)
	if ev := f.next(); ev.Series != nil {
		t.Errorf("after a quiet window: series %+v, want a new event", ev.Series)
	}
	// A different reason is another event, at once.
	other := unfit()
	other.Annotations[AnnotationMode] = "sidecar"
	reviewBy(t, h, "agents", other, nil)
	if ev := f.next(); !strings.Contains(ev.Note, AnnotationMode) {
		t.Errorf("note %q: want the other reason", ev.Note)
	}
}

// TestEvents_SlowAPIServer: while the API server holds a post, every
// admission is answered, as without events; the queue fills and what
// does not fit is dropped and counted; once the server answers, posts go
// on; when the recorder stops, no goroutine is left.
func TestEvents_SlowAPIServer(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // after the recorder and the server stop
	f := newFakeAPIServer(t)
	f.block()
	r := startRecorder(t, f.poster(), RecorderConfig{QueueSize: 4, PostTimeout: time.Hour})
	h := handlerWith(t, testOpts, r)
	reviewBy(t, h, "agents", agentPodNamed("held"), nil)
	<-f.asked // the post is held
	for i := range 20 {
		pod := agentPodNamed(fmt.Sprintf("p%d", i)) // distinct events
		sameAnswer(t, testOpts, pod, reviewBy(t, h, "agents", pod, nil))
	}
	if c := r.counts(); c.dropped != 16 || c.sent != 0 {
		t.Errorf("counts %+v: want 16 dropped (a queue of 4, one post held)", c)
	}
	f.open()
	waitFor(t, "the held and the queued posts", func() bool { return r.counts().sent == 5 })
}

// TestEvents_PostTimesOut: a post the API server never answers ends at
// PostTimeout, counted as failed, and the next one is made.
func TestEvents_PostTimesOut(t *testing.T) {
	f := newFakeAPIServer(t)
	f.block()
	r := startRecorder(t, f.poster(), RecorderConfig{PostTimeout: 50 * time.Millisecond})
	h := handlerWith(t, testOpts, r)
	reviewBy(t, h, "agents", agentPodNamed("one"), nil)
	waitFor(t, "the post to time out", func() bool { return r.counts().failed == 1 })
	f.open()
	reviewBy(t, h, "agents", agentPodNamed("two"), nil)
	for ev := f.next(); !strings.Contains(ev.Note, "two"); ev = f.next() {
		// The server may still take the post it held, once open.
	}
}

// agentPodNamed is unfit with a name and no owner.
func agentPodNamed(name string) *corev1.Pod {
	p := unfit()
	p.OwnerReferences, p.GenerateName, p.Name = nil, "", name
	return p
}

// TestEvents_APIServerRefusesOrIsDown: a 403 and a closed port are
// counted as failed posts, the error names neither the token nor what
// the server sent, and admissions are answered as without events.
func TestEvents_APIServerRefusesOrIsDown(t *testing.T) {
	t.Run("forbidden", func(t *testing.T) {
		f := newFakeAPIServer(t)
		f.status = http.StatusForbidden
		p := f.poster()
		r := startRecorder(t, p, RecorderConfig{})
		sameAnswer(t, testOpts, unfit(), reviewBy(t, handlerWith(t, testOpts, r), "agents", unfit(), nil))
		waitFor(t, "a failed post", func() bool { return r.counts().failed == 1 })
		err := p.Post(t.Context(), newEvent(ObjectRef{Kind: "Pod", Name: "p"}, "agents", DefaultController, "i", ActionRefused, "n", time.Now(), time.Now(), 1))
		if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), f.token) || strings.Contains(err.Error(), "no for") {
			t.Errorf("error %v: want the status, not the token nor the server's message", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		f := newFakeAPIServer(t)
		p := f.poster()
		f.srv.Close()
		r := startRecorder(t, p, RecorderConfig{})
		o := testOpts
		o.FailurePolicy = Ignore
		sameAnswer(t, o, unfit(), reviewBy(t, handlerWith(t, o, r), "agents", unfit(), nil))
		waitFor(t, "a failed post", func() bool { return r.counts().failed == 1 })
	})
}

// TestEvents_TokenIsReadAtEachPost: the kubelet rotates the token file;
// the next post carries the new token (the fake server refuses the old).
func TestEvents_TokenIsReadAtEachPost(t *testing.T) {
	f := newFakeAPIServer(t)
	r := startRecorder(t, f.poster(), RecorderConfig{})
	h := handlerWith(t, testOpts, r)
	reviewBy(t, h, "agents", agentPodNamed("one"), nil)
	f.next()
	f.setToken("tok-rotated-" + strings.Repeat("b2", 20))
	reviewBy(t, h, "agents", agentPodNamed("two"), nil)
	if ev := f.next(); !strings.Contains(ev.Note, "two") {
		t.Errorf("note %q", ev.Note)
	}
}

// TestEvents_DistinctKeysAreBounded: past MaxKeys distinct events within
// a window, more are dropped and counted, not remembered.
func TestEvents_DistinctKeysAreBounded(t *testing.T) {
	f := newFakeAPIServer(t)
	r := startRecorder(t, f.poster(), RecorderConfig{MaxKeys: 3, Window: time.Hour})
	for i := range 10 {
		r.Warn(ObjectRef{Kind: "Pod", Namespace: "agents", Name: "p" + string(rune('a'+i))}, "agents", ActionRefused, "n")
	}
	if c := r.counts(); c.dropped != 7 {
		t.Errorf("counts %+v, want 7 dropped", c)
	}
	for range 3 {
		f.next()
	}
}

// TestEvents_NameAndNoteFitTheAPI: the longest owner name and a note
// past the API's 1 KiB still make an event the API server accepts (the
// fake server validates names and sizes).
func TestEvents_NameAndNoteFitTheAPI(t *testing.T) {
	f := newFakeAPIServer(t)
	r := startRecorder(t, f.poster(), RecorderConfig{})
	long := strings.Repeat("a", 235) + "-" + strings.Repeat("b", 17) // cut after the dash
	r.Warn(ObjectRef{APIVersion: "batch/v1", Kind: "Job", Namespace: "agents", Name: long, UID: "u"}, "agents", ActionRefused, strings.Repeat("é", 2000))
	ev := f.next()
	if len(ev.Note) > 1024 || !regexp.MustCompile(`^a{235}\.[0-9a-f]{16}$`).MatchString(ev.Name) {
		t.Errorf("name %q note of %d bytes", ev.Name, len(ev.Note))
	}
}

// TestEvents_HostilePodStaysSmall: the webhook sees a pod before the API
// server validates it; one with a name and an owner of a megabyte each
// costs the recorder an event of bounded size.
func TestEvents_HostilePodStaysSmall(t *testing.T) {
	f := newFakeAPIServer(t)
	r := startRecorder(t, f.poster(), RecorderConfig{})
	h := handlerWith(t, testOpts, r)
	huge := unfit()
	huge.OwnerReferences[0].Name = strings.Repeat("r", 1<<20)
	huge.GenerateName = strings.Repeat("g", 1<<20)
	reviewBy(t, h, "agents", huge, nil)
	ev := f.next()
	if len(ev.Regarding.Name) > 253 || len(ev.Name) > 253 || len(ev.Note) > 1024 {
		t.Errorf("regarding %d bytes, name %d, note %d", len(ev.Regarding.Name), len(ev.Name), len(ev.Note))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.keys {
		if len(k.ref.Name) > 253 || len(k.note) > 1024 {
			t.Errorf("a key of %d+%d bytes", len(k.ref.Name), len(k.note))
		}
	}
}

// TestAPIServer_Config: outside a cluster, or without a readable CA or
// token, there is no poster, and the error never holds the token.
func TestAPIServer_Config(t *testing.T) {
	f := newFakeAPIServer(t)
	dir := t.TempDir()
	write := func(name, s string) string {
		p := dir + "/" + name
		if err := writeFile(p, s); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := f.dir + "/ca.crt"
	secret := "tok-secret-value-1234567890"
	for _, tc := range []struct {
		name string
		cfg  APIServerConfig
		want string
	}{
		{"not in a cluster", APIServerConfig{TokenFile: f.dir + "/token", CAFile: ca}, "not in a cluster"},
		{"no CA", APIServerConfig{Host: "h", Port: "1", TokenFile: f.dir + "/token", CAFile: dir + "/none"}, "CA"},
		{"CA not PEM", APIServerConfig{Host: "h", Port: "1", TokenFile: f.dir + "/token", CAFile: write("bad.crt", "x")}, "no PEM"},
		{"no token", APIServerConfig{Host: "h", Port: "1", TokenFile: dir + "/none", CAFile: ca}, "token"},
		{"empty token", APIServerConfig{Host: "h", Port: "1", TokenFile: write("empty", "\n"), CAFile: ca}, "empty"},
		{"token with blanks", APIServerConfig{Host: "h", Port: "1", TokenFile: write("blank", secret+" "+secret), CAFile: ca}, "blanks"},
		{"huge token", APIServerConfig{Host: "h", Port: "1", TokenFile: write("huge", strings.Repeat(secret, 4000)), CAFile: ca}, "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAPIServer(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) {
				t.Errorf("error %v, want one naming %q and not the token", err, tc.want)
			}
		})
	}
	if _, err := NewRecorder(f.poster(), RecorderConfig{}); err == nil {
		t.Error("a recorder without an instance")
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

// TestEvents_HostileNamesMakeValidEvents: the webhook sees a pod before
// the API server validates its name and owners; a name or owner that is
// no DNS subdomain (upper case, unicode, dots alone, a leading dash) still
// makes an event whose own name the API server accepts (the fake one
// checks it), regarding the object by the name it was given.
func TestEvents_HostileNamesMakeValidEvents(t *testing.T) {
	f := newFakeAPIServer(t)
	r := startRecorder(t, f.poster(), RecorderConfig{})
	h := handlerWith(t, testOpts, r)
	names := []string{"Agent_Pod", "ünïcode", "....", "-a-", strings.Repeat("é", 200), "a..b", "A", "x/../y", strings.Repeat("Z.", 200)}
	for _, n := range names {
		owned := unfit()
		owned.OwnerReferences[0].Name = n
		reviewBy(t, h, "agents", owned, nil)
		bare := unfit()
		bare.OwnerReferences, bare.GenerateName, bare.Name = nil, "", n
		reviewBy(t, h, "agents", bare, nil)
	}
	for range 2 * len(names) {
		ev := f.next()
		if ev.Regarding.Name == "" || len(ev.Regarding.Name) > 253 {
			t.Errorf("regarding %q", ev.Regarding.Name)
		}
	}
}

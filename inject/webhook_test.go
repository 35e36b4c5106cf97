package inject

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var testOpts = Options{Image: "registry.example/audit-sidecar:test", Namespace: "audit-system"}

// review sends pod through the handler's HTTP endpoint, as the API server
// does, and returns the response.
func review(t *testing.T, o Options, ns string, pod *corev1.Pod) *admissionv1.AdmissionResponse {
	t.Helper()
	h, err := NewHandler(o, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return reviewBy(t, h, ns, pod, nil)
}

// reviewBy is review by the handler h, dryRun set in the request.
func reviewBy(t *testing.T, h http.Handler, ns string, pod *corev1.Pod, dryRun *bool) *admissionv1.AdmissionResponse {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	in := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "req-1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}, DryRun: dryRun,
		},
	}
	body, _ := json.Marshal(in)
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Post(srv.URL+"/mutate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	body, err = io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out admissionv1.AdmissionReview
	decodeStrict(t, body, &out)
	if out.Response == nil || out.Response.UID != "req-1" || out.Kind != "AdmissionReview" {
		t.Fatalf("response %+v", out)
	}
	return out.Response
}

// patched applies resp's patch to pod and decodes the result strictly.
func patched(t *testing.T, pod *corev1.Pod, resp *admissionv1.AdmissionResponse) *corev1.Pod {
	t.Helper()
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v", resp.PatchType)
	}
	raw, _ := json.Marshal(pod)
	var out corev1.Pod
	decodeStrict(t, applyPatch(t, raw, resp.Patch), &out)
	return &out
}

// checkRestricted checks the fields Pod Security "restricted" and
// OpenShift's restricted-v2 require of a container, and that no UID or
// GID is fixed (restricted-v2 assigns one from the namespace's range).
func TestReview_LeftAlone(t *testing.T) {
	notAnnotated := agentPod()
	delete(notAnnotated.Annotations, AnnotationInject)
	falseAnnotated := agentPod()
	falseAnnotated.Annotations[AnnotationInject] = "yes"
	injected := patched(t, agentPod(), review(t, testOpts, "agents", agentPod()))
	byName := agentPod()
	byName.Spec.Containers = append(byName.Spec.Containers, corev1.Container{Name: ContainerName, Image: "x"})
	for _, tc := range []struct {
		name string
		ns   string
		pod  *corev1.Pod
	}{
		{"not annotated", "agents", notAnnotated},
		{"annotated other than true", "agents", falseAnnotated},
		{"already injected", "agents", injected},
		{"a container of the sidecar's name", "agents", byName},
		{"the injector's own namespace", "audit-system", agentPod()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := review(t, testOpts, tc.ns, tc.pod)
			if !resp.Allowed || resp.Patch != nil || resp.PatchType != nil || len(resp.Warnings) > 0 || resp.Result != nil {
				t.Errorf("want admitted unchanged, got %+v", resp)
			}
		})
	}
}

func TestReview_CannotInject(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(*corev1.Pod)
	}{
		{"unknown format", AnnotationFormat, func(p *corev1.Pod) { p.Annotations[AnnotationFormat] = "syslog" }},
		{"relative log path", AnnotationLogPath, func(p *corev1.Pod) { p.Annotations[AnnotationLogPath] = "logs" }},
		{"root log path", AnnotationLogPath, func(p *corev1.Pod) { p.Annotations[AnnotationLogPath] = "/" }},
		{"log file with a slash", AnnotationLogFile, func(p *corev1.Pod) { p.Annotations[AnnotationLogFile] = "../x" }},
		{"log file expanding a variable", AnnotationLogFile, func(p *corev1.Pod) { p.Annotations[AnnotationLogFile] = "${HOME}.jsonl" }},
		{"log file breaking the YAML", AnnotationLogFile, func(p *corev1.Pod) { p.Annotations[AnnotationLogFile] = "x\"\nchain: {id: other}" }},
		{"bad mode", AnnotationMode, func(p *corev1.Pod) { p.Annotations[AnnotationMode] = "sidecar" }},
		{"bad chain id", AnnotationChainID, func(p *corev1.Pod) { p.Annotations[AnnotationChainID] = "a b" }},
		{"chain id starting with a dot", AnnotationChainID, func(p *corev1.Pod) { p.Annotations[AnnotationChainID] = ".a" }},
		{"chain id too long", AnnotationChainID, func(p *corev1.Pod) { p.Annotations[AnnotationChainID] = strings.Repeat("a", 129) }},
		{"chain id too long with the pod's name", AnnotationChainID, func(p *corev1.Pod) {
			p.Annotations[AnnotationChainID] = strings.Repeat("a", 110) + "." + PodNameVar
		}},
		{"chain id with another variable", AnnotationChainID, func(p *corev1.Pod) { p.Annotations[AnnotationChainID] = "a.${HOME}" }},
		{"bad secret name", AnnotationKeySecret, func(p *corev1.Pod) { p.Annotations[AnnotationKeySecret] = "Keys!" }},
		{"bad env secret name", AnnotationEnvSecret, func(p *corev1.Pod) { p.Annotations[AnnotationEnvSecret] = "Env!" }},
		{"no such container", AnnotationContainer, func(p *corev1.Pod) { p.Annotations[AnnotationContainer] = "worker" }},
		{"volume name taken", `"audit-sidecar-log" already exists`, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: VolumeLog})
		}},
		{"log path already mounted", "already mounted", func(p *corev1.Pod) { p.Annotations[AnnotationLogPath] = "/cache/agent" }},
		{"admin port taken", "the sidecar's admin port", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: DefaultAdminPort}}
		}},
		{"root pod", "runAsUser: 0", func(p *corev1.Pod) {
			root := int64(0)
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &root}
		}},
		{"pod on the node's network", "spec.hostNetwork", func(p *corev1.Pod) { p.Spec.HostNetwork = true }},
		{"Windows pod", `spec.os.name: "windows"`, func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: corev1.Windows} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := agentPod()
			tc.edit(pod)
			resp := review(t, testOpts, "agents", pod)
			if resp.Allowed || resp.Patch != nil || resp.Result == nil || resp.Result.Code != 422 ||
				!strings.Contains(resp.Result.Message, tc.want) || !strings.HasPrefix(resp.Result.Message, "cannot inject the audit sidecar: ") {
				t.Errorf("Fail policy: want refused naming %q, got allowed %v, patched %v, result %+v", tc.want, resp.Allowed, resp.Patch != nil, resp.Result)
			}
			ign := testOpts
			ign.FailurePolicy = Ignore
			resp = review(t, ign, "agents", pod)
			if !resp.Allowed || resp.Patch != nil || resp.Result != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], tc.want) {
				t.Errorf("Ignore policy: want admitted unchanged with a warning naming %q, got allowed %v, patched %v, warnings %q", tc.want, resp.Allowed, resp.Patch != nil, resp.Warnings)
			}
		})
	}
}

func TestHandler_RejectsWhatIsNotAReview(t *testing.T) {
	h, err := NewHandler(testOpts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{"{", 400}, {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, 400},
		{`"` + strings.Repeat("a", MaxReviewBytes) + `"`, 413},
		// No uid: the answer could name no request (the API server
		// refuses a response whose uid is not its request's), and no
		// event is posted for it.
		{`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"Pod","version":"v1"},"namespace":"agents","operation":"CREATE","object":{"metadata":{"name":"p","annotations":{"audit.fips-agents.io/inject":"true","audit.fips-agents.io/format":"x"}},"spec":{"containers":[{"name":"a"}]}}}}`, 400},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/mutate", strings.NewReader(tc.body)))
		if rec.Code != tc.want {
			t.Errorf("body %.20q: %d, want %d", tc.body, rec.Code, tc.want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/mutate", nil))
	if rec.Code != 405 {
		t.Errorf("GET /mutate: %d", rec.Code)
	}
}

func TestOptions_Validate(t *testing.T) {
	if errs := testOpts.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	errs := Options{Mode: "x", FailurePolicy: "Maybe", AdminPort: 70000, MemoryLimit: "lots"}.Validate()
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	for _, want := range []string{"mode:", "failure_policy:", "admin_port:", "namespace:", "memory_limit:"} {
		if !strings.Contains(strings.Join(all, "\n"), want) {
			t.Errorf("no %q in %q", want, all)
		}
	}
}

// A pod that is already restricted stays so: the sidecar adds nothing at
// the pod level and is restricted itself.
func TestReview_OnlyPodCreations(t *testing.T) {
	h, err := NewHandler(testOpts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(agentPod())
	for _, req := range []admissionv1.AdmissionRequest{
		{UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "agents", Operation: admissionv1.Update, Object: runtime.RawExtension{Raw: raw}},
		{UID: "2", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Namespace: "agents", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	} {
		if resp := reviewDirect(t, h, &req); !resp.Allowed || resp.Patch != nil || resp.UID != req.UID {
			t.Errorf("%s %s: %+v", req.Operation, req.Kind.Kind, resp)
		}
	}
	bad := admissionv1.AdmissionRequest{UID: "3", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "agents",
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(`{"spec":{"containers":"no"}}`)}}
	if resp := reviewDirect(t, h, &bad); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "not a pod") {
		t.Errorf("undecodable pod: %+v", resp)
	}
}

// reviewDirect calls h.Review with req, given and answered as the
// k8s.io/api types: req goes through its JSON, the response is decoded
// strictly.
func reviewDirect(t *testing.T, h *Handler, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var own AdmissionRequest
	if err := json.Unmarshal(raw, &own); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(h.Review(&own))
	if err != nil {
		t.Fatal(err)
	}
	var resp admissionv1.AdmissionResponse
	decodeStrict(t, out, &resp)
	return &resp
}

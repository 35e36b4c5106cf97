package inject

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
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
	h, err := NewHandler(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	in := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "req-1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
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
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
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

func TestReview_InjectsNativeSidecar(t *testing.T) {
	pod := agentPod()
	resp := review(t, testOpts, "agents", pod)
	if !resp.Allowed || len(resp.Warnings) > 0 {
		t.Fatalf("allowed %v, warnings %v", resp.Allowed, resp.Warnings)
	}
	got := patched(t, pod, resp)
	if len(got.Spec.Containers) != 1 || len(got.Spec.InitContainers) != 1 {
		t.Fatalf("containers %d, init containers %d", len(got.Spec.Containers), len(got.Spec.InitContainers))
	}
	c := got.Spec.InitContainers[0]
	if c.Name != ContainerName || c.Image != testOpts.Image {
		t.Errorf("container %q image %q", c.Name, c.Image)
	}
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("restartPolicy %v, want Always (native sidecar)", c.RestartPolicy)
	}
	if strings.Join(c.Args, " ") != "run --config /etc/audit-sidecar/config/config.yaml" {
		t.Errorf("args %q", c.Args)
	}
	checkRestricted(t, c.SecurityContext)
	checkProbes(t, c, DefaultAdminPort)
	if c.Resources.Requests.Cpu().String() != "50m" || c.Resources.Requests.Memory().String() != "64Mi" || c.Resources.Limits.Memory().String() != "256Mi" {
		t.Errorf("resources %+v", c.Resources)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	for name, want := range map[string]corev1.VolumeMount{
		VolumeLog:    {Name: VolumeLog, MountPath: MountLog, ReadOnly: true},
		VolumeSpool:  {Name: VolumeSpool, MountPath: MountSpool},
		VolumeConfig: {Name: VolumeConfig, MountPath: MountConfig, ReadOnly: true},
		VolumeKeys:   {Name: VolumeKeys, MountPath: MountKeys, ReadOnly: true},
	} {
		if !reflect.DeepEqual(mounts[name], want) {
			t.Errorf("sidecar mount %s = %+v, want %+v", name, mounts[name], want)
		}
	}
	agent := got.Spec.Containers[0]
	if n := len(agent.VolumeMounts); n != 2 || agent.VolumeMounts[0].Name != "cache" ||
		!reflect.DeepEqual(agent.VolumeMounts[1], corev1.VolumeMount{Name: VolumeLog, MountPath: "/var/log/agent"}) {
		t.Errorf("agent mounts %+v", agent.VolumeMounts)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range got.Spec.Volumes {
		vols[v.Name] = v
	}
	if len(got.Spec.Volumes) != 5 || vols["cache"].EmptyDir == nil {
		t.Errorf("volumes %+v", got.Spec.Volumes)
	}
	if vols[VolumeLog].EmptyDir == nil || vols[VolumeSpool].EmptyDir == nil {
		t.Errorf("log and spool volumes must be emptyDirs: %+v %+v", vols[VolumeLog], vols[VolumeSpool])
	}
	if s := vols[VolumeKeys].Secret; s == nil || s.SecretName != DefaultKeySecret || *s.DefaultMode != 0o444 || len(s.Items) != 2 {
		t.Errorf("keys volume %+v", vols[VolumeKeys])
	}
	d := vols[VolumeConfig].DownwardAPI
	if d == nil || len(d.Items) != 1 || d.Items[0].Path != ConfigFile ||
		d.Items[0].FieldRef.FieldPath != "metadata.annotations['audit.fips-agents.io/default-config']" {
		t.Fatalf("config volume %+v", vols[VolumeConfig])
	}
	if got.Annotations[AnnotationStatus] != StatusInjected {
		t.Errorf("status annotation %q", got.Annotations[AnnotationStatus])
	}
	cfg := got.Annotations[AnnotationDefaultConfig]
	for _, want := range []string{
		`path: "/var/run/audit-sidecar/log/*.jsonl"`, "format: native", "id: agents.support-bot\n",
		"key_file: /etc/audit-sidecar/keys/hmac.key", "signing_key_file: /etc/audit-sidecar/keys/signing.pem",
		"path: /var/lib/audit-sidecar/spool.db", "path: /var/lib/audit-sidecar/audit.db", `listen: ""`, "admin_listen: 0.0.0.0:9090",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("default config lacks %q:\n%s", want, cfg)
		}
	}
}

// checkRestricted checks the fields Pod Security "restricted" and
// OpenShift's restricted-v2 require of a container, and that no UID or
// GID is fixed (restricted-v2 assigns one from the namespace's range).
func checkRestricted(t *testing.T, sc *corev1.SecurityContext) {
	t.Helper()
	switch {
	case sc == nil:
		t.Fatal("no security context")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot must be true")
	case sc.RunAsUser != nil || sc.RunAsGroup != nil:
		t.Error("no UID or GID may be fixed")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem must be true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation must be false")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("privileged")
	case sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL":
		t.Errorf("capabilities %+v, want drop [ALL] only", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccompProfile %+v", sc.SeccompProfile)
	}
}

func checkProbes(t *testing.T, c corev1.Container, port int32) {
	t.Helper()
	if len(c.Ports) != 1 || c.Ports[0].Name != AdminPortName || c.Ports[0].ContainerPort != port {
		t.Fatalf("ports %+v", c.Ports)
	}
	for name, p := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{"startup": {c.StartupProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.StrVal != AdminPortName {
			t.Errorf("%s probe %+v, want GET %s on %s", name, p.probe, p.path, AdminPortName)
		}
	}
}

func TestReview_ClassicModeAndConfigMap(t *testing.T) {
	pod := agentPod()
	pod.Annotations[AnnotationMode] = "classic"
	pod.Annotations[AnnotationConfigMap] = "support-bot-audit"
	pod.Annotations[AnnotationKeySecret] = "support-bot-keys"
	pod.Annotations[AnnotationFormat] = "langchain"
	got := patched(t, pod, review(t, testOpts, "agents", pod))
	if len(got.Spec.InitContainers) != 0 || len(got.Spec.Containers) != 2 {
		t.Fatalf("init %d containers %d", len(got.Spec.InitContainers), len(got.Spec.Containers))
	}
	c := got.Spec.Containers[1]
	if c.Name != ContainerName || c.RestartPolicy != nil {
		t.Errorf("classic sidecar %q restartPolicy %v", c.Name, c.RestartPolicy)
	}
	checkRestricted(t, c.SecurityContext)
	for _, v := range got.Spec.Volumes {
		switch v.Name {
		case VolumeConfig:
			if v.ConfigMap == nil || v.ConfigMap.Name != "support-bot-audit" || v.DownwardAPI != nil {
				t.Errorf("config volume %+v", v)
			}
		case VolumeKeys:
			if v.Secret.SecretName != "support-bot-keys" {
				t.Errorf("keys volume %+v", v)
			}
		}
	}
	if _, ok := got.Annotations[AnnotationDefaultConfig]; ok {
		t.Error("a pod with its own ConfigMap got the default config too")
	}
}

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
		{"bad secret name", AnnotationKeySecret, func(p *corev1.Pod) { p.Annotations[AnnotationKeySecret] = "Keys!" }},
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := agentPod()
			tc.edit(pod)
			resp := review(t, testOpts, "agents", pod)
			if resp.Allowed || resp.Patch != nil || resp.Result == nil || resp.Result.Code != 422 ||
				!strings.Contains(resp.Result.Message, tc.want) || !strings.HasPrefix(resp.Result.Message, "cannot inject the audit sidecar: ") {
				t.Errorf("Fail policy: want refused naming %q, got %+v", tc.want, resp)
			}
			ign := testOpts
			ign.FailurePolicy = Ignore
			resp = review(t, ign, "agents", pod)
			if !resp.Allowed || resp.Patch != nil || resp.Result != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], tc.want) {
				t.Errorf("Ignore policy: want admitted unchanged with a warning naming %q, got %+v", tc.want, resp)
			}
		})
	}
}

func TestDefaultChainID(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"deployment through its replicaset", *agentPod(), "agents.support-bot"},
		{"statefulset", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "db", Controller: &yes}}}}, "agents.db"},
		{"generateName only", corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "batch-"}}, "agents.batch"},
		{"bare pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "one"}}, "agents.one"},
		{"odd characters", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a:b"}}, "agents.a-b"},
		{"nothing", corev1.Pod{}, ""},
	} {
		if got := defaultChainID(&tc.pod, "agents"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestHandler_RejectsWhatIsNotAReview(t *testing.T) {
	h, err := NewHandler(testOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{"{", 400}, {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, 400},
		{`"` + strings.Repeat("a", MaxReviewBytes) + `"`, 413},
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

func TestReview_SeveralContainers(t *testing.T) {
	pod := agentPod()
	pod.Spec.Containers = append([]corev1.Container{{Name: "proxy", Image: "p"}}, pod.Spec.Containers...)
	pod.Annotations[AnnotationContainer] = "agent"
	got := patched(t, pod, review(t, testOpts, "agents", pod))
	if len(got.Spec.Containers) != 2 || len(got.Spec.Containers[0].VolumeMounts) != 0 {
		t.Fatalf("the proxy got mounts: %+v", got.Spec.Containers)
	}
	m := got.Spec.Containers[1].VolumeMounts
	if len(m) != 2 || m[1].Name != VolumeLog || m[1].MountPath != "/var/log/agent" {
		t.Errorf("agent mounts %+v", m)
	}
}

// A pod that is already restricted stays so: the sidecar adds nothing at
// the pod level and is restricted itself.
func TestReview_RestrictedPodStaysRestricted(t *testing.T) {
	pod := agentPod()
	t1, f := true, false
	uid := int64(1000680000)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: &t1, RunAsUser: &uid, FSGroup: &uid,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &f,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	got := patched(t, pod, review(t, testOpts, "agents", pod))
	if !reflect.DeepEqual(got.Spec.SecurityContext, pod.Spec.SecurityContext) || !reflect.DeepEqual(got.Spec.Containers[0].SecurityContext, pod.Spec.Containers[0].SecurityContext) {
		t.Errorf("the pod's own security contexts changed")
	}
	checkRestricted(t, got.Spec.InitContainers[0].SecurityContext)
	for _, v := range got.Spec.Volumes {
		if v.HostPath != nil || v.Ephemeral != nil {
			t.Errorf("volume %s is of a type restricted forbids", v.Name)
		}
	}
}

func TestReview_OnlyPodCreations(t *testing.T) {
	h, err := NewHandler(testOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(agentPod())
	for _, req := range []admissionv1.AdmissionRequest{
		{UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "agents", Operation: admissionv1.Update, Object: runtime.RawExtension{Raw: raw}},
		{UID: "2", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Namespace: "agents", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	} {
		if resp := h.Review(&req); !resp.Allowed || resp.Patch != nil || resp.UID != req.UID {
			t.Errorf("%s %s: %+v", req.Operation, req.Kind.Kind, resp)
		}
	}
	bad := admissionv1.AdmissionRequest{UID: "3", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "agents",
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(`{"spec":{"containers":"no"}}`)}}
	if resp := h.Review(&bad); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "not a pod") {
		t.Errorf("undecodable pod: %+v", resp)
	}
}

package inject

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
	if len(c.Env) != 1 || c.Env[0].Name != "POD_NAME" || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("env %+v, want POD_NAME from metadata.name", c.Env)
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
		`path: "/var/run/audit-sidecar/log/*.jsonl"`, "format: native", `id: "agents.support-bot"` + "\n",
		"key_file: /etc/audit-sidecar/keys/hmac.key", "signing_key_file: /etc/audit-sidecar/keys/signing.pem",
		"path: /var/lib/audit-sidecar/spool.db", "path: /var/lib/audit-sidecar/audit.db", `listen: ""`, "admin_listen: 0.0.0.0:9090",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("default config lacks %q:\n%s", want, cfg)
		}
	}
}

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
	pod.Annotations[AnnotationEnvSecret] = "support-bot-audit-env"
	pod.Annotations[AnnotationFormat] = "langchain"
	got := patched(t, pod, review(t, testOpts, "agents", pod))
	if len(got.Spec.InitContainers) != 0 || len(got.Spec.Containers) != 2 {
		t.Fatalf("init %d containers %d", len(got.Spec.InitContainers), len(got.Spec.Containers))
	}
	c := got.Spec.Containers[1]
	if c.Name != ContainerName || c.RestartPolicy != nil {
		t.Errorf("classic sidecar %q restartPolicy %v", c.Name, c.RestartPolicy)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "support-bot-audit-env" ||
		c.EnvFrom[0].SecretRef.Optional != nil || c.EnvFrom[0].Prefix != "" || len(got.Spec.Containers[0].EnvFrom) != 0 {
		t.Errorf("envFrom of the sidecar %+v, of the agent %+v", c.EnvFrom, got.Spec.Containers[0].EnvFrom)
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
		{"long owner", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("n", 253)}}, "agents." + strings.Repeat("n", 121)},
	} {
		if got := defaultChainID(viewOf(t, &tc.pod), "agents"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
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

func TestReview_ChainIDOfThePodsName(t *testing.T) {
	pod := agentPod()
	pod.Annotations[AnnotationChainID] = "agents.support-bot." + PodNameVar
	got := patched(t, pod, review(t, testOpts, "agents", pod))
	if cfg := got.Annotations[AnnotationDefaultConfig]; !strings.Contains(cfg, `id: "agents.support-bot.${POD_NAME}"`+"\n") {
		t.Errorf("config:\n%s", cfg)
	}
}

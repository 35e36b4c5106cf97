package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/fips-agents/audit-sidecar/inject"
)

// docsObjects decodes every yaml block of docs/kubernetes.md strictly
// into the type of its kind (an unknown field, a misspelt key, an object
// of a kind not expected fail), by kind.
func docsObjects(t *testing.T) map[string]any {
	t.Helper()
	md, err := os.ReadFile("../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]any{}
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(md, -1) {
		var tm metav1.TypeMeta
		if err := sigsyaml.Unmarshal(m[1], &tm); err != nil {
			t.Fatalf("a yaml block: %v\n%s", err, m[1])
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 Secret":
			obj = &corev1.Secret{}
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		default:
			t.Fatalf("a yaml block of %s %s", tm.APIVersion, tm.Kind)
		}
		if err := sigsyaml.UnmarshalStrict(m[1], obj); err != nil {
			t.Fatalf("%s: %v", tm.Kind, err)
		}
		objs[tm.Kind] = obj
	}
	return objs
}

// TestDocs_KubernetesYAML: the objects docs/kubernetes.md shows are
// Kubernetes objects, and name each other as the injector reads them.
func TestDocs_KubernetesYAML(t *testing.T) {
	objs := docsObjects(t)
	sec, _ := objs["Secret"].(*corev1.Secret)
	cm, _ := objs["ConfigMap"].(*corev1.ConfigMap)
	dep, _ := objs["Deployment"].(*appsv1.Deployment)
	if sec == nil || cm == nil || dep == nil {
		t.Fatalf("docs/kubernetes.md shows %d objects, want a Secret, a ConfigMap and a Deployment", len(objs))
	}
	a := dep.Spec.Template.Annotations
	if a[inject.AnnotationConfigMap] != cm.Name || a[inject.AnnotationEnvSecret] != sec.Name || cm.Data[inject.ConfigFile] == "" {
		t.Errorf("the Deployment's annotations %v do not name the ConfigMap %q (with %s) and the Secret %q", a, cm.Name, inject.ConfigFile, sec.Name)
	}
}

// TestE2E_Kubernetes_DocsPostgres runs the binary as the sidecar the
// injector adds to a pod of docs/kubernetes.md's Deployment: its
// ConfigMap's config, its env Secret's DSN (pointing at the test's
// PostgreSQL), the keys Secret. The agent's lines reach PostgreSQL under
// the pod's chain, which verifies.
func TestE2E_Kubernetes_DocsPostgres(t *testing.T) {
	c := newPGCluster(t)
	c.start(t)
	objs := docsObjects(t)
	sec, cm, dep := objs["Secret"].(*corev1.Secret), objs["ConfigMap"].(*corev1.ConfigMap), objs["Deployment"].(*appsv1.Deployment)

	pod := &corev1.Pod{ObjectMeta: *dep.Spec.Template.ObjectMeta.DeepCopy(), Spec: *dep.Spec.Template.Spec.DeepCopy()}
	pod.GenerateName, pod.Namespace = dep.Name+"-7d9f8c6b5-", dep.Namespace
	yes := true
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: dep.Name + "-7d9f8c6b5", UID: "u", Controller: &yes}}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	res, err := inject.Mutate(raw, dep.Namespace, inject.Options{Namespace: "audit-system"})
	if err != nil || res.Pod == nil {
		t.Fatalf("Mutate: %v, %+v", err, res)
	}
	pod = &corev1.Pod{}
	d := json.NewDecoder(bytes.NewReader(res.Pod))
	d.DisallowUnknownFields()
	if err := d.Decode(pod); err != nil {
		t.Fatalf("the injected pod: %v", err)
	}
	var sidecar corev1.Container
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		if c.Name == inject.ContainerName {
			sidecar = c
		}
	}
	root := t.TempDir()
	signing, _ := signingKeys(t, root, "signing")
	signingPEM, err := os.ReadFile(signing)
	if err != nil {
		t.Fatal(err)
	}
	hmacKey := []byte("KEY-" + randHex(t, 32))
	dirs := podVolumes(t, root, pod, map[string][]byte{inject.HMACKeyFile: hmacKey, inject.SigningKeyFile: signingPEM},
		map[string][]byte{inject.ConfigFile: []byte(cm.Data[inject.ConfigFile])})
	mapped := inPod(sidecar, dirs)
	// The pod's paths become the folders; the admin port a free one.
	port := strconv.Itoa(int(freePort(t)))
	cfg := strings.Replace(mapped(cm.Data[inject.ConfigFile]), "0.0.0.0:9090", "127.0.0.1:"+port, 1)
	if !strings.Contains(cfg, "127.0.0.1:"+port) {
		t.Fatal("the docs' config has no admin listener on 0.0.0.0:9090")
	}
	cfgPath := filepath.Join(root, "config.yaml")
	writeFile(t, cfgPath, []byte(cfg))
	args := slices.Clone(sidecar.Args)
	for i, a := range args {
		if a == filepath.Join(inject.MountConfig, inject.ConfigFile) {
			args[i] = cfgPath
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"GODEBUG=fips140=on", "POD_NAME=" + podName}
	for _, ef := range sidecar.EnvFrom {
		if ef.SecretRef == nil || ef.SecretRef.Name != sec.Name {
			t.Fatalf("envFrom %+v is not the docs' Secret", ef)
		}
		for k := range sec.StringData {
			cmd.Env = append(cmd.Env, k+"="+c.dsn) // the docs' DSN, pointing here
		}
	}
	p := (&env{dir: root}).startCmd(t, cmd)
	agentLog := filepath.Join(dirs[inject.VolumeLog], "events.jsonl")
	appendLines(t, agentLog, pgEvents(0, 5))
	chain := "agents.support-bot." + podName
	pgWaitForEvents(t, c, chain, 5, p)
	p.stop(t)
	t.Setenv("POD_NAME", podName)
	t.Setenv("AUDIT_PG_DSN", c.dsn)
	requireValid(t, cfgPath)
	requireNoKeyMaterialIn(t, p.stderr(), hmacKey, signingPEM, []byte(c.dsn))
}

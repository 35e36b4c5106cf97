package e2e

import (
	"bytes"
	"crypto/elliptic"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/fips-agents/audit-sidecar/inject"
)

// podVolumes lays out a rendered pod's volumes as folders under root, the
// way the kubelet would: emptyDirs empty, a downward API file with the
// pod's annotation, a Secret's (secret) or a ConfigMap's (configMap) keys
// in a projected folder with the volume's mode. It returns the folder of
// each volume.
func podVolumes(t *testing.T, root string, pod *corev1.Pod, secret, configMap map[string][]byte) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(root, "volumes", v.Name)
		dirs[v.Name] = dir
		files := map[string][]byte{}
		var mode os.FileMode
		switch {
		case v.EmptyDir != nil:
			if err := os.MkdirAll(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			continue
		case v.DownwardAPI != nil:
			for _, it := range v.DownwardAPI.Items {
				key := strings.TrimSuffix(strings.TrimPrefix(it.FieldRef.FieldPath, "metadata.annotations['"), "']")
				files[it.Path] = []byte(pod.Annotations[key])
			}
			mode = os.FileMode(*v.DownwardAPI.DefaultMode)
		case v.ConfigMap != nil:
			for _, it := range v.ConfigMap.Items {
				files[it.Path] = configMap[it.Key]
			}
			mode = os.FileMode(*v.ConfigMap.DefaultMode)
		case v.Secret != nil:
			optional := v.Secret.Optional != nil && *v.Secret.Optional
			for _, it := range v.Secret.Items {
				if b, ok := secret[it.Key]; ok || !optional { // an optional key missing is skipped
					files[it.Path] = b
				}
			}
			mode = os.FileMode(*v.Secret.DefaultMode)
		default:
			t.Fatalf("volume %s: no folder layout for its type", v.Name)
		}
		(&secretVolume{dir: dir}).update(t, files)
		err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			switch {
			case err != nil || fi.Mode()&os.ModeSymlink != 0:
				return err
			case fi.IsDir():
				return os.Chmod(p, 0o555)
			}
			return os.Chmod(p, mode)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error { //nolint:errcheck // cleanup
				if err == nil && fi.IsDir() {
					os.Chmod(p, 0o755) //nolint:errcheck // cleanup
				}
				return nil
			})
		})
	}
	return dirs
}

// inPod maps the sidecar container's mount paths to the volumes' folders:
// fn(s) is s with each mount path replaced by its folder.
func inPod(c corev1.Container, dirs map[string]string) func(string) string {
	mounts := slices.Clone(c.VolumeMounts)
	slices.SortFunc(mounts, func(a, b corev1.VolumeMount) int { return len(b.MountPath) - len(a.MountPath) })
	var pairs []string
	for _, m := range mounts {
		pairs = append(pairs, m.MountPath, dirs[m.Name])
	}
	return strings.NewReplacer(pairs...).Replace
}

func freePort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// TestE2E_Kubernetes_InjectedPodRuns renders a pod through the injector
// and runs the binary as its sidecar container would run: the container's
// args and the image's environment, the config the pod's downward API
// volume holds, the keys of its Secret mounted read-only, the log and
// spool emptyDirs as folders. The kubelet's probes (the container's own
// paths and port) answer, and a line the agent writes into its mount of
// the shared volume is stored in the in-pod SQLite sink. Restarted after
// kill -9 with hmac.key gone from the Secret, the sidecar goes on from
// the epoch key file, and verify with the key kept offline says valid.
func TestE2E_Kubernetes_InjectedPodRuns(t *testing.T) {
	// The names become folder names in the config's YAML: no commas.
	t.Run("native-default-config", func(t *testing.T) { runInjectedPod(t, "native", false, "", "agents.support-bot") })
	t.Run("classic-config-map", func(t *testing.T) { runInjectedPod(t, "classic", true, "", "agents.support-bot") })
	t.Run("chain-of-the-pods-name", func(t *testing.T) {
		runInjectedPod(t, "native", false, "agents.support-bot."+inject.PodNameVar, "agents.support-bot."+podName)
	})
}

// podName is the name the API server gives the pod after its admission.
const podName = "support-bot-7d9f8c6b5-x2x7q"

func runInjectedPod(t *testing.T, mode string, withConfigMap bool, chainAnnotation, wantChain string) {
	port := freePort(t)
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "support-bot-7d9f8c6b5-", Namespace: "agents",
			Labels:          map[string]string{"pod-template-hash": "7d9f8c6b5"},
			Annotations:     map[string]string{inject.AnnotationInject: "true", inject.AnnotationLogPath: "/var/log/agent"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "support-bot-7d9f8c6b5", UID: "u", Controller: &yes}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "registry.example/support-bot:1.4"}}},
	}
	pod.Annotations[inject.AnnotationMode] = mode
	if chainAnnotation != "" {
		pod.Annotations[inject.AnnotationChainID] = chainAnnotation
	}
	configMap := map[string][]byte{}
	if withConfigMap {
		// As deploy/examples/pod-classic.yaml's ConfigMap.
		pod.Annotations[inject.AnnotationConfigMap] = "support-bot-audit"
		configMap[inject.ConfigFile] = []byte(inject.Render("agents.support-bot", "native", inject.DefaultLogFile, port))
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	res, err := inject.Mutate(raw, "agents", inject.Options{Namespace: "audit-system", AdminPort: port})
	if err != nil || res.Pod == nil {
		t.Fatalf("Mutate: %v, %+v", err, res)
	}
	// The injected pod is a pod: decoded strictly into the API's type.
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
	dirs := podVolumes(t, root, pod, map[string][]byte{inject.HMACKeyFile: hmacKey, inject.SigningKeyFile: signingPEM}, configMap)
	os.Remove(signing)
	mapped := inPod(sidecar, dirs)

	// The config in the downward API or ConfigMap file names the pod's paths; the
	// process reads a copy that names the folders instead (and nothing
	// else differs).
	cfgInPod := filepath.Join(dirs[inject.VolumeConfig], inject.ConfigFile)
	cfg, err := os.ReadFile(cfgInPod)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(root, "config.yaml")
	writeFile(t, cfgPath, []byte(mapped(string(cfg))))
	args := slices.Clone(sidecar.Args)
	for i, a := range args {
		if a == filepath.Join(inject.MountConfig, inject.ConfigFile) {
			args[i] = cfgPath
		} else {
			args[i] = mapped(a)
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"GODEBUG=fips140=on"} // the image's ENV; the container sets none
	for _, e := range sidecar.Env {
		v := e.Value
		if e.ValueFrom != nil {
			if e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				t.Fatalf("env %s: no value for %+v in this test", e.Name, e.ValueFrom)
			}
			v = podName
		}
		cmd.Env = append(cmd.Env, e.Name+"="+v)
	}
	p := (&env{dir: root}).startCmd(t, cmd)

	probe := func(pr *corev1.Probe) int {
		if pr.HTTPGet.Port.StrVal != sidecar.Ports[0].Name {
			t.Fatalf("probe port %v is not the admin port", pr.HTTPGet.Port)
		}
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", sidecar.Ports[0].ContainerPort, pr.HTTPGet.Path))
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, res.Body) //nolint:errcheck // drained
		res.Body.Close()
		return res.StatusCode
	}
	for name, pr := range map[string]*corev1.Probe{"startup": sidecar.StartupProbe, "liveness": sidecar.LivenessProbe, "readiness": sidecar.ReadinessProbe} {
		waitFor(t, name+" probe "+pr.HTTPGet.Path+" to pass", func() bool {
			if p.exited() {
				t.Fatalf("the sidecar exited (%v):\n%s", p.state, p.stderr())
			}
			return probe(pr) == http.StatusOK
		})
	}

	// The agent writes into its own mount of the shared volume.
	var agentDir string
	for _, m := range pod.Spec.Containers[0].VolumeMounts { // the agent
		if m.MountPath == "/var/log/agent" {
			agentDir = dirs[m.Name]
		}
	}
	if agentDir == "" {
		t.Fatal("the agent has no mount at its log path")
	}
	appendLines(t, filepath.Join(agentDir, "events.jsonl"), event(map[string]any{
		"ts": "2026-11-26T10:00:00Z", "action": "tool_call", "tool": "payments.refund", "n": 0,
		"arguments": map[string]any{"email": "dana@example.com"},
	}))
	db := openDB(t, filepath.Join(dirs[inject.VolumeSpool], "audit.db"))
	waitForEvents(t, db, 1, p)
	var chain, args0 string
	if err := db.QueryRow(`SELECT chain, json_extract(payload, '$.arguments') FROM audit_records
		WHERE json_extract(payload, '$.detail.n') = 0`).Scan(&chain, &args0); err != nil {
		t.Fatal(err)
	}
	if chain != wantChain || strings.Contains(args0, "dana@example.com") {
		t.Errorf("stored chain %q arguments %s", chain, args0)
	}

	// The kubelet restarts a sidecar that died, on the same volumes: the
	// chain goes on, from the epoch key file now that the operator took
	// hmac.key out of the (optional) Secret and keeps it offline.
	p.kill9(t)
	keys := &secretVolume{dir: dirs[inject.VolumeKeys], version: 1}
	keys.update(t, map[string][]byte{inject.SigningKeyFile: signingPEM})
	if err := os.Remove(keys.path(inject.HMACKeyFile)); err != nil { // as the kubelet does
		t.Fatal(err)
	}
	again := exec.Command(bin, args...)
	again.Env = cmd.Env
	p = (&env{dir: root, runs: 1}).startCmd(t, again)
	appendLines(t, filepath.Join(agentDir, "events.jsonl"), event(map[string]any{"ts": "2026-11-26T10:00:01Z", "action": "decision", "n": 1}))
	waitForEvents(t, db, 2, p)
	p.stop(t)
	t.Setenv("POD_NAME", podName) // verify in the container has its environment
	offline := filepath.Join(root, "offline-hmac.key")
	writeFile(t, offline, hmacKey)
	verifyCfg := filepath.Join(root, "verify.yaml")
	writeFile(t, verifyCfg, []byte(strings.Replace(mapped(string(cfg)), keys.path(inject.HMACKeyFile), offline, 1)))
	requireValid(t, verifyCfg)
	requireNoKeyMaterialIn(t, p.stderr(), hmacKey, signingPEM)

	// What the sidecar mounts read-only it left as it was (the test runs
	// as root, for whom modes do not forbid writing).
	for name, want := range map[string][]string{
		inject.VolumeLog:    {"events.jsonl"},
		inject.VolumeConfig: {"..2026_11_26_10_00_01.1", "..data", inject.ConfigFile},
		inject.VolumeKeys:   {"..2026_11_26_10_00_02.2", "..data", inject.SigningKeyFile},
	} {
		ents, err := os.ReadDir(dirs[name])
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if !slices.Equal(got, want) {
			t.Errorf("volume %s holds %q, want %q", name, got, want)
		}
	}
}

// TestE2E_Inject_ServesAdmissionReviews starts `audit-sidecar inject`
// over HTTPS, with its certificate in a Secret projected as the kubelet
// does, and sends it AdmissionReviews as the API server would; the
// certificate replaced in the Secret is served to the next connection.
func TestE2E_Inject_ServesAdmissionReviews(t *testing.T) {
	dir := t.TempDir()
	ca := newCertAuthority(t, "webhook-ca")
	crt, key, serial1 := ca.issue(t, false, elliptic.P256())
	sec := &secretVolume{dir: filepath.Join(dir, "tls")}
	sec.update(t, map[string][]byte{"tls.crt": crt, "tls.key": key})
	p := (&env{dir: dir}).startCmd(t, exec.Command(bin, "inject", "--listen", "127.0.0.1:0",
		"--cert-file", sec.path("tls.crt"), "--key-file", sec.path("tls.key"),
		"--image", "registry.example/audit-sidecar:1", "--namespace", "audit-system"))
	addr := p.listenLine(t, "webhook listening").Addr
	serving := func() *big.Int {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12}}}
		res, err := c.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /healthz: %d", res.StatusCode)
		}
		return res.TLS.PeerCertificates[0].SerialNumber
	}
	if got := serving(); got.Cmp(serial1) != 0 {
		t.Fatalf("serial %v, want %v", got, serial1)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12}}}

	send := func(ns string, annotations map[string]string) *admissionv1.AdmissionResponse {
		t.Helper()
		raw, _ := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent-1", Annotations: annotations},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "a"}}}})
		body, _ := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "u-1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
		})
		res, err := client.Post("https://"+addr+"/mutate", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out admissionv1.AdmissionReview
		d := json.NewDecoder(res.Body)
		d.DisallowUnknownFields()
		if err := d.Decode(&out); err != nil || out.Response == nil || out.Response.UID != "u-1" {
			t.Fatalf("status %d, review %+v, %v", res.StatusCode, out, err)
		}
		return out.Response
	}
	on := map[string]string{inject.AnnotationInject: "true"}
	if r := send("agents", on); !r.Allowed || len(r.Patch) == 0 || !bytes.Contains(r.Patch, []byte(`"image":"registry.example/audit-sidecar:1"`)) {
		t.Errorf("annotated pod: %+v", r)
	}
	if r := send("audit-system", on); !r.Allowed || r.Patch != nil {
		t.Errorf("own namespace: %+v", r)
	}
	if r := send("agents", map[string]string{inject.AnnotationInject: "true", inject.AnnotationFormat: "syslog"}); r.Allowed || r.Result == nil ||
		!strings.Contains(r.Result.Message, inject.AnnotationFormat) {
		t.Errorf("bad annotation: %+v", r)
	}
	crt2, key2, serial2 := ca.issue(t, false, elliptic.P256())
	sec.update(t, map[string][]byte{"tls.crt": crt2, "tls.key": key2})
	if got := serving(); got.Cmp(serial2) != 0 {
		t.Errorf("after the Secret's update: serial %v, want %v", got, serial2)
	}
	p.stop(t)
	requireNoKeyMaterialIn(t, p.stderr(), key, key2)
}

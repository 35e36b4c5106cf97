package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fips-agents/audit-sidecar/inject"
)

// TestE2E_Kubernetes_KeyLifecycle runs the binary as an injected pod's
// sidecar (config from the pod's ConfigMap, keys from its Secret, spool on
// its emptyDir; the sink outlives the pod, as a central one does) through
// the key's life in a pod:
//
//   - the first start with the key Secret mounted stores records and
//     writes the epoch key file on the spool volume;
//   - a start with the Secret's folder empty (an optional Secret volume
//     whose Secret was removed) continues the chain from the epoch key
//     file; verify, with the key of epoch 1 kept offline, says valid;
//   - the spool volume lost (a reschedule) with the Secret gone: exit 2
//     and one line naming chain.key_file and what to do;
//   - the spool volume lost with the Secret back: the chain continues from
//     the sink, with a gap record, and verifies;
//   - the Secret's key replaced: a key_rotation record, and verify valid
//     with the new key and the old one as chain.previous_key_files.
func TestE2E_Kubernetes_KeyLifecycle(t *testing.T) {
	port := freePort(t)
	root := t.TempDir()
	central := filepath.Join(root, "central", "audit.db")
	if err := os.MkdirAll(filepath.Dir(central), 0o755); err != nil {
		t.Fatal(err)
	}
	// The operator's config in the pod's ConfigMap: the pod's paths, a
	// sink outside the pod, no signing key (it would have to stay mounted).
	cfgYAML := `source:
  path: "` + filepath.Join(inject.MountLog, inject.DefaultLogFile) + `"
  format: native
  start_at: beginning
chain:
  id: agents.support-bot
  key_file: ` + filepath.Join(inject.MountKeys, inject.HMACKeyFile) + `
  epoch: 200ms
spool:
  path: ` + filepath.Join(inject.MountSpool, "spool.db") + `
sinks:
  - {name: central, type: sqlite, path: ` + central + `}
server:
  listen: ""
  admin_listen: 127.0.0.1:` + strconv.Itoa(int(port)) + `
log:
  level: info
`

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "support-bot-7d9f8c6b5-", Namespace: "agents",
			Annotations: map[string]string{inject.AnnotationInject: "true", inject.AnnotationLogPath: "/var/log/agent",
				inject.AnnotationMode: "native", inject.AnnotationConfigMap: "support-bot-audit"},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "registry.example/support-bot:1.4"}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	res, err := inject.Mutate(raw, "agents", inject.Options{Namespace: "audit-system", AdminPort: port})
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
	// The Secret may go once the chain runs: its volume is optional.
	for _, v := range pod.Spec.Volumes {
		if v.Name == inject.VolumeKeys && (v.Secret == nil || v.Secret.Optional == nil || !*v.Secret.Optional) {
			t.Fatalf("the keys volume is not an optional Secret: %+v", v)
		}
	}
	key1 := []byte("KEY1-" + randHex(t, 32))
	dirs := podVolumes(t, root, pod, map[string][]byte{inject.HMACKeyFile: key1}, map[string][]byte{inject.ConfigFile: []byte(cfgYAML)})
	mapped := inPod(sidecar, dirs)
	cfgPath := filepath.Join(root, "config.yaml")
	writeFile(t, cfgPath, []byte(mapped(cfgYAML)))
	args := slices.Clone(sidecar.Args)
	for i, a := range args {
		if a == filepath.Join(inject.MountConfig, inject.ConfigFile) {
			args[i] = cfgPath
		}
	}
	keysDir, spoolDir := dirs[inject.VolumeKeys], dirs[inject.VolumeSpool]
	epochFile := filepath.Join(spoolDir, "spool.db.epoch-key")
	agentLog := filepath.Join(dirs[inject.VolumeLog], inject.DefaultLogFile)
	e := &env{dir: root}
	start := func() *proc {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"GODEBUG=fips140=on", "POD_NAME=" + podName}
		return e.startCmd(t, cmd)
	}
	db := openDB(t, central)
	// emptied stands for a volume that is gone and comes back empty: an
	// emptyDir after a reschedule, an optional Secret volume whose Secret
	// was deleted.
	emptied := func(dir string) {
		t.Helper()
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	// verifyWith runs verify with key_file and previous_key_files as
	// given, offline copies of the keys.
	verifyWith := func(key []byte, previous ...[]byte) {
		t.Helper()
		off := filepath.Join(root, "offline")
		v := strings.Replace(mapped(cfgYAML), filepath.Join(keysDir, inject.HMACKeyFile), filepath.Join(off, "key"), 1)
		writeFile(t, filepath.Join(off, "key"), key)
		var prev []string
		for i, k := range previous {
			p := filepath.Join(off, "previous-"+strconv.Itoa(i))
			writeFile(t, p, k)
			prev = append(prev, p)
		}
		if len(prev) > 0 {
			v = strings.Replace(v, "  epoch: 200ms\n", "  epoch: 200ms\n  previous_key_files: ["+strings.Join(prev, ", ")+"]\n", 1)
		}
		writeFile(t, filepath.Join(off, "verify.yaml"), []byte(v))
		requireValid(t, filepath.Join(off, "verify.yaml"))
	}
	var stderrs []string
	run := func(from, to int) {
		t.Helper()
		p := start()
		appendLines(t, agentLog, events(from, to))
		waitForEvents(t, db, to, p)
		// An epoch ends in each run: the key moves on from the one mounted.
		seals := count(t, db, `action = 'seal'`)
		waitFor(t, "a seal", func() bool { return count(t, db, `action = 'seal'`) > seals })
		p.stop(t)
		stderrs = append(stderrs, p.stderr())
	}

	// 1. The first start, with the Secret.
	run(0, 5)
	if _, err := os.Stat(epochFile); err != nil {
		t.Fatalf("the epoch key file on the spool volume: %v", err)
	}

	// 2. The Secret gone: the epoch key file carries the chain.
	emptied(keysDir)
	run(5, 10)
	verifyWith(key1)

	// 3. The spool volume lost too: nothing holds a key.
	emptied(spoolDir)
	code, stderr := runCmd(t, args...)
	t.Logf("the start without the spool and the Secret:\n%s", stderr)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 2 || len(lines) != 1 || !strings.Contains(stderr, "chain.key_file") ||
		!strings.Contains(stderr, "mount the key of epoch 1 as chain.key_file for one start") {
		t.Fatalf("start without the spool and the Secret: exit %d, stderr:\n%s", code, stderr)
	}
	if ents, _ := os.ReadDir(spoolDir); len(ents) != 0 {
		t.Errorf("the failed start left %d files on the spool volume", len(ents))
	}

	// 4. The key of epoch 1 mounted again: the chain goes on from the sink.
	(&secretVolume{dir: keysDir}).update(t, map[string][]byte{inject.HMACKeyFile: key1})
	run(10, 15)
	if n := count(t, db, `action = 'gap'`); n != 1 {
		t.Errorf("%d gap records, want 1", n)
	}
	verifyWith(key1)

	// 5. The Secret's key replaced: a rotation, sealed with the key the
	// epoch key file holds.
	key2 := []byte("KEY2-" + randHex(t, 32))
	(&secretVolume{dir: keysDir, version: 1}).update(t, map[string][]byte{inject.HMACKeyFile: key2})
	run(15, 20)
	if n := count(t, db, `action = 'key_rotation'`); n != 1 {
		t.Errorf("%d key_rotation records, want 1", n)
	}
	verifyWith(key2, key1)
	requireExactlyOnce(t, db, 20)
	for _, s := range append(stderrs, stderr) {
		requireNoKeyMaterialIn(t, s, key1, key2)
	}
}

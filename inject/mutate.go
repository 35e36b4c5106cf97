package inject

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Result is what Mutate decided for one pod.
type Result struct {
	Pod     json.RawMessage // the injected pod (JSON); nil when the pod is left as it is
	Skipped string          // why the pod is left alone (not asked, already injected, own namespace)
}

// errNotAPod is Mutate's error for JSON that is no pod object.
var errNotAPod = fmt.Errorf("%w: the object is not a pod", ErrNotInjectable)

// Mutate returns the pod with the sidecar added, in namespace ns (the
// request's: a pod being created may not carry it yet). pod is the pod's
// JSON, as the API server sends it, and is never changed; the members the
// injector does not know are kept as they are. A pod that does not ask
// for the sidecar, is already injected or lives in o.Namespace gives a
// Result without Pod; one that asks but cannot be injected gives an error
// that names each reason.
func Mutate(pod []byte, ns string, o Options) (Result, error) {
	o = o.withDefaults()
	var view podView
	if err := json.Unmarshal(pod, &view); err != nil {
		return Result{}, errNotAPod
	}
	a := view.Metadata.Annotations
	switch {
	case a[AnnotationInject] != "true":
		return Result{Skipped: "not annotated " + AnnotationInject + `: "true"`}, nil
	case ns == o.Namespace:
		return Result{Skipped: "the injector's own namespace"}, nil
	case a[AnnotationStatus] == StatusInjected || hasContainer(&view, ContainerName):
		return Result{Skipped: "already injected"}, nil
	}
	s, err := readSettings(&view, ns, o)
	if err != nil {
		return Result{}, err
	}
	if err := taken(&view, s, o.AdminPort); err != nil {
		return Result{}, err
	}
	// The pod as generic JSON: numbers kept as written.
	v, err := decodeJSON(pod)
	if err != nil {
		return Result{}, errNotAPod
	}
	doc, _ := v.(map[string]any)
	spec, ok1 := doc["spec"].(map[string]any)
	meta, ok2 := doc["metadata"].(map[string]any)
	if !ok1 || !ok2 {
		return Result{}, errNotAPod
	}
	// The view matches members whatever their case, the map does not:
	// JSON not from the API server may hold "Containers" beside
	// "containers". The agent must be the same container in both.
	containers, _ := spec["containers"].([]any)
	if s.container >= len(containers) || len(containers) != len(view.Spec.Containers) {
		return Result{}, errNotAPod
	}
	agent, ok := containers[s.container].(map[string]any)
	if !ok || agent["name"] != view.Spec.Containers[s.container].Name {
		return Result{}, errNotAPod
	}
	o.Mode = s.mode
	c := sidecarContainer(o)
	if s.envSecret != "" {
		// For ${VAR} in the ConfigMap's config (a sink's DSN): not
		// optional, a config naming a variable cannot start without it.
		c.EnvFrom = []envFromSource{{SecretRef: &secretEnvSource{Name: s.envSecret}}}
	}
	if s.mode == ModeNative {
		always := "Always"
		c.RestartPolicy = &always
		spec["initContainers"] = appendTo(spec["initContainers"], c)
	} else {
		spec["containers"] = appendTo(spec["containers"], c)
	}
	for _, v := range volumes(s) {
		spec["volumes"] = appendTo(spec["volumes"], v)
	}
	agent["volumeMounts"] = appendTo(agent["volumeMounts"], volumeMount{Name: VolumeLog, MountPath: s.logPath})
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		meta["annotations"] = ann
	}
	ann[AnnotationStatus] = StatusInjected
	if s.configMap == "" {
		ann[AnnotationDefaultConfig] = Render(s.chainID, s.format, s.logFile, o.AdminPort)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return Result{}, fmt.Errorf("%w: encode the pod", ErrNotInjectable)
	}
	return Result{Pod: out}, nil
}

// appendTo appends v to the JSON array list (absent or null: none).
func appendTo(list any, v any) []any {
	l, _ := list.([]any)
	return append(l, v)
}

func hasContainer(pod *podView, name string) bool {
	for _, cs := range [][]containerView{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

// taken names the volumes, the agent's mount path and the admin port the
// pod already uses, a pod-wide root UID the sidecar could not start with,
// the node's network (the admin port would listen on the node's address,
// and two such pods on a node would take the same port) and an operating
// system other than Linux (the sidecar's image and security context are
// Linux's): the injector never overwrites what a pod has.
func taken(pod *podView, s settings, adminPort int32) error {
	var probs []string
	ours := map[string]bool{VolumeLog: true, VolumeSpool: true, VolumeConfig: true, VolumeKeys: true}
	for _, v := range pod.Spec.Volumes {
		if ours[v.Name] {
			probs = append(probs, fmt.Sprintf("spec.volumes: %q already exists", v.Name))
		}
	}
	for _, cs := range [][]containerView{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.Name == AdminPortName || p.ContainerPort == adminPort {
					probs = append(probs, fmt.Sprintf("container %q: port %d (%s) is the sidecar's admin port (the pod's containers share one network)", c.Name, p.ContainerPort, p.Name))
				}
			}
		}
	}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		probs = append(probs, "spec.securityContext.runAsUser: 0, and the sidecar runs as non-root only")
	}
	if pod.Spec.HostNetwork {
		probs = append(probs, "spec.hostNetwork: true, and the sidecar's admin port would listen on the node's address")
	}
	if os := pod.Spec.OS; os != nil && os.Name != "" && os.Name != "linux" {
		probs = append(probs, fmt.Sprintf("spec.os.name: %q, and the sidecar is a Linux container", os.Name))
	}
	for _, m := range pod.Spec.Containers[s.container].VolumeMounts {
		if m.MountPath == s.logPath || strings.HasPrefix(s.logPath, strings.TrimSuffix(m.MountPath, "/")+"/") {
			probs = append(probs, fmt.Sprintf("%s: %q is already mounted at %s", AnnotationLogPath, m.Name, m.MountPath))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrNotInjectable, strings.Join(probs, "; "))
	}
	return nil
}

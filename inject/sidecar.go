package inject

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// settings are what a pod's annotations ask for, checked.
type settings struct {
	mode      Mode
	container int // index of the agent's container
	logPath   string
	logFile   string
	format    string
	chainID   string
	configMap string // "": the default config
	keySecret string
	envSecret string // "": none
}

// readSettings reads and checks pod's annotations; ns is the pod's
// namespace. Every problem is named in the error.
func readSettings(pod *podView, ns string, o Options) (settings, error) {
	a := pod.Metadata.Annotations
	get := func(key, def string) string {
		if v, ok := a[key]; ok {
			return v
		}
		return def
	}
	s := settings{
		mode:      Mode(get(AnnotationMode, string(o.Mode))),
		logPath:   get(AnnotationLogPath, DefaultLogPath),
		logFile:   get(AnnotationLogFile, DefaultLogFile),
		format:    get(AnnotationFormat, DefaultFormat),
		chainID:   a[AnnotationChainID],
		configMap: a[AnnotationConfigMap],
		keySecret: get(AnnotationKeySecret, DefaultKeySecret),
		envSecret: a[AnnotationEnvSecret],
	}
	var probs []string
	bad := func(key, format string, args ...any) {
		probs = append(probs, key+": "+fmt.Sprintf(format, args...))
	}
	if s.mode != ModeNative && s.mode != ModeClassic {
		bad(AnnotationMode, "must be native or classic")
	}
	if !path.IsAbs(s.logPath) || path.Clean(s.logPath) != s.logPath || s.logPath == "/" {
		bad(AnnotationLogPath, "must be a clean absolute folder other than /")
	}
	if !logFileRe().MatchString(s.logFile) || s.logFile == "." || s.logFile == ".." {
		bad(AnnotationLogFile, "must be a file name or glob of [A-Za-z0-9._*?-], 1-255 long")
	}
	if !formats[s.format] {
		bad(AnnotationFormat, "must be one of native, fipsagents, otlp, openai-agents, langchain, auto (mapping needs a config map)")
	}
	if s.configMap != "" && !dns1123().MatchString(s.configMap) {
		bad(AnnotationConfigMap, "not a ConfigMap name")
	}
	if !dns1123().MatchString(s.keySecret) {
		bad(AnnotationKeySecret, "not a Secret name")
	}
	if s.envSecret != "" && !dns1123().MatchString(s.envSecret) {
		bad(AnnotationEnvSecret, "not a Secret name")
	}
	if s.chainID == "" {
		s.chainID = defaultChainID(pod, ns)
		if s.chainID == "" {
			bad(AnnotationChainID, "required: the pod has no owner, generateName or name to derive one from")
		}
	} else if !chainIDRe().MatchString(strings.ReplaceAll(s.chainID, PodNameVar, longestPodName(pod))) {
		bad(AnnotationChainID, "must be 1-128 of [A-Za-z0-9._-], starting with a letter or digit, with "+PodNameVar+" counted as the pod's name")
	}
	s.container = -1
	if name, ok := a[AnnotationContainer]; ok {
		for i, c := range pod.Spec.Containers {
			if c.Name == name {
				s.container = i
			}
		}
		if s.container < 0 {
			bad(AnnotationContainer, "no container of that name")
		}
	} else if len(pod.Spec.Containers) > 0 {
		s.container = 0
	} else {
		bad("spec.containers", "the pod has none")
	}
	if len(probs) > 0 {
		return settings{}, fmt.Errorf("%w: %s", ErrNotInjectable, strings.Join(probs, "; "))
	}
	return s, nil
}

// defaultChainID is namespace "." owner: the controller's name (a
// Deployment's, when the controller is its ReplicaSet), else the
// generateName without its trailing dash, else the pod's name. Characters
// outside [A-Za-z0-9._-] become '-'; it is cut at maxChainID bytes.
func defaultChainID(pod *podView, ns string) string {
	m := &pod.Metadata
	owner := ""
	for _, r := range m.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			owner = r.Name
			if h := m.Labels["pod-template-hash"]; r.Kind == "ReplicaSet" && h != "" {
				owner = strings.TrimSuffix(owner, "-"+h)
			}
		}
	}
	if owner == "" {
		owner = strings.TrimRight(m.GenerateName, "-")
	}
	if owner == "" {
		owner = m.Name
	}
	if owner == "" || ns == "" {
		return ""
	}
	id := []byte(ns + "." + owner)
	for i, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			id[i] = '-'
		}
	}
	if len(id) > maxChainID {
		id = id[:maxChainID] // a namespace starts with a letter or digit: so does id
	}
	return string(id)
}

// PodNameVar in the chain-id annotation is the pod's name: the sidecar
// has it in its environment (the downward API), and config expands it.
// The name is not known yet when a Deployment's pod is admitted.
const PodNameVar = "${POD_NAME}"

// longestPodName stands for the pod's name in a length check: the name,
// or the generateName with the 5 characters the API server adds.
func longestPodName(pod *podView) string {
	if pod.Metadata.Name != "" {
		return pod.Metadata.Name
	}
	return pod.Metadata.GenerateName + "xxxxx"
}

// maxChainID is the longest chain.id config accepts.
const maxChainID = 128

// Render is the sidecar's default config for a pod: the paths are those
// the injected container sees. The chain id is quoted: one the annotation
// accepts, such as null, would be no string to YAML.
func Render(chainID, format, logFile string, adminPort int32) string {
	return fmt.Sprintf(`# audit-sidecar config rendered by the injector (see the README's config table)
source:
  path: %s
  format: %s
  start_at: beginning
chain:
  id: %s
  key_file: %s
  signing_key_file: %s
spool:
  path: %s
sinks:
  - {name: local, type: sqlite, path: %s}
server:
  listen: ""
  admin_listen: 0.0.0.0:%d
log:
  level: info
`, strconv.Quote(path.Join(MountLog, logFile)), format, strconv.Quote(chainID),
		path.Join(MountKeys, HMACKeyFile), path.Join(MountKeys, SigningKeyFile),
		path.Join(MountSpool, "spool.db"), path.Join(MountSpool, "audit.db"), adminPort)
}

// sidecarContainer is the sidecar's container (its restartPolicy is set
// by the caller for a native sidecar).
func sidecarContainer(o Options) container {
	o = o.withDefaults()
	get := func(p string, period, failures int32) *probe {
		return &probe{
			HTTPGet:          &httpGetAction{Path: p, Port: AdminPortName},
			PeriodSeconds:    period,
			FailureThreshold: failures,
			TimeoutSeconds:   2,
		}
	}
	return container{
		Name:  ContainerName,
		Image: o.Image,
		Args:  []string{"run", "--config", path.Join(MountConfig, ConfigFile)},
		Env: []envVar{{Name: "POD_NAME", ValueFrom: &envVarSource{
			FieldRef: &fieldRef{APIVersion: "v1", FieldPath: "metadata.name"},
		}}},
		Ports: []containerPort{{Name: AdminPortName, ContainerPort: o.AdminPort, Protocol: "TCP"}},
		Resources: resources{
			Requests: map[string]string{"cpu": o.CPURequest, "memory": o.MemoryRequest},
			Limits:   map[string]string{"memory": o.MemoryLimit},
		},
		VolumeMounts: []volumeMount{
			{Name: VolumeLog, MountPath: MountLog, ReadOnly: true},
			{Name: VolumeSpool, MountPath: MountSpool},
			{Name: VolumeConfig, MountPath: MountConfig, ReadOnly: true},
			{Name: VolumeKeys, MountPath: MountKeys, ReadOnly: true},
		},
		// The spool check and the first start may take a while on a
		// large spool: 5 minutes before liveness takes over.
		StartupProbe:             get("/healthz", 2, 150),
		ReadinessProbe:           get("/readyz", 5, 3),
		LivenessProbe:            get("/healthz", 10, 6),
		TerminationMessagePolicy: "FallbackToLogsOnError",
		SecurityContext:          restrictedSecurityContext(),
	}
}

// restrictedSecurityContext passes Pod Security "restricted" and
// OpenShift's restricted-v2: no UID is fixed, so that OpenShift may assign
// one from the namespace's range (the image's own user, 65532, elsewhere).
func restrictedSecurityContext() *securityContext {
	t, f := true, false
	return &securityContext{
		RunAsNonRoot:             &t,
		ReadOnlyRootFilesystem:   &t,
		AllowPrivilegeEscalation: &f,
		Capabilities:             &capabilities{Drop: []string{"ALL"}},
		SeccompProfile:           &seccompProfile{Type: "RuntimeDefault"},
	}
}

// volumes are the pod volumes the sidecar needs, for s.
func volumes(s settings) []volume {
	ro := int32(0o444) // read-only for any UID: the pod fixes none
	cfg := volume{Name: VolumeConfig, DownwardAPI: &downwardAPIVolume{
		DefaultMode: &ro,
		Items: []downwardAPIFile{{
			Path:     ConfigFile,
			FieldRef: &fieldRef{APIVersion: "v1", FieldPath: "metadata.annotations['" + AnnotationDefaultConfig + "']"},
		}},
	}}
	if s.configMap != "" {
		cfg = volume{Name: VolumeConfig, ConfigMap: &configMapVolume{
			Name:        s.configMap,
			DefaultMode: &ro,
			Items:       []keyToPath{{Key: ConfigFile, Path: ConfigFile}},
		}}
	}
	// The keys' Secret, and each key in it, is optional: once the epoch
	// key file on the spool volume holds the chain's key, the operator
	// deletes hmac.key from the Secret (or the Secret, without a signing
	// key) and the pod still starts; a start that needs a missing key
	// fails in the sidecar, naming it and what to mount.
	optional := true
	return []volume{
		{Name: VolumeLog, EmptyDir: &emptyDir{}},
		{Name: VolumeSpool, EmptyDir: &emptyDir{}},
		cfg,
		{Name: VolumeKeys, Secret: &secretVolume{
			SecretName:  s.keySecret,
			DefaultMode: &ro,
			Items:       []keyToPath{{Key: HMACKeyFile, Path: HMACKeyFile}, {Key: SigningKeyFile, Path: SigningKeyFile}},
			Optional:    &optional,
		}},
	}
}

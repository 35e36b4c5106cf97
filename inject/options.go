package inject

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Annotations read (and, for AnnotationStatus and AnnotationDefaultConfig,
// written) on a pod.
const (
	AnnotationInject        = "audit.fips-agents.io/inject"         // "true" to inject
	AnnotationLogPath       = "audit.fips-agents.io/log-path"       // folder the agent writes its log into
	AnnotationLogFile       = "audit.fips-agents.io/log-file"       // file name or glob in that folder
	AnnotationFormat        = "audit.fips-agents.io/format"         // source.format
	AnnotationChainID       = "audit.fips-agents.io/chain-id"       // chain.id instead of namespace.owner
	AnnotationConfigMap     = "audit.fips-agents.io/config-map"     // ConfigMap with config.yaml
	AnnotationKeySecret     = "audit.fips-agents.io/key-secret"     // Secret with hmac.key and signing.pem
	AnnotationEnvSecret     = "audit.fips-agents.io/env-secret"     // Secret whose keys are the sidecar's environment
	AnnotationContainer     = "audit.fips-agents.io/container"      // the agent's container
	AnnotationMode          = "audit.fips-agents.io/mode"           // native | classic
	AnnotationStatus        = "audit.fips-agents.io/status"         // set to "injected"
	AnnotationDefaultConfig = "audit.fips-agents.io/default-config" // the rendered default config
)

// Names and paths of what is added to a pod.
const (
	ContainerName    = "audit-sidecar"
	VolumeLog        = "audit-sidecar-log"
	VolumeSpool      = "audit-sidecar-spool"
	VolumeConfig     = "audit-sidecar-config"
	VolumeKeys       = "audit-sidecar-keys"
	MountLog         = "/var/run/audit-sidecar/log"
	MountSpool       = "/var/lib/audit-sidecar"
	MountConfig      = "/etc/audit-sidecar/config"
	MountKeys        = "/etc/audit-sidecar/keys"
	ConfigFile       = "config.yaml"
	HMACKeyFile      = "hmac.key"
	SigningKeyFile   = "signing.pem"
	AdminPortName    = "audit-admin"
	StatusInjected   = "injected"
	DefaultLogPath   = "/var/log/agent"
	DefaultLogFile   = "*.jsonl"
	DefaultFormat    = "native"
	DefaultKeySecret = "audit-sidecar-keys"
	DefaultAdminPort = 9090
	DefaultImage     = "ghcr.io/fips-agents/audit-sidecar:latest"
)

// Mode is how the sidecar container is added.
type Mode string

const (
	ModeNative  Mode = "native"  // an init container with restartPolicy Always (Kubernetes >= 1.29)
	ModeClassic Mode = "classic" // one more container (older clusters)
)

// FailurePolicy mirrors the webhook configuration's failurePolicy: what to
// answer for a pod that cannot be injected.
type FailurePolicy string

const (
	Fail   FailurePolicy = "Fail"   // refuse the pod
	Ignore FailurePolicy = "Ignore" // admit it unchanged, with a warning
)

// Options are the injector's settings; the zero value of a field takes the
// default named next to it.
type Options struct {
	Image         string        // DefaultImage
	Mode          Mode          // ModeNative; a pod's AnnotationMode wins
	AdminPort     int32         // DefaultAdminPort
	Namespace     string        // the injector's own: never injected
	FailurePolicy FailurePolicy // Fail
	CPURequest    string        // "50m"
	MemoryRequest string        // "64Mi"
	MemoryLimit   string        // "256Mi"
}

// withDefaults is o with every empty field set to its default.
func (o Options) withDefaults() Options {
	set := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	set(&o.Image, DefaultImage)
	set(&o.CPURequest, "50m")
	set(&o.MemoryRequest, "64Mi")
	set(&o.MemoryLimit, "256Mi")
	if o.Mode == "" {
		o.Mode = ModeNative
	}
	if o.FailurePolicy == "" {
		o.FailurePolicy = Fail
	}
	if o.AdminPort == 0 {
		o.AdminPort = DefaultAdminPort
	}
	return o
}

// Validate returns every problem of o, each naming its field.
func (o Options) Validate() []error {
	o = o.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if o.Mode != ModeNative && o.Mode != ModeClassic {
		bad("mode", "must be native or classic")
	}
	if o.FailurePolicy != Fail && o.FailurePolicy != Ignore {
		bad("failure_policy", "must be Fail or Ignore")
	}
	if o.AdminPort < 1 || o.AdminPort > 65535 {
		bad("admin_port", "must be 1-65535")
	}
	if o.Namespace == "" {
		bad("namespace", "required (the injector's own, never injected)")
	}
	if strings.TrimSpace(o.Image) != o.Image || strings.ContainsAny(o.Image, " \t\n") {
		bad("image", "must not hold spaces")
	}
	for _, q := range []struct{ key, v string }{{"cpu_request", o.CPURequest}, {"memory_request", o.MemoryRequest}, {"memory_limit", o.MemoryLimit}} {
		if !quantityRe().MatchString(q.v) {
			bad(q.key, "not a quantity")
		}
	}
	return errs
}

// formats are the values of source.format (docs/dialects.md).
var formats = map[string]bool{"native": true, "fipsagents": true, "otlp": true, "openai-agents": true, "langchain": true, "auto": true}

// chainIDRe is what config accepts as chain.id.
var chainIDRe = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// logFileRe is what the log-file annotation may hold: a name or glob in
// one folder, without what the config would expand (${VAR}) or quote.
var logFileRe = lazyRegexp(`^[A-Za-z0-9._*?-]{1,255}$`)

// dns1123 is a Kubernetes object name (ConfigMap, Secret, container).
var dns1123 = lazyRegexp(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// quantityRe is a Kubernetes resource quantity: a signed decimal number
// with a binary (Ki, Mi, ...) or decimal (n, u, m, k, M, ...) suffix or
// a decimal exponent (e3), as the API server parses it.
var quantityRe = lazyRegexp(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$`)

// lazyRegexp is expr compiled when first used: the injector's checks
// cost nothing at the start of the sidecar, which shares the binary
// (their counted repetitions compile to about half a megabyte).
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

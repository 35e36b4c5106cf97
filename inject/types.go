package inject

import "encoding/json"

// The few Kubernetes objects the injector reads and writes, as its own
// types: the JSON members are spelled as the API spells them, omitted
// when empty where the API omits them. The tests decode what these make
// strictly into the k8s.io/api types.

// AdmissionReview is the envelope of an admission.k8s.io/v1 review: a
// request in, a response out.
type AdmissionReview struct {
	APIVersion string             `json:"apiVersion,omitempty"`
	Kind       string             `json:"kind,omitempty"`
	Request    *AdmissionRequest  `json:"request,omitempty"`
	Response   *AdmissionResponse `json:"response,omitempty"`
}

// AdmissionRequest holds the members of a request the injector reads.
type AdmissionRequest struct {
	UID       string           `json:"uid"`
	Kind      GroupVersionKind `json:"kind"`
	Namespace string           `json:"namespace,omitempty"`
	Operation string           `json:"operation"`
	Object    json.RawMessage  `json:"object,omitempty"`
	DryRun    *bool            `json:"dryRun,omitempty"`
}

// GroupVersionKind names the type of the request's object.
type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// AdmissionResponse is the answer to one request.
type AdmissionResponse struct {
	UID       string   `json:"uid"`
	Allowed   bool     `json:"allowed"`
	Result    *Status  `json:"status,omitempty"`
	Patch     []byte   `json:"patch,omitempty"`
	PatchType *string  `json:"patchType,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Status is why a request is refused (a meta/v1 Status).
type Status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int32  `json:"code,omitempty"`
}

// Values of the review's members.
const (
	OperationCreate  = "CREATE"
	PatchTypeJSON    = "JSONPatch"
	StatusFailure    = "Failure"
	ReasonInvalid    = "Invalid"
	admissionVersion = "admission.k8s.io/v1"
)

// podView is what the injector reads of a pod; the pod itself is kept as
// generic JSON, so that members the injector does not know stay as they
// are.
type podView struct {
	Metadata podMeta `json:"metadata"`
	Spec     struct {
		InitContainers []containerView `json:"initContainers"`
		Containers     []containerView `json:"containers"`
		Volumes        []struct {
			Name string `json:"name"`
		} `json:"volumes"`
		SecurityContext *struct {
			RunAsUser *int64 `json:"runAsUser"`
		} `json:"securityContext"`
		HostNetwork bool `json:"hostNetwork"`
		OS          *struct {
			Name string `json:"name"`
		} `json:"os"`
	} `json:"spec"`
}

// podMeta is what the injector reads of a pod's metadata.
type podMeta struct {
	Name            string            `json:"name"`
	GenerateName    string            `json:"generateName"`
	Namespace       string            `json:"namespace"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
	OwnerReferences []ownerReference  `json:"ownerReferences"`
}

type ownerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller *bool  `json:"controller"`
}

type containerView struct {
	Name  string `json:"name"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int32  `json:"containerPort"`
	} `json:"ports"`
	VolumeMounts []volumeMount `json:"volumeMounts"`
}

// container is the sidecar's container.
type container struct {
	Name                     string           `json:"name"`
	Image                    string           `json:"image,omitempty"`
	Args                     []string         `json:"args,omitempty"`
	Ports                    []containerPort  `json:"ports,omitempty"`
	Env                      []envVar         `json:"env,omitempty"`
	EnvFrom                  []envFromSource  `json:"envFrom,omitempty"`
	Resources                resources        `json:"resources"`
	RestartPolicy            *string          `json:"restartPolicy,omitempty"`
	VolumeMounts             []volumeMount    `json:"volumeMounts,omitempty"`
	LivenessProbe            *probe           `json:"livenessProbe,omitempty"`
	ReadinessProbe           *probe           `json:"readinessProbe,omitempty"`
	StartupProbe             *probe           `json:"startupProbe,omitempty"`
	TerminationMessagePolicy string           `json:"terminationMessagePolicy,omitempty"`
	SecurityContext          *securityContext `json:"securityContext,omitempty"`
}

type containerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
}

type envVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *envVarSource `json:"valueFrom,omitempty"`
}

type envFromSource struct {
	SecretRef *secretEnvSource `json:"secretRef,omitempty"`
}

type secretEnvSource struct {
	Name string `json:"name"`
}

type envVarSource struct {
	FieldRef *fieldRef `json:"fieldRef,omitempty"`
}

type fieldRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath"`
}

// resources map a resource name (cpu, memory) to a quantity.
type resources struct {
	Limits   map[string]string `json:"limits,omitempty"`
	Requests map[string]string `json:"requests,omitempty"`
}

type volumeMount struct {
	Name      string `json:"name"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	MountPath string `json:"mountPath"`
}

type probe struct {
	HTTPGet          *httpGetAction `json:"httpGet,omitempty"`
	TimeoutSeconds   int32          `json:"timeoutSeconds,omitempty"`
	PeriodSeconds    int32          `json:"periodSeconds,omitempty"`
	FailureThreshold int32          `json:"failureThreshold,omitempty"`
}

type httpGetAction struct {
	Path string `json:"path,omitempty"`
	Port string `json:"port"` // a port's name
}

type securityContext struct {
	Capabilities             *capabilities   `json:"capabilities,omitempty"`
	RunAsNonRoot             *bool           `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool           `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation,omitempty"`
	SeccompProfile           *seccompProfile `json:"seccompProfile,omitempty"`
}

type capabilities struct {
	Drop []string `json:"drop,omitempty"`
}

type seccompProfile struct {
	Type string `json:"type"`
}

// volume is a pod volume of one of the sources the sidecar uses.
type volume struct {
	Name        string             `json:"name"`
	EmptyDir    *emptyDir          `json:"emptyDir,omitempty"`
	Secret      *secretVolume      `json:"secret,omitempty"`
	DownwardAPI *downwardAPIVolume `json:"downwardAPI,omitempty"`
	ConfigMap   *configMapVolume   `json:"configMap,omitempty"`
}

type emptyDir struct{}

type secretVolume struct {
	SecretName  string      `json:"secretName,omitempty"`
	Items       []keyToPath `json:"items,omitempty"`
	DefaultMode *int32      `json:"defaultMode,omitempty"`
	Optional    *bool       `json:"optional,omitempty"`
}

type configMapVolume struct {
	Name        string      `json:"name,omitempty"`
	Items       []keyToPath `json:"items,omitempty"`
	DefaultMode *int32      `json:"defaultMode,omitempty"`
}

type keyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
}

type downwardAPIVolume struct {
	Items       []downwardAPIFile `json:"items,omitempty"`
	DefaultMode *int32            `json:"defaultMode,omitempty"`
}

type downwardAPIFile struct {
	Path     string    `json:"path"`
	FieldRef *fieldRef `json:"fieldRef,omitempty"`
}

// Package inject puts the audit sidecar next to an agent in a Kubernetes
// pod: it is the mutating admission webhook of `audit-sidecar inject`, and
// the one place that knows what the sidecar's container, volumes and config
// look like in a pod (the plain manifests of deploy/examples are rendered
// from it).
//
// # Basics
//
// A pod annotated audit.fips-agents.io/inject: "true" gets:
//
//   - the sidecar container, as a native sidecar (an init container with
//     restartPolicy Always, Kubernetes 1.29 and later) or, with ModeClassic,
//     as one more container; its security context passes Pod Security
//     "restricted" and OpenShift's restricted-v2 (non-root, any UID, read-only
//     root filesystem, no privilege escalation, every capability dropped,
//     seccomp RuntimeDefault); its probes ask the admin listener;
//   - an emptyDir shared with the agent's container, mounted there at the
//     folder AnnotationLogPath names and read-only in the sidecar;
//   - an emptyDir for the spool and the in-pod SQLite sink;
//   - the config from the ConfigMap AnnotationConfigMap names or, by
//     default, from Render's config, which the pod carries in the
//     AnnotationDefaultConfig annotation and the sidecar reads through a
//     downward API volume (a pod may mount no ConfigMap of another
//     namespace, so the injector's defaults travel with the pod);
//   - the keys from a Secret, mounted read-only; the volume is optional,
//     so that hmac.key can leave the Secret once the chain has started.
//
// Mutate computes the injected pod; Patch the JSON patch from the pod
// before to the pod after; Handler serves AdmissionReview v1 requests;
// Recorder reports the pods it could not inject as events.
//
// The package links no k8s.io module (the sidecar's binary is the
// injector's too, and its size is paid in every agent pod): the review's
// envelope and what is added to a pod are its own types, spelled as the
// API spells them, and a pod is read through a small view and changed as
// generic JSON, so that the members the injector does not know (a newer
// API's among them) are kept as they are. The tests decode every pod and
// review it makes strictly into the k8s.io/api types.
//
// # Caveats
//
// A pod already injected (AnnotationStatus set, or a container of the
// sidecar's name) is left alone, as is every pod of the injector's own
// namespace. A pod that cannot be injected (a bad annotation, a name
// already taken) is refused when the failure policy is Fail and admitted
// unchanged with a warning when it is Ignore; the reason is in the
// response either way, and in a Kubernetes event (Recorder, posted through
// APIServer) regarding the pod's controller, since the pod has no UID yet.
// Events are posted off the admission path, from a bounded queue, repeats
// aggregated; the API server being slow or down changes nothing in the
// answer. A dry run posts none.
//
// The default chain id is the namespace and the pod's owner (a
// Deployment's name, through its ReplicaSet). Every replica of a
// Deployment writes the same chain id, and so do the old and the new pod
// of a rolling update: that suits a sink in the pod (each pod its own
// store) but not a central sink shared by the pods, where their records
// would share (chain, seq). There, give the pod template a chain id that
// holds PodNameVar (audit.fips-agents.io/chain-id:
// "agents.support-bot.${POD_NAME}"): one chain per pod.
package inject

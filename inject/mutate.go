package inject

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Result is what Mutate decided for one pod.
type Result struct {
	Pod     *corev1.Pod // the injected pod; nil when the pod is left as it is
	Skipped string      // why the pod is left alone (not asked, already injected, own namespace)
}

// Mutate returns the pod with the sidecar added, in namespace ns (the
// request's: a pod being created may not carry it yet). pod is never
// changed. A pod that does not ask for the sidecar, is already injected or
// lives in o.Namespace gives a Result without Pod; one that asks but
// cannot be injected gives an error that names each reason.
func Mutate(pod *corev1.Pod, ns string, o Options) (Result, error) {
	o = o.withDefaults()
	a := pod.Annotations
	switch {
	case a[AnnotationInject] != "true":
		return Result{Skipped: "not annotated " + AnnotationInject + `: "true"`}, nil
	case ns == o.Namespace:
		return Result{Skipped: "the injector's own namespace"}, nil
	case a[AnnotationStatus] == StatusInjected || hasContainer(pod, ContainerName):
		return Result{Skipped: "already injected"}, nil
	}
	s, err := readSettings(pod, ns, o)
	if err != nil {
		return Result{}, err
	}
	out := pod.DeepCopy()
	if err := taken(out, s, o.AdminPort); err != nil {
		return Result{}, err
	}
	o.Mode = s.mode
	c := Container(o)
	if s.mode == ModeNative {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
		out.Spec.InitContainers = append(out.Spec.InitContainers, c)
	} else {
		out.Spec.Containers = append(out.Spec.Containers, c)
	}
	out.Spec.Volumes = append(out.Spec.Volumes, volumes(s)...)
	agent := &out.Spec.Containers[s.container]
	agent.VolumeMounts = append(agent.VolumeMounts, corev1.VolumeMount{Name: VolumeLog, MountPath: s.logPath})
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnotationStatus] = StatusInjected
	if s.configMap == "" {
		out.Annotations[AnnotationDefaultConfig] = Render(s.chainID, s.format, s.logFile, o.AdminPort)
	}
	return Result{Pod: out}, nil
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

// taken names the volumes, the agent's mount path and the admin port the
// pod already uses, and a pod-wide root UID the sidecar could not start
// with: the injector never overwrites what a pod has.
func taken(pod *corev1.Pod, s settings, adminPort int32) error {
	var probs []string
	ours := map[string]bool{VolumeLog: true, VolumeSpool: true, VolumeConfig: true, VolumeKeys: true}
	for _, v := range pod.Spec.Volumes {
		if ours[v.Name] {
			probs = append(probs, fmt.Sprintf("spec.volumes: %q already exists", v.Name))
		}
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
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

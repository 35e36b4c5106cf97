package deploy

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestChart_RendersStrictly renders the chart for its defaults and for each
// switch: every object decodes strictly, the release's objects are in its
// namespace, and every pod template passes Pod Security "restricted".
func TestChart_RendersStrictly(t *testing.T) {
	base := map[string]int{"ServiceAccount": 1, "Deployment": 1, "Service": 1, "MutatingWebhookConfiguration": 1,
		"ClusterRole": 1, "ClusterRoleBinding": 1, "PodDisruptionBudget": 1}
	with := func(extra map[string]int) map[string]int {
		m := map[string]int{}
		for k, n := range base {
			m[k] = n
		}
		for k, n := range extra {
			m[k] += n
			if m[k] == 0 {
				delete(m, k)
			}
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		vals  map[string]any
		kinds map[string]int
	}{
		{"defaults", nil, with(map[string]int{"Secret": 1})},
		{"cert-manager", map[string]any{"certManager": map[string]any{"enabled": true}}, with(map[string]int{"Certificate": 1, "Issuer": 1})},
		{"cert-manager-own-issuer", map[string]any{"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}}}, with(map[string]int{"Certificate": 1})},
		{"service-monitor", map[string]any{"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}}}, with(map[string]int{"Secret": 1, "ServiceMonitor": 1})},
		{"network-policy", map[string]any{"networkPolicy": map[string]any{"enabled": true}}, with(map[string]int{"Secret": 1, "NetworkPolicy": 1})},
		{"network-policy-from", map[string]any{"networkPolicy": map[string]any{"enabled": true, "from": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}}}}}, with(map[string]int{"Secret": 1, "NetworkPolicy": 1})},
		{"example-agent", map[string]any{"exampleAgent": map[string]any{"enabled": true}}, with(map[string]int{"Secret": 1, "Deployment": 1, "Service": 1})},
		{"no-events", map[string]any{"events": map[string]any{"enabled": false}}, with(map[string]int{"Secret": 1, "ClusterRole": -1, "ClusterRoleBinding": -1})},
		{"events-in-namespaces", map[string]any{"events": map[string]any{"namespaces": []any{"agents", "bots"}}}, with(map[string]int{"Secret": 1, "ClusterRoleBinding": -1, "RoleBinding": 2})},
		{"one-replica", map[string]any{"injector": map[string]any{"replicas": 1}}, with(map[string]int{"Secret": 1, "PodDisruptionBudget": -1})},
		{"everything", map[string]any{
			"certManager":    map[string]any{"enabled": true},
			"serviceMonitor": map[string]any{"enabled": true},
			"networkPolicy":  map[string]any{"enabled": true},
			"exampleAgent":   map[string]any{"enabled": true},
			"injector":       map[string]any{"logLevel": "debug", "priorityClassName": "system-cluster-critical", "nodeSelector": map[string]any{"kubernetes.io/os": "linux"}, "tolerations": []any{map[string]any{"key": "audit", "operator": "Exists"}}},
			"image":          map[string]any{"pullPolicy": "IfNotPresent"},
		}, with(map[string]int{"Certificate": 1, "Issuer": 1, "ServiceMonitor": 1, "NetworkPolicy": 1, "Deployment": 1, "Service": 1})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.vals)
			if got := r.kinds(); sortedKinds(got) != sortedKinds(tc.kinds) {
				t.Errorf("kinds %s, want %s", sortedKinds(got), sortedKinds(tc.kinds))
			}
			for _, o := range r.objs {
				m := objectMeta(t, o)
				switch {
				case clusterScoped[m.kind]:
					if m.namespace != "" {
						t.Errorf("%s: namespaced", m.kind)
					}
				case m.namespace == "":
					t.Errorf("%s %s: no namespace", m.kind, m.name)
				case m.namespace != releaseNS && m.namespace != "agents" && m.kind != "RoleBinding":
					t.Errorf("%s %s: namespace %q", m.kind, m.name, m.namespace)
				}
			}
			for _, d := range find[*appsv1.Deployment](r) {
				checkRestricted(t, d.Name, &d.Spec.Template.Spec)
				// The token is mounted for the injector's events alone.
				token := d.Spec.Template.Spec.AutomountServiceAccountToken
				if mounted := token == nil || *token; mounted != (d.Name == injectorName && r.kinds()["ClusterRole"] == 1) {
					t.Errorf("%s: ServiceAccount token mounted: %v", d.Name, mounted)
				}
			}
		})
	}
}

type meta struct{ kind, name, namespace string }

func objectMeta(t *testing.T, o runtime.Object) meta {
	t.Helper()
	n, ok := o.(metav1.Object)
	if !ok {
		t.Fatalf("%T has no metadata", o)
	}
	return meta{kind: o.GetObjectKind().GroupVersionKind().Kind, name: n.GetName(), namespace: n.GetNamespace()}
}

// checkRestricted checks a pod template against Pod Security "restricted":
// non-root, seccomp RuntimeDefault, no privilege escalation, every
// capability dropped, no host namespace or host path.
func checkRestricted(t *testing.T, name string, p *corev1.PodSpec) {
	t.Helper()
	if p.HostNetwork || p.HostPID || p.HostIPC {
		t.Errorf("%s: a host namespace", name)
	}
	for _, v := range p.Volumes {
		s := v.VolumeSource
		// The volume types "restricted" allows.
		if s.ConfigMap == nil && s.Secret == nil && s.EmptyDir == nil && s.DownwardAPI == nil && s.Projected == nil &&
			s.PersistentVolumeClaim == nil && s.Ephemeral == nil && s.CSI == nil {
			t.Errorf("%s: volume %s of a type restricted refuses", name, v.Name)
		}
	}
	psc := p.SecurityContext
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile %+v", name, psc)
	}
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		t.Errorf("%s: runs as UID 0", name)
	}
	for _, c := range append(slices.Clone(p.InitContainers), p.Containers...) {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s/%s: no security context", name, c.Name)
		case !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot):
			t.Errorf("%s/%s: runAsNonRoot must be true", name, c.Name)
		case sc.RunAsUser != nil && *sc.RunAsUser == 0:
			t.Errorf("%s/%s: runs as UID 0", name, c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s/%s: allowPrivilegeEscalation must be false", name, c.Name)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s/%s: privileged", name, c.Name)
		case sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
			t.Errorf("%s/%s: capabilities %+v, want drop [ALL] only", name, c.Name, sc.Capabilities)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s/%s: readOnlyRootFilesystem must be true", name, c.Name)
		case slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.HostPort != 0 }):
			t.Errorf("%s/%s: a host port", name, c.Name)
		case c.Resources.Limits.Memory().IsZero():
			t.Errorf("%s/%s: no memory limit", name, c.Name)
		}
	}
}

// TestChart_NetworkPolicyOpensTheWebhookPortOnly checks the policy: the
// injector's pods selected, ingress to the webhook port alone, egress to
// the API server's ports alone for events, and none without them.
func TestChart_NetworkPolicyOpensTheWebhookPortOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vals   map[string]any
		egress string
	}{
		{"events", nil, `[{"ports":[{"protocol":"TCP","port":443},{"protocol":"TCP","port":6443}]}]`},
		{"events to the control plane", map[string]any{"apiServer": map[string]any{"ports": []any{6443}, "to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.1/32"}}}}},
			`[{"ports":[{"protocol":"TCP","port":6443}],"to":[{"ipBlock":{"cidr":"10.0.0.1/32"}}]}]`},
		{"no events", nil, `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			np := map[string]any{"enabled": true}
			maps.Copy(np, tc.vals)
			vals := map[string]any{"networkPolicy": np}
			if tc.name == "no events" {
				vals["events"] = map[string]any{"enabled": false}
			}
			r := mustRender(t, vals)
			pol := one[*networkingv1.NetworkPolicy](t, r, injectorName)
			dep := one[*appsv1.Deployment](t, r, injectorName)
			for k, v := range pol.Spec.PodSelector.MatchLabels {
				if dep.Spec.Template.Labels[k] != v {
					t.Errorf("the policy selects %s=%s, not on the injector's pods", k, v)
				}
			}
			if !slices.Equal(pol.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
				t.Errorf("policyTypes %v, want Ingress and Egress", pol.Spec.PolicyTypes)
			}
			if got, _ := json.Marshal(pol.Spec.Egress); string(got) != tc.egress {
				t.Errorf("egress %s, want %s", got, tc.egress)
			}
			if len(pol.Spec.Ingress) != 1 || len(pol.Spec.Ingress[0].Ports) != 1 || pol.Spec.Ingress[0].Ports[0].Port.String() != dep.Spec.Template.Spec.Containers[0].Ports[0].Name {
				t.Errorf("ingress %+v, want the webhook port only", pol.Spec.Ingress)
			}
		})
	}
}

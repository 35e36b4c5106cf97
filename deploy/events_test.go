package deploy

import (
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// allows tells whether the rendered RBAC lets the injector's
// ServiceAccount do verb on resource of group in namespace ns, as the
// API server's RBAC authorizer decides: a ClusterRoleBinding grants its
// ClusterRole everywhere, a RoleBinding its role in its own namespace.
func allows(t *testing.T, r rendered, verb, group, resource, ns string) bool {
	t.Helper()
	dep := one[*appsv1.Deployment](t, r, injectorName)
	sa, saNS := dep.Spec.Template.Spec.ServiceAccountName, dep.Namespace
	isSA := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == saNS
		})
	}
	grants := func(ref rbacv1.RoleRef) bool {
		if ref.Kind != "ClusterRole" || ref.APIGroup != rbacv1.GroupName {
			t.Errorf("roleRef %+v: the chart binds its ClusterRole only", ref)
			return false
		}
		for _, role := range find[*rbacv1.ClusterRole](r) {
			if role.Name != ref.Name {
				continue
			}
			for _, rule := range role.Rules {
				if slices.Contains(rule.Verbs, verb) && slices.Contains(rule.APIGroups, group) && slices.Contains(rule.Resources, resource) {
					return true
				}
			}
		}
		return false
	}
	for _, b := range find[*rbacv1.ClusterRoleBinding](r) {
		if isSA(b.Subjects) && grants(b.RoleRef) {
			return true
		}
	}
	for _, b := range find[*rbacv1.RoleBinding](r) {
		if b.Namespace == ns && isSA(b.Subjects) && grants(b.RoleRef) {
			return true
		}
	}
	return false
}

// TestChart_EventsRBACGrantsCreateOnly: with events, the injector may
// create events.k8s.io events, in every namespace or only in those
// listed, and do nothing else (no patch, no core/v1 events, no pods, no
// wildcard); without events it may do nothing, mounts no token, and the
// webhook declares no side effect.
func TestChart_EventsRBACGrantsCreateOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		events  map[string]any
		allowed []string // namespaces where create is allowed ("*": any tested)
	}{
		{"every namespace", nil, []string{"*"}},
		{"listed namespaces", map[string]any{"namespaces": []any{"agents", "bots"}}, []string{"agents", "bots"}},
		{"off", map[string]any{"enabled": false}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if tc.events != nil {
				vals["events"] = tc.events
			}
			r := mustRender(t, vals)
			for _, ns := range []string{"agents", "bots", "default", releaseNS} {
				want := slices.Contains(tc.allowed, "*") || slices.Contains(tc.allowed, ns)
				if got := allows(t, r, "create", "events.k8s.io", "events", ns); got != want {
					t.Errorf("create events.k8s.io events in %s: %v, want %v", ns, got, want)
				}
				for _, no := range [][3]string{{"patch", "events.k8s.io", "events"}, {"update", "events.k8s.io", "events"},
					{"create", "", "events"}, {"create", "", "pods"}, {"get", "", "secrets"}, {"list", "events.k8s.io", "events"}} {
					if allows(t, r, no[0], no[1], no[2], ns) {
						t.Errorf("%s %s/%s in %s: allowed", no[0], no[1], no[2], ns)
					}
				}
			}
			for _, role := range find[*rbacv1.ClusterRole](r) {
				for _, rule := range role.Rules {
					for _, v := range slices.Concat(rule.Verbs, rule.APIGroups, rule.Resources) {
						if strings.Contains(v, "*") {
							t.Errorf("ClusterRole %s: a wildcard in %+v", role.Name, rule)
						}
					}
					if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
						t.Errorf("ClusterRole %s: rule %+v", role.Name, rule)
					}
				}
			}
			dep := one[*appsv1.Deployment](t, r, injectorName)
			spec := dep.Spec.Template.Spec
			on := tc.events["enabled"] != false
			if mounted := spec.AutomountServiceAccountToken != nil && *spec.AutomountServiceAccountToken; mounted != on {
				t.Errorf("token mounted %v with events %v", mounted, on)
			}
			if off := slices.Contains(spec.Containers[0].Args, "--events=false"); off == on {
				t.Errorf("args %q with events %v", spec.Containers[0].Args, on)
			}
			want := admissionregistrationv1.SideEffectClassNone
			if on {
				want = admissionregistrationv1.SideEffectClassNoneOnDryRun
			}
			mwc := one[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, injectorName)
			if se := mwc.Webhooks[0].SideEffects; se == nil || *se != want {
				t.Errorf("sideEffects %v, want %s", se, want)
			}
		})
	}
}

// TestChart_PodDisruptionBudget: a budget over the injector's pods when
// it runs two replicas or more, none with one unless asked (it would
// block every drain of that node), none when off; the bound set is the
// one rendered.
func TestChart_PodDisruptionBudget(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int
		pdb      map[string]any
		want     string // "": no budget; else "min=V" or "max=V"
	}{
		{"defaults", 2, nil, "max=1"},
		{"three replicas", 3, nil, "max=1"},
		{"one replica", 1, nil, ""},
		{"one replica, asked", 1, map[string]any{"enabled": true, "minAvailable": 1, "maxUnavailable": ""}, "min=1"},
		{"off", 2, map[string]any{"enabled": false}, ""},
		{"min available", 3, map[string]any{"minAvailable": 2, "maxUnavailable": ""}, "min=2"},
		{"percentage", 4, map[string]any{"maxUnavailable": "25%"}, "max=25%"},
		{"no replica", 0, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{"injector": map[string]any{"replicas": tc.replicas}}
			if tc.pdb != nil {
				vals["podDisruptionBudget"] = tc.pdb
			}
			r := mustRender(t, vals)
			budgets := find[*policyv1.PodDisruptionBudget](r)
			if tc.want == "" {
				if len(budgets) != 0 {
					t.Errorf("%d budgets, want none", len(budgets))
				}
				return
			}
			if len(budgets) != 1 {
				t.Fatalf("%d budgets, want one", len(budgets))
			}
			b := budgets[0]
			got := ""
			switch {
			case b.Spec.MinAvailable != nil && b.Spec.MaxUnavailable == nil:
				got = "min=" + b.Spec.MinAvailable.String()
			case b.Spec.MaxUnavailable != nil && b.Spec.MinAvailable == nil:
				got = "max=" + b.Spec.MaxUnavailable.String()
			}
			if got != tc.want {
				t.Errorf("budget %s, want %s", got, tc.want)
			}
			dep := one[*appsv1.Deployment](t, r, injectorName)
			sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) || b.Namespace != dep.Namespace {
				t.Errorf("budget %s/%s selects %v (%v), the injector's pods are %v in %s", b.Namespace, b.Name, b.Spec.Selector, err, dep.Spec.Template.Labels, dep.Namespace)
			}
			if b.Spec.UnhealthyPodEvictionPolicy == nil || *b.Spec.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow {
				t.Errorf("unhealthyPodEvictionPolicy %v", b.Spec.UnhealthyPodEvictionPolicy)
			}
		})
	}
}

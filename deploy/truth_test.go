package deploy

import (
	"encoding/json"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// The chart and deploy/examples/injector.yaml install the same injector;
// cmd/audit-sidecar's TestInjectFlags_DeployExampleParses holds
// injector.yaml to the command's flags, and these tests hold the chart to
// injector.yaml, so that none of the three drifts from the others.

// sameAs fails when got and want differ, showing both.
func sameAs(t *testing.T, what string, got, want any) {
	t.Helper()
	if !equality.Semantic.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s: the chart renders\n%s\ninjector.yaml holds\n%s", what, g, w)
	}
}

// TestChart_InjectorIsTheExamples: with its defaults, the chart's injector
// pod (image, args, env, ports, probes, resources, security contexts,
// volumes), Service, ServiceAccount, events RBAC, PodDisruptionBudget and
// webhook (rules, namespace selector, failure policy, side effects,
// timeout, service path and port) are those of
// injector.yaml; with cert-manager, so is the annotation that fills the
// caBundle, and the Certificate fills the Secret the pod mounts.
func TestChart_InjectorIsTheExamples(t *testing.T) {
	ex := readExample(t, injectorExample)
	exDep := one[*appsv1.Deployment](t, ex, injectorName)
	exSvc := one[*corev1.Service](t, ex, injectorName)
	exSA := one[*corev1.ServiceAccount](t, ex, injectorName)
	exMWC := one[*admissionregistrationv1.MutatingWebhookConfiguration](t, ex, injectorName)
	exNS := one[*corev1.Namespace](t, ex, releaseNS)
	exRole := one[*rbacv1.ClusterRole](t, ex, injectorName+"-events")
	exBinding := one[*rbacv1.ClusterRoleBinding](t, ex, injectorName+"-events")
	exPDB := one[*policyv1.PodDisruptionBudget](t, ex, injectorName)

	for _, certManager := range []bool{false, true} {
		r := mustRender(t, map[string]any{"certManager": map[string]any{"enabled": certManager}})
		dep := one[*appsv1.Deployment](t, r, injectorName)
		if dep.Namespace != exNS.Name || exDep.Namespace != exNS.Name {
			t.Errorf("namespaces %q and %q, want %q", dep.Namespace, exDep.Namespace, exNS.Name)
		}
		sameAs(t, "Deployment replicas", dep.Spec.Replicas, exDep.Spec.Replicas)
		sameAs(t, "Deployment selector", dep.Spec.Selector, exDep.Spec.Selector)
		sameAs(t, "pod labels", dep.Spec.Template.Labels, exDep.Spec.Template.Labels)
		sameAs(t, "pod spec", dep.Spec.Template.Spec, exDep.Spec.Template.Spec)
		svc := one[*corev1.Service](t, r, injectorName)
		sameAs(t, "Service spec", svc.Spec, exSvc.Spec)
		sa := one[*corev1.ServiceAccount](t, r, injectorName)
		sameAs(t, "ServiceAccount token", sa.AutomountServiceAccountToken, exSA.AutomountServiceAccountToken)
		sameAs(t, "ClusterRole rules", one[*rbacv1.ClusterRole](t, r, injectorName+"-events").Rules, exRole.Rules)
		crb := one[*rbacv1.ClusterRoleBinding](t, r, injectorName+"-events")
		sameAs(t, "ClusterRoleBinding roleRef", crb.RoleRef, exBinding.RoleRef)
		sameAs(t, "ClusterRoleBinding subjects", crb.Subjects, exBinding.Subjects)
		sameAs(t, "PodDisruptionBudget spec", one[*policyv1.PodDisruptionBudget](t, r, injectorName).Spec, exPDB.Spec)

		mwc := one[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, injectorName)
		webhooks := make([]admissionregistrationv1.MutatingWebhook, len(mwc.Webhooks))
		for i, w := range mwc.Webhooks {
			if (len(w.ClientConfig.CABundle) == 0) != certManager {
				t.Errorf("cert-manager %v: caBundle of %d bytes", certManager, len(w.ClientConfig.CABundle))
			}
			w.ClientConfig.CABundle = nil // injector.yaml leaves it to cert-manager or to the operator
			webhooks[i] = w
		}
		sameAs(t, "webhooks", webhooks, exMWC.Webhooks)

		const injectCA = "cert-manager.io/inject-ca-from"
		if certManager {
			sameAs(t, injectCA, mwc.Annotations[injectCA], exMWC.Annotations[injectCA])
			c := one[*certificate](t, r, tlsSecret(t, dep))
			if c.Spec.SecretName != tlsSecret(t, dep) || c.Namespace+"/"+c.Name != mwc.Annotations[injectCA] {
				t.Errorf("Certificate %s/%s fills %q, the pod mounts %q, the webhook's CA comes from %q",
					c.Namespace, c.Name, c.Spec.SecretName, tlsSecret(t, dep), mwc.Annotations[injectCA])
			}
		} else if _, ok := mwc.Annotations[injectCA]; ok {
			t.Errorf("%s without cert-manager", injectCA)
		}
	}
	if tlsSecret(t, exDep) != injectorName+"-tls" {
		t.Errorf("injector.yaml mounts %q", tlsSecret(t, exDep))
	}
}

// tlsSecret is the Secret the injector's pod mounts its certificate from.
func tlsSecret(t *testing.T, d *appsv1.Deployment) string {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	t.Fatalf("%s mounts no Secret", d.Name)
	return ""
}

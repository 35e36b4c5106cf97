package deploy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/inject"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// TestChart_SelfSignedTLS: without cert-manager, the Secret the injector
// mounts holds a certificate for the Service's names, signed by the CA in
// the webhook's caBundle, with its key; each render (each install or
// upgrade) makes a new CA, as values.yaml and the README say.
func TestChart_SelfSignedTLS(t *testing.T) {
	var bundles [][]byte
	for range 2 {
		r := mustRender(t, nil)
		dep := one[*appsv1.Deployment](t, r, injectorName)
		sec := one[*corev1.Secret](t, r, tlsSecret(t, dep))
		if sec.Type != corev1.SecretTypeTLS {
			t.Errorf("Secret type %q", sec.Type)
		}
		if _, err := tls.X509KeyPair(sec.Data["tls.crt"], sec.Data["tls.key"]); err != nil {
			t.Fatalf("tls.crt and tls.key: %v", err)
		}
		mwc := one[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, injectorName)
		caBundle := mwc.Webhooks[0].ClientConfig.CABundle
		if string(caBundle) != string(sec.Data["ca.crt"]) {
			t.Error("the Secret's ca.crt is not the webhook's caBundle")
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(caBundle) {
			t.Fatal("caBundle holds no PEM certificate")
		}
		block, _ := pem.Decode(sec.Data["tls.crt"])
		if block == nil {
			t.Fatal("tls.crt holds no PEM block")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		svc := mwc.Webhooks[0].ClientConfig.Service
		// The API server calls https://<service>.<namespace>.svc:443.
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: svc.Name + "." + svc.Namespace + ".svc", Roots: roots}); err != nil {
			t.Errorf("the certificate, checked as the API server does: %v", err)
		}
		bundles = append(bundles, caBundle)
	}
	if string(bundles[0]) == string(bundles[1]) {
		t.Error("two renders made the same CA")
	}
}

// TestChart_ExampleAgentIsInjected: the example agent's pod template is a
// pod the injector adds the sidecar to, the injected pod decodes strictly
// and stays restricted, and the ServiceMonitor reaches its sidecar's
// admin port through the agent's Service.
func TestChart_ExampleAgentIsInjected(t *testing.T) {
	r := mustRender(t, map[string]any{"exampleAgent": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true}})
	dep := one[*appsv1.Deployment](t, r, "example-agent")
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: *dep.Spec.Template.ObjectMeta.DeepCopy(),
		Spec:       *dep.Spec.Template.Spec.DeepCopy(),
	}
	pod.GenerateName, pod.Namespace = dep.Name+"-7d9f8b6c5-", dep.Namespace
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	res, err := inject.Mutate(raw, dep.Namespace, chartOptions(t, r))
	if err != nil || res.Pod == nil {
		t.Fatalf("the injector does not inject the example agent: %v %s", err, res.Skipped)
	}
	objs, err := decodeAll(t, res.Pod)
	if err != nil || len(objs) != 1 {
		t.Fatalf("the injected pod: %v", err)
	}
	injected := objs[0].(*corev1.Pod)
	checkRestricted(t, "injected example agent", &injected.Spec)

	// The plain YAML's native pod is rendered by the same injector with its
	// defaults, which are the chart's: the same sidecar, the same volumes.
	ex := one[*corev1.Pod](t, readExample(t, "examples/pod-native.yaml"), "support-bot")
	sameAs(t, "the injected sidecar (pod-native.yaml)", sidecarOf(t, injected), sidecarOf(t, ex))
	sameAs(t, "the injected volumes (pod-native.yaml)", injected.Spec.Volumes, ex.Spec.Volumes)
	var admin *corev1.ContainerPort
	for _, c := range append(slices.Clone(injected.Spec.InitContainers), injected.Spec.Containers...) {
		for _, p := range c.Ports {
			if c.Name == inject.ContainerName && p.Name == inject.AdminPortName {
				admin = &p
			}
		}
	}
	if admin == nil {
		t.Fatal("the injected sidecar has no admin port")
	}

	svc := one[*corev1.Service](t, r, "example-agent-audit")
	for _, l := range []map[string]string{dep.Labels, svc.Labels} {
		if l["app.kubernetes.io/name"] != dep.Name || l["app.kubernetes.io/instance"] != releaseName {
			t.Errorf("the example agent's objects are labelled %v: want its name, and the release", l)
		}
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(injected.Labels)) {
		t.Errorf("the Service selects %v, not the agent's pods %v", svc.Spec.Selector, injected.Labels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != admin.Name || svc.Spec.Ports[0].Port != admin.ContainerPort {
		t.Errorf("the Service's ports %+v do not lead to the sidecar's %+v", svc.Spec.Ports, admin)
	}
	sm := one[*serviceMonitor](t, r, injectorName+"-sidecars")
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(svc.Labels)) || !sm.Spec.NamespaceSelector.Any {
		t.Errorf("the ServiceMonitor (%v, any namespace %v) does not select the agent's Service %v", sel, sm.Spec.NamespaceSelector.Any, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("endpoints %+v", sm.Spec.Endpoints)
	}
}

// TestChart_ValuesReachTheInjector: the failure policy is the webhook's and
// the injector's alike; the sidecar's settings become the injector's
// flags; the release's namespace is where everything goes and the one
// namespace the webhook never sends, with those excludeNamespaces adds.
func TestChart_ValuesReachTheInjector(t *testing.T) {
	r, err := render(t, "audit", map[string]any{
		"image":       map[string]any{"repository": "registry.example/audit-sidecar", "tag": "1.2.3"},
		"webhook":     map[string]any{"failurePolicy": "Ignore", "timeoutSeconds": 10, "excludeNamespaces": []any{"kube-system", "audit", "istio-system"}},
		"sidecar":     map[string]any{"adminPort": 9191, "cpuRequest": "10m", "memoryRequest": "32Mi", "memoryLimit": "128Mi"},
		"injector":    map[string]any{"mode": "classic", "logLevel": "debug"},
		"certManager": map[string]any{"enabled": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	dep := one[*appsv1.Deployment](t, r, injectorName)
	c := dep.Spec.Template.Spec.Containers[0]
	want := []string{"inject", "--listen=:8443", "--cert-file=/etc/audit-sidecar-injector/tls/tls.crt", "--key-file=/etc/audit-sidecar-injector/tls/tls.key",
		"--image=registry.example/audit-sidecar:1.2.3", "--mode=classic", "--failure-policy=Ignore",
		"--admin-port=9191", "--cpu-request=10m", "--memory-request=32Mi", "--memory-limit=128Mi", "--log-level=debug"}
	if c.Image != "registry.example/audit-sidecar:1.2.3" || !slices.Equal(c.Args, want) {
		t.Errorf("image %s args %q, want %q", c.Image, c.Args, want)
	}
	mwc := one[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, injectorName)
	w := mwc.Webhooks[0]
	if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Ignore || *w.TimeoutSeconds != 10 {
		t.Errorf("failurePolicy %v timeoutSeconds %v", w.FailurePolicy, w.TimeoutSeconds)
	}
	if w.ClientConfig.Service.Namespace != "audit" || mwc.Annotations["cert-manager.io/inject-ca-from"] != "audit/"+injectorName+"-tls" {
		t.Errorf("service %+v annotations %v", w.ClientConfig.Service, mwc.Annotations)
	}
	var notIn []string
	for _, e := range w.NamespaceSelector.MatchExpressions {
		if e.Key == "kubernetes.io/metadata.name" && e.Operator == metav1.LabelSelectorOpNotIn {
			notIn = e.Values
		}
	}
	if !slices.Equal(notIn, []string{"audit", "kube-system", "istio-system"}) {
		t.Errorf("namespaces never sent %q", notIn)
	}
	cert := one[*certificate](t, r, injectorName+"-tls")
	if !slices.Contains(cert.Spec.DNSNames, injectorName+".audit.svc") {
		t.Errorf("the certificate's names %q", cert.Spec.DNSNames)
	}
	for _, o := range r.objs {
		if m := objectMeta(t, o); m.namespace != "audit" && !clusterScoped[m.kind] {
			t.Errorf("%s %s in %q", m.kind, m.name, m.namespace)
		}
	}
}

// TestChart_RefusesBadValues: what the injector or the API server would
// refuse, and a key the chart does not know, is refused at render time by
// values.schema.json with the key named; the templates refuse the same
// values when the schema is skipped (--skip-schema-validation).
func TestChart_RefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name         string
		ns           string
		vals         map[string]any
		schema, tmpl string // in the error with the schema, without it ("": renders)
	}{
		{"failure policy", releaseNS, map[string]any{"webhook": map[string]any{"failurePolicy": "fail"}}, "/webhook/failurePolicy", "webhook.failurePolicy"},
		{"timeout 0", releaseNS, map[string]any{"webhook": map[string]any{"timeoutSeconds": 0}}, "/webhook/timeoutSeconds", "webhook.timeoutSeconds"},
		{"timeout 31", releaseNS, map[string]any{"webhook": map[string]any{"timeoutSeconds": 31}}, "/webhook/timeoutSeconds", "webhook.timeoutSeconds"},
		{"mode", releaseNS, map[string]any{"injector": map[string]any{"mode": "sidecar"}}, "/injector/mode", "injector.mode"},
		{"agent in the release namespace", "agents", map[string]any{"exampleAgent": map[string]any{"enabled": true}}, "exampleAgent.namespace", "exampleAgent.namespace"},
		{"no name", releaseNS, map[string]any{"fullnameOverride": ""}, "/fullnameOverride", "fullnameOverride"},
		{"misspelt switch", releaseNS, map[string]any{"certmanager": map[string]any{"enabled": true}}, "certmanager", ""},
		{"misspelt key", releaseNS, map[string]any{"webhook": map[string]any{"failurepolicy": "Ignore"}}, "failurepolicy", ""},
		{"admin port", releaseNS, map[string]any{"sidecar": map[string]any{"adminPort": 70000}}, "/sidecar/adminPort", ""},
		{"budget switch", releaseNS, map[string]any{"podDisruptionBudget": map[string]any{"enabled": "yes"}}, "/podDisruptionBudget/enabled", ""},
		{"budget with both bounds", releaseNS, map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 1, "maxUnavailable": 1}}, "podDisruptionBudget", "podDisruptionBudget"},
		{"budget with no bound", releaseNS, map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": "", "maxUnavailable": ""}}, "podDisruptionBudget", "podDisruptionBudget"},
		{"budget percentage", releaseNS, map[string]any{"podDisruptionBudget": map[string]any{"maxUnavailable": "half"}}, "/podDisruptionBudget/maxUnavailable", ""},
		{"events namespace", releaseNS, map[string]any{"events": map[string]any{"namespaces": []any{"Agents"}}}, "/events/namespaces", ""},
		{"api server port", releaseNS, map[string]any{"networkPolicy": map[string]any{"apiServer": map[string]any{"ports": []any{0}}}}, "/networkPolicy/apiServer/ports", ""},
		// The injector exits 2 on these: with failurePolicy Fail, no pod
		// would be created in a labelled namespace.
		{"sidecar cpu request", releaseNS, map[string]any{"sidecar": map[string]any{"cpuRequest": "half a core"}}, "/sidecar/cpuRequest", ""},
		{"sidecar memory request", releaseNS, map[string]any{"sidecar": map[string]any{"memoryRequest": "64MB"}}, "/sidecar/memoryRequest", ""},
		{"sidecar memory limit", releaseNS, map[string]any{"sidecar": map[string]any{"memoryLimit": "256 Mi"}}, "/sidecar/memoryLimit", ""},
		{"sidecar image with a blank", releaseNS, map[string]any{"sidecar": map[string]any{"image": "registry.example/audit-sidecar :1.0"}}, "/sidecar/image", ""},
		{"issuer kind", releaseNS, map[string]any{"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "a", "kind": "Issuers"}}}, "/certManager/issuerRef/kind", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, schema := range []bool{true, false} {
				want := map[bool]string{true: tc.schema, false: tc.tmpl}[schema]
				_, err := renderSchema(t, tc.ns, tc.vals, schema)
				switch {
				case want == "" && err != nil:
					t.Errorf("schema %v: %v", schema, err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("schema %v: error %v, want one naming %s", schema, err, want)
				}
			}
		})
	}
}

// TestChart_StrictDecodingOfTheOperatorsKinds: the kinds outside
// k8s.io/api are decoded as strictly as the others.
func TestChart_StrictDecodingOfTheOperatorsKinds(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: a}\nspec: {endpoints: [{port: a, intervall: 30s}]}\n",
		"wrong case":    "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\nspec: {secretName: a, DNSNames: [a]}\n",
		"duplicate":     "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: a, name: b}\nspec: {selfSigned: {}}\n",
		"bad duration":  "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\nspec: {secretName: a, duration: a year}\n",
		"misplaced":     "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\nsecretName: a\n",
	} {
		if _, err := decodeAll(t, []byte(doc)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// clusterScoped are the kinds the chart renders without a namespace.
var clusterScoped = map[string]bool{"MutatingWebhookConfiguration": true, "ClusterRole": true, "ClusterRoleBinding": true}

// sidecarOf is the pod's sidecar container.
func sidecarOf(t *testing.T, p *corev1.Pod) corev1.Container {
	t.Helper()
	for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
		if c.Name == inject.ContainerName {
			return c
		}
	}
	t.Fatalf("pod %s has no sidecar", p.Name)
	return corev1.Container{}
}

// chartOptions are the injector's settings as the chart's args give them
// (cmd/audit-sidecar's TestInjectFlags_ChartParses checks the same args
// with the command's own parser).
func chartOptions(t *testing.T, r rendered) inject.Options {
	t.Helper()
	c := one[*appsv1.Deployment](t, r, injectorName).Spec.Template.Spec.Containers[0]
	o := inject.Options{Namespace: one[*appsv1.Deployment](t, r, injectorName).Namespace}
	for _, a := range c.Args[1:] {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch name {
		case "listen", "cert-file", "key-file", "log-level", "events":
		case "image":
			o.Image = value
		case "mode":
			o.Mode = inject.Mode(value)
		case "failure-policy":
			o.FailurePolicy = inject.FailurePolicy(value)
		case "admin-port":
			port, err := strconv.ParseInt(value, 10, 32)
			if err != nil {
				t.Fatalf("arg %q: %v", a, err)
			}
			o.AdminPort = int32(port)
		case "cpu-request":
			o.CPURequest = value
		case "memory-request":
			o.MemoryRequest = value
		case "memory-limit":
			o.MemoryLimit = value
		default:
			t.Fatalf("arg %q: not known here", a)
		}
	}
	return o
}

// TestChart_SidecarQuantitiesTheInjectorTakes: the sidecar's resources
// a user plausibly writes (a string or a bare number) render, and the
// flags they become are ones the injector starts with.
func TestChart_SidecarQuantitiesTheInjectorTakes(t *testing.T) {
	for _, q := range []any{"250m", "0.5", ".5", "1", "1Gi", "512M", "1e3", 2} {
		r, err := render(t, releaseNS, map[string]any{"sidecar": map[string]any{"cpuRequest": q, "memoryRequest": q, "memoryLimit": q}})
		if err != nil {
			t.Errorf("%v: %v", q, err)
			continue
		}
		args := one[*appsv1.Deployment](t, r, injectorName).Spec.Template.Spec.Containers[0].Args
		o := inject.Options{Namespace: releaseNS}
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--cpu-request="); ok {
				o.CPURequest = v
			}
			if v, ok := strings.CutPrefix(a, "--memory-limit="); ok {
				o.MemoryLimit = v
			}
		}
		if o.CPURequest == "" || o.MemoryLimit == "" || len(o.Validate()) > 0 {
			t.Errorf("%v: args %q: %v", q, args, o.Validate())
		}
	}
}

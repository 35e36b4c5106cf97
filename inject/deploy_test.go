package inject

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// strictDecoder decodes YAML into the k8s.io/api types as the API server
// does with fieldValidation=Strict: an unknown or duplicated field, or a
// field name in the wrong case, is an error.
func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, admissionregistrationv1.AddToScheme, rbacv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true})
}

// decodeAll decodes every object of a YAML stream.
func decodeAll(t *testing.T, dec runtime.Decoder, data []byte) ([]runtime.Object, error) {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return objs, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return objs, err
		}
		objs = append(objs, obj)
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(append(out, l...), '\n')
		}
	}
	return out
}

func TestDeploy_EveryObjectDecodesStrictly(t *testing.T) {
	dec := strictDecoder(t)
	var files []string
	err := filepath.WalkDir("../deploy", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p == "../deploy/helm" {
			return filepath.SkipDir // templates, not objects: package deploy renders and decodes them
		}
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pod-native.yaml", "pod-classic.yaml", "injector.yaml"} {
		if !slices.Contains(files, filepath.Join(examplesDir, want)) {
			t.Errorf("deploy/examples/%s missing", want)
		}
	}
	kinds := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeAll(t, dec, data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(objs) == 0 {
			t.Errorf("%s: no object", f)
		}
		for _, o := range objs {
			kinds[o.GetObjectKind().GroupVersionKind().Kind]++
			if p, ok := o.(*corev1.Pod); ok {
				checkExamplePod(t, f, p)
			}
		}
	}
	for _, k := range []string{"Pod", "ConfigMap", "Namespace", "ServiceAccount", "Deployment", "Service", "MutatingWebhookConfiguration",
		"ClusterRole", "ClusterRoleBinding", "PodDisruptionBudget"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in deploy/", k)
		}
	}
}

// checkExamplePod checks that an example pod is what the injector leaves
// alone, restricted in every container.
func checkExamplePod(t *testing.T, file string, p *corev1.Pod) {
	t.Helper()
	if res, err := Mutate(podJSON(t, p), p.Namespace, Options{Namespace: "audit-system"}); err != nil || res.Pod != nil {
		t.Errorf("%s: the injector would change the example pod again (%v)", file, err)
	}
	n := 0
	for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
		if c.Name == ContainerName {
			n++
			checkRestricted(t, c.SecurityContext)
		}
	}
	if n != 1 {
		t.Errorf("%s: %d sidecar containers", file, n)
	}
}

func TestDeploy_StrictDecoderRefusesUnknownFields(t *testing.T) {
	dec := strictDecoder(t)
	for name, doc := range map[string]string{
		"unknown field":  "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: b, imagePullPolicyy: Always}]}\n",
		"wrong case":     "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {Containers: [{name: a, image: b}]}\n",
		"duplicate":      "apiVersion: v1\nkind: Pod\nmetadata: {name: a, name: b}\n",
		"unknown kind":   "apiVersion: v1\nkind: Pood\nmetadata: {name: a}\n",
		"no apiVersion":  "kind: Pod\nmetadata: {name: a}\n",
		"wrong type":     "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: b, restartPolicy: [Always]}]}\n",
		"bad in stream2": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a, nmae: b}\n",
	} {
		if _, err := decodeAll(t, dec, []byte(doc)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"
)

const (
	chartDir        = "helm/audit-sidecar"
	releaseName     = "audit-sidecar"
	releaseNS       = "audit-system"
	injectorName    = "audit-sidecar-injector"
	injectorExample = "examples/injector.yaml"
)

// rendered is a rendered chart or manifest: every object, decoded strictly.
type rendered struct {
	objs []runtime.Object
}

// render renders the chart as `helm install --namespace ns` does, with
// vals over values.yaml, checked against values.schema.json; templates
// referring to a value that does not exist are errors (the engine's strict
// mode).
func render(t *testing.T, ns string, vals map[string]any) (rendered, error) {
	t.Helper()
	return renderSchema(t, ns, vals, true)
}

// renderSchema is render, values checked against the schema or not (as
// `helm install --skip-schema-validation`).
func renderSchema(t *testing.T, ns string, vals map[string]any, schema bool) (rendered, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := chartutil.ToRenderValuesWithSchemaValidation(chrt, vals, chartutil.ReleaseOptions{Name: releaseName, Namespace: ns, Revision: 1, IsInstall: true}, nil, !schema)
	if err != nil {
		return rendered{}, err
	}
	files, err := engine.Engine{Strict: true}.Render(chrt, rv)
	if err != nil {
		return rendered{}, err
	}
	var stream bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, ".yaml") {
			fmt.Fprintf(&stream, "---\n# Source: %s\n%s\n", name, files[name])
		}
	}
	objs, err := decodeAll(t, stream.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, stream.Bytes())
	}
	return rendered{objs}, nil
}

func mustRender(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	r, err := render(t, releaseNS, vals)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// kinds counts the objects of each kind.
func (r rendered) kinds() map[string]int {
	m := map[string]int{}
	for _, o := range r.objs {
		m[o.GetObjectKind().GroupVersionKind().Kind]++
	}
	return m
}

// find returns the objects of type T.
func find[T runtime.Object](r rendered) []T {
	var out []T
	for _, o := range r.objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// one returns the only object of type T named name.
func one[T interface {
	runtime.Object
	GetName() string
}](t *testing.T, r rendered, name string) T {
	t.Helper()
	var found []T
	for _, o := range find[T](r) {
		if o.GetName() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%d objects of type %T named %q, want 1", len(found), zero, name)
	}
	return found[0]
}

// strictDecoder decodes YAML into the k8s.io/api types as the API server
// does with fieldValidation=Strict: an unknown or duplicated field, or a
// field name in the wrong case, is an error.
func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, admissionregistrationv1.AddToScheme, networkingv1.AddToScheme, policyv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true})
}

// decodeAll decodes every object of a YAML stream: those of k8s.io/api
// into its types, the kinds of cert-manager and the Prometheus Operator
// into this package's own (crds.go), all strictly.
func decodeAll(t *testing.T, data []byte) ([]runtime.Object, error) {
	t.Helper()
	dec := strictDecoder(t)
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
		if onlyComments(doc) {
			continue
		}
		var tm metav1.TypeMeta
		if err := sigsyaml.Unmarshal(doc, &tm); err != nil {
			return objs, err
		}
		var obj runtime.Object
		if newCR, ok := customKinds[tm.APIVersion+"/"+tm.Kind]; ok {
			obj = newCR()
			err = decodeCustomStrictly(doc, obj)
		} else {
			obj, _, err = dec.Decode(doc, nil, nil)
		}
		if err != nil {
			return objs, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
		}
		objs = append(objs, obj)
	}
}

// decodeCustomStrictly decodes doc into obj, an unknown, duplicated or
// miscased field being an error, as the API server's strict decoding.
func decodeCustomStrictly(doc []byte, obj any) error {
	j, err := sigsyaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// onlyComments tells a document of comments and separators alone, as a
// template rendered with its switch off leaves.
func onlyComments(doc []byte) bool {
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 && l[0] != '#' && !bytes.Equal(l, []byte("---")) {
			return false
		}
	}
	return true
}

// readExample decodes a file of deploy/examples.
func readExample(t *testing.T, path string) rendered {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(t, data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rendered{objs}
}

func sortedKinds(m map[string]int) string {
	var s []string
	for k, n := range m {
		s = append(s, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

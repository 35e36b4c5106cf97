package inject

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// applyPatch applies ops (add, remove, replace) to the JSON document doc,
// as the API server does, and fails the test on a path that does not
// exist.
func applyPatch(t *testing.T, doc []byte, patch []byte) []byte {
	t.Helper()
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		t.Fatal(err)
	}
	var ops []map[string]any
	if err := json.Unmarshal(patch, &ops); err != nil {
		t.Fatalf("patch: %v", err)
	}
	for _, op := range ops {
		path := op["path"].(string)
		var err error
		root, err = applyOp(root, strings.Split(path, "/")[1:], op["op"].(string), op["value"])
		if err != nil {
			t.Fatalf("%s %s: %v", op["op"], path, err)
		}
	}
	out, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func applyOp(node any, toks []string, op string, v any) (any, error) {
	if len(toks) == 0 {
		if op == "replace" {
			return v, nil
		}
		return nil, fmt.Errorf("%s on the root", op)
	}
	tok := strings.ReplaceAll(strings.ReplaceAll(toks[0], "~1", "/"), "~0", "~")
	last := len(toks) == 1
	switch n := node.(type) {
	case map[string]any:
		child, ok := n[tok]
		if last {
			switch {
			case op == "add":
				n[tok] = v
			case !ok:
				return nil, fmt.Errorf("no member %q", tok)
			case op == "remove":
				delete(n, tok)
			default:
				n[tok] = v
			}
			return n, nil
		}
		if !ok {
			return nil, fmt.Errorf("no member %q", tok)
		}
		c, err := applyOp(child, toks[1:], op, v)
		n[tok] = c
		return n, err
	case []any:
		if last && op == "add" && tok == "-" {
			return append(n, v), nil
		}
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(n) {
			return nil, fmt.Errorf("no element %q", tok)
		}
		if last {
			switch op {
			case "replace":
				n[i] = v
				return n, nil
			case "remove":
				return append(n[:i], n[i+1:]...), nil
			}
			return nil, fmt.Errorf("%s inside an array is not used by Patch", op)
		}
		c, err := applyOp(n[i], toks[1:], op, v)
		n[i] = c
		return n, err
	}
	return nil, fmt.Errorf("%q inside a scalar", tok)
}

// decodeStrict decodes JSON into v, unknown fields being errors.
func decodeStrict(t *testing.T, b []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("strict decode into %T: %v", v, err)
	}
}

// podJSON is pod as the API server sends it to the webhook.
func podJSON(t *testing.T, pod *corev1.Pod) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// viewOf is what the injector reads of pod.
func viewOf(t *testing.T, pod *corev1.Pod) *podView {
	t.Helper()
	var v podView
	if err := json.Unmarshal(podJSON(t, pod), &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// agentPod is a pod of a Deployment "support-bot" with one container,
// annotated for injection, as the API server shows it to the webhook.
func agentPod() *corev1.Pod {
	yes := true
	return &corev1.Pod{
		TypeMeta: metaPod,
		ObjectMeta: metav1ObjectMeta("support-bot-7d9f8c6b5-", map[string]string{
			AnnotationInject:  "true",
			AnnotationLogPath: "/var/log/agent",
		}, "support-bot-7d9f8c6b5", &yes),
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "agent",
			Image: "registry.example/support-bot:1.4",
			VolumeMounts: []corev1.VolumeMount{
				{Name: "cache", MountPath: "/cache"},
			},
		}}, Volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	}
}

var metaPod = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}

func metav1ObjectMeta(generateName string, ann map[string]string, rs string, controller *bool) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		GenerateName: generateName,
		Annotations:  ann,
		Labels:       map[string]string{"app": "support-bot", "pod-template-hash": "7d9f8c6b5"},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, UID: "3c1e0d9a-0000-4000-8000-000000000001", Controller: controller,
		}},
	}
}

package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDocs_KubernetesNamespacesExist: docs/kubernetes.md followed
// literally, from an empty cluster, creates every namespace before a
// command names it (kubectl -n, --namespace, kubectl label namespace)
// and before it applies its objects there.
func TestDocs_KubernetesNamespacesExist(t *testing.T) {
	md, err := os.ReadFile("../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	objs := docsObjects(t)
	var lines []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllSubmatch(md, -1) {
		lines = append(lines, strings.Split(strings.ReplaceAll(string(m[1]), "\\\n", " "), "\n")...)
	}
	created := map[string]bool{}
	nsFlag := regexp.MustCompile(`(?:^|\s)(?:-n|--namespace)[ =]([a-z0-9-]+)`)
	for _, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "kubectl") && !strings.HasPrefix(strings.TrimSpace(l), "helm") {
			continue
		}
		if m := regexp.MustCompile(`kubectl create namespace ([a-z0-9-]+)`).FindStringSubmatch(l); m != nil {
			created[m[1]] = true
			continue
		}
		if strings.Contains(l, "--create-namespace") {
			for _, m := range nsFlag.FindAllStringSubmatch(l, -1) {
				created[m[1]] = true
			}
			continue
		}
		var named []string
		for _, m := range nsFlag.FindAllStringSubmatch(l, -1) {
			named = append(named, m[1])
		}
		if m := regexp.MustCompile(`kubectl label (?:namespace|ns) ([a-z0-9-]+)`).FindStringSubmatch(l); m != nil {
			named = append(named, m[1])
		}
		if strings.Contains(l, "kubectl apply -f") {
			for _, o := range objs {
				named = append(named, o.(metav1.Object).GetNamespace())
			}
		}
		for _, ns := range named {
			if !created[ns] {
				t.Errorf("namespace %q is not created before %q", ns, strings.TrimSpace(l))
			}
		}
	}
}

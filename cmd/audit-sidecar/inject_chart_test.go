package main

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/fips-agents/audit-sidecar/inject"
)

// TestInjectFlags_ChartParses renders the Helm chart's injector with every
// value that becomes a flag set, and checks that the command parses the
// args into those settings: a flag renamed in the command, or misspelt in
// the chart, fails here (package deploy holds the chart's defaults to
// deploy/examples/injector.yaml, which TestInjectFlags_DeployExampleParses
// holds to the command).
func TestInjectFlags_ChartParses(t *testing.T) {
	chrt, err := loader.Load("../../deploy/helm/audit-sidecar")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{
		"image":    map[string]any{"repository": "registry.example/audit-sidecar", "tag": "1.2.3"},
		"webhook":  map[string]any{"failurePolicy": "Ignore"},
		"injector": map[string]any{"mode": "classic", "logLevel": "debug"},
		"sidecar":  map[string]any{"image": "registry.example/audit-sidecar:1.2.4", "adminPort": 9191, "cpuRequest": "10m", "memoryRequest": "32Mi", "memoryLimit": "128Mi"},
		"events":   map[string]any{"enabled": false},
	}
	rv, err := chartutil.ToRenderValues(chrt, vals, chartutil.ReleaseOptions{Name: "audit-sidecar", Namespace: "audit", IsInstall: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Engine{Strict: true}.Render(chrt, rv)
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(files["audit-sidecar/templates/deployment.yaml"]), &dep); err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "inject" {
		t.Fatalf("args %q: want the inject command", c.Args)
	}
	t.Setenv("POD_NAMESPACE", dep.Namespace)
	f, code := parseInjectFlags(c.Args[1:])
	if f == nil {
		t.Fatalf("args %q do not parse (exit %d)", c.Args, code)
	}
	want := inject.Options{Image: "registry.example/audit-sidecar:1.2.4", Mode: inject.ModeClassic, AdminPort: 9191, Namespace: "audit",
		FailurePolicy: inject.Ignore, CPURequest: "10m", MemoryRequest: "32Mi", MemoryLimit: "128Mi"}
	if f.opts != want || f.level != "debug" || f.events || !strings.HasPrefix(c.Image, "registry.example/audit-sidecar:1.2.3") {
		t.Errorf("options %+v level %s image %s, want %+v", f.opts, f.level, c.Image, want)
	}
	if f.certFile == "" || f.keyFile == "" || f.listen != ":8443" {
		t.Errorf("listen %q cert %q key %q", f.listen, f.certFile, f.keyFile)
	}
}

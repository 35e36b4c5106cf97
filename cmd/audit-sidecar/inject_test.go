package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/fips-agents/audit-sidecar/inject"
)

// TestInjectFlags_DeployExampleParses checks the injector's manifest
// against the command: its args parse, and the webhook configuration
// agrees with them (failure policy, path, the sidecar's image).
func TestInjectFlags_DeployExampleParses(t *testing.T) {
	data, err := os.ReadFile("../../deploy/examples/injector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	var mwc *admissionregistrationv1.MutatingWebhookConfiguration
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var meta struct{ Kind string }
		if utilyaml.Unmarshal(doc, &meta) != nil {
			continue
		}
		switch meta.Kind {
		case "Deployment":
			dep = new(appsv1.Deployment)
			err = utilyaml.Unmarshal(doc, dep)
		case "MutatingWebhookConfiguration":
			mwc = new(admissionregistrationv1.MutatingWebhookConfiguration)
			err = utilyaml.Unmarshal(doc, mwc)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if dep == nil || mwc == nil || len(dep.Spec.Template.Spec.Containers) != 1 || len(mwc.Webhooks) != 1 {
		t.Fatal("injector.yaml: want one Deployment of one container and one webhook")
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "inject" {
		t.Fatalf("args %q: want the inject command", c.Args)
	}
	t.Setenv("POD_NAMESPACE", dep.Namespace) // from the downward API in the pod
	f, code := parseInjectFlags(c.Args[1:])
	if f == nil {
		t.Fatalf("args %q do not parse (exit %d)", c.Args, code)
	}
	wh := mwc.Webhooks[0]
	// Events need the token, and are the webhook's one side effect.
	token := dep.Spec.Template.Spec.AutomountServiceAccountToken
	if mounted := token != nil && *token; mounted != f.events || (*wh.SideEffects == admissionregistrationv1.SideEffectClassNoneOnDryRun) != f.events {
		t.Errorf("--events %v, token mounted %v, sideEffects %s", f.events, mounted, *wh.SideEffects)
	}
	if string(*wh.FailurePolicy) != f.policy {
		t.Errorf("failurePolicy %s, --failure-policy %s", *wh.FailurePolicy, f.policy)
	}
	if wh.ClientConfig.Service == nil || *wh.ClientConfig.Service.Path != "/mutate" || wh.ClientConfig.Service.Namespace != f.opts.Namespace {
		t.Errorf("clientConfig %+v", wh.ClientConfig)
	}
	if f.opts.Image != c.Image || f.opts.Image != inject.DefaultImage {
		t.Errorf("--image %s, injector image %s, default %s: one release", f.opts.Image, c.Image, inject.DefaultImage)
	}
}

func TestInjectFlags_Errors(t *testing.T) {
	for _, args := range [][]string{
		{"--key-file", "k"},
		{"--cert-file", "c", "--key-file", "k", "--namespace", "n", "--mode", "both"},
		{"--cert-file", "c", "--key-file", "k", "--namespace", "n", "--admin-port", "0"},
		{"--cert-file", "c", "--key-file", "k", "--namespace", ""},
		{"--cert-file", "c", "--key-file", "k", "--namespace", "n", "extra"},
	} {
		if f, code := parseInjectFlags(args); f != nil || code != exitUsage {
			t.Errorf("%q: %v %d", args, f, code)
		}
	}
	if f, code := parseInjectFlags([]string{"--help"}); f != nil || code != exitOK {
		t.Errorf("--help: %d", code)
	}
}

// TestBinary_LinksNoKubernetesModule: the injector shares the sidecar's
// binary, whose size every agent pod pays; k8s.io/api and apimachinery
// are for the tests only.
func TestBinary_LinksNoKubernetesModule(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		t.Skipf("no go tool: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "k8s.io/") {
			t.Errorf("the binary links %s", p)
		}
	}
}

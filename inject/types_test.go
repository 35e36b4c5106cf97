package inject

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestQuantityRe_AsTheAPIServer: Options.Validate accepts the quantities
// the API server parses, and no other, but for those without a number
// ("Mi", "-", "."), which the API server reads as 0 and Validate refuses.
func TestQuantityRe_AsTheAPIServer(t *testing.T) {
	for _, q := range []string{
		"50m", "64Mi", "256Mi", "1", "0", "0.5", ".5", "5.", "1.5Gi", "+1", "-1", "1e3", "1E-3", "1e+3", "1.e3", "00.00", "2k", "3M", "1Ki", "7Ei", "1n", "1u",
		"1e1000", "1e-1000", "99999999999999999999999999999Ei", "0.000000000000000000001",
		"", " 1", "1 ", "1mi", "1KI", "1K", "1e", "1e-", "1.2.3", "1e3.5", "1Mi2", "abc", "--1", "+-1", "1e3Mi", "1Gb", "1e+", "0x10", "Ei", "i", "e",
	} {
		_, err := resource.ParseQuantity(q)
		if got := quantityRe().MatchString(q); got != (err == nil) {
			t.Errorf("%q: accepted %v, the API server's parser %v", q, got, err)
		}
	}
	for _, q := range []string{"Mi", "-", ".", "+", "-.", "m", "e3", ".e3", "+Mi"} {
		if _, err := resource.ParseQuantity(q); err != nil || quantityRe().MatchString(q) {
			t.Errorf("%q: accepted %v, the API server's parser %v", q, quantityRe().MatchString(q), err)
		}
	}
}

// TestMutate_KeepsWhatItDoesNotKnow: members the injector has no type for
// (a newer API's, the status) come out as they went in, and the patch
// does not touch them.
func TestMutate_KeepsWhatItDoesNotKnow(t *testing.T) {
	raw := podJSON(t, agentPod())
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	spec := doc["spec"].(map[string]any)
	spec["futureField"] = map[string]any{"x": []any{1, "two"}}
	spec["containers"].([]any)[0].(map[string]any)["futureContainerField"] = true
	doc["status"] = map[string]any{"phase": "Pending"}
	raw, _ = json.Marshal(doc)
	raw = []byte(strings.Replace(string(raw), `"futureField":{`, `"big":9007199254740993,"futureField":{`, 1))

	res, err := Mutate(raw, "agents", testOpts)
	if err != nil || res.Pod == nil {
		t.Fatalf("%v %+v", err, res)
	}
	for _, want := range []string{`"futureField":{"x":[1,"two"]}`, `"futureContainerField":true`, `"status":{"phase":"Pending"}`, `"big":9007199254740993`} {
		if !strings.Contains(string(res.Pod), want) {
			t.Errorf("the injected pod lost %s", want)
		}
	}
	ops, err := Patch(raw, res.Pod)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		// A changed array is replaced whole: the agent's container with
		// its unknown member, as the injected pod holds it.
		if strings.HasPrefix(op.Path, "/status") || strings.HasPrefix(op.Path, "/spec/futureField") || strings.HasPrefix(op.Path, "/spec/big") ||
			op.Op == "remove" || op.Op == "replace" && op.Path != "/spec/containers" {
			t.Errorf("patch op %s %s", op.Op, op.Path)
		}
	}
	// What the injector added is a pod's, once the unknown members are gone.
	var pod corev1.Pod
	res2, err := Mutate(podJSON(t, agentPod()), "agents", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	decodeStrict(t, res2.Pod, &pod)
}

// TestMutate_NotAPod: JSON that is no pod object is refused as such.
func TestMutate_NotAPod(t *testing.T) {
	for _, doc := range []string{`[]`, `"pod"`, `{"metadata":{"annotations":{"audit.fips-agents.io/inject":"true"}},"spec":[]}`, `{`} {
		if _, err := Mutate([]byte(doc), "agents", testOpts); err == nil || !strings.Contains(err.Error(), "not a pod") {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// TestMutate_MembersSpelledOtherwise: the webhook's port takes requests
// from anyone who reaches it, not only from the API server, whose JSON is
// canonical. encoding/json matches a struct's members whatever their
// case, a generic map does not: a pod whose containers are under
// "Containers" (beside an empty "containers") is refused as no pod, and
// never panics the handler.
func TestMutate_MembersSpelledOtherwise(t *testing.T) {
	for _, doc := range []string{
		`{"metadata":{"name":"p","annotations":{"audit.fips-agents.io/inject":"true"}},"spec":{"containers":[],"Containers":[{"name":"agent","image":"a"}]}}`,
		`{"metadata":{"name":"p","annotations":{"audit.fips-agents.io/inject":"true"}},"spec":{"containers":[{"name":"x"}],"CONTAINERS":[{"name":"agent","image":"a"}]}}`,
		`{"metadata":{"name":"p","annotations":{"audit.fips-agents.io/inject":"true","audit.fips-agents.io/container":"b"}},"spec":{"containers":[{"name":"a"}],"Containers":[{"name":"a"},{"name":"b"}]}}`,
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic %v", doc, r)
				}
			}()
			if _, err := Mutate([]byte(doc), "agents", testOpts); err == nil || !strings.Contains(err.Error(), "not a pod") {
				t.Errorf("%s: %v", doc, err)
			}
		}()
	}
}

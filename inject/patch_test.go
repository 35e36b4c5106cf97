package inject

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestPatch_AppliedGivesAfter(t *testing.T) {
	for _, tc := range []struct{ name, before, after string }{
		{"equal", `{"a":1}`, `{"a":1}`},
		{"member added", `{"a":1}`, `{"a":1,"b":{"c":[1]}}`},
		{"member removed", `{"a":1,"b":2}`, `{"a":1}`},
		{"scalar replaced", `{"a":1}`, `{"a":"x"}`},
		{"null added", `{}`, `{"a":null}`},
		{"type changed", `{"a":[1]}`, `{"a":{"b":1}}`},
		{"array grew", `{"a":[1,2]}`, `{"a":[1,2,{"x":3},4]}`},
		{"array changed", `{"a":[1,2]}`, `{"a":[2,1,3]}`},
		{"array shrank", `{"a":[1,2]}`, `{"a":[1]}`},
		{"names with / and ~", `{"m":{"x/y":1}}`, `{"m":{"x/y":2,"a~b/c":"v","":0}}`},
		{"nested element", `{"s":{"c":[{"n":"a","v":[]}]}}`, `{"s":{"c":[{"n":"a","v":[{"m":"/x"}]}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := Patch([]byte(tc.before), []byte(tc.after))
			if err != nil {
				t.Fatal(err)
			}
			patch, err := json.Marshal(ops)
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			json.Unmarshal(applyPatch(t, []byte(tc.before), patch), &got) //nolint:errcheck // checked by DeepEqual
			json.Unmarshal([]byte(tc.after), &want)                       //nolint:errcheck // constant
			if !reflect.DeepEqual(got, want) {
				t.Errorf("patch %s gives %v, want %v", patch, got, want)
			}
			if tc.before == tc.after && len(ops) != 0 {
				t.Errorf("equal documents gave %s", patch)
			}
		})
	}
}

func TestPatch_RemoveHasNoValue(t *testing.T) {
	b, _ := json.Marshal([]Op{{Op: "remove", Path: "/a"}, {Op: "add", Path: "/b", Value: nil}})
	if string(b) != `[{"op":"remove","path":"/a"},{"op":"add","path":"/b","value":null}]` {
		t.Errorf("%s", b)
	}
}

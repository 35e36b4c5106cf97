package redact

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// explainFunc collects what ExplainJSONFunc hands out.
func explainFunc(t *testing.T, r *Redactor, in, root string) ([]byte, []Hit) {
	t.Helper()
	var hits []Hit
	out, err := r.ExplainJSONFunc(nil, []byte(in), root, nil, func(h Hit) { hits = append(hits, h) })
	if err != nil {
		t.Fatal(err)
	}
	return out, hits
}

// ExplainJSONFunc reports what ExplainJSON returns, in the same order,
// including JSON held in a string that turns out not to be JSON after a
// finding (its hits are those of the string scanned as text).
func TestExplainJSONFunc_SameAsExplainJSON(t *testing.T) {
	r := mustNew(t, Config{
		Packs: []string{"core", "secrets"},
		Rules: []Rule{{Name: "emp", Pattern: `EMP-\d+`}},
		Paths: []PathRule{{Path: "*.password", Action: "drop"}},
	})
	for _, in := range []string{
		`{"to":["x","mail dana@example.com"],"a b":{"password":"p"},"dana@example.com":"EMP-12",` +
			`"args":"{\"card\":\"4111111111111111\"}","n":4111111111111111,"cc":{"c1":"4111","c2":"1111","c3":"1111","c4":"1111"}}`,
		`{"args":"{\"e\":\"dana@example.com\", oops}","x":"bob@example.org and eve@example.net"}`,
		`{"a":"{\"b\":\"{\\\"c\\\":\\\"dana@example.com\\\"}\"}"}`,
		`["dana@example.com",{"k":"` + strings.Repeat("x", MaxValueBytes+1) + `"}]`,
	} {
		want, wantHits, err := r.ExplainJSON(nil, []byte(in), "arguments", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, hits := explainFunc(t, r, in, "arguments")
		if string(got) != string(want) {
			t.Errorf("%.60s: output\n%s\nwant\n%s", in, got, want)
		}
		if fmt.Sprint(hits) != fmt.Sprint(wantHits) {
			t.Errorf("%.60s: hits\n%v\nwant\n%v", in, hits, wantHits)
		}
	}
}

// Hits at one path share one Path string, so that a string of many
// findings costs no allocation per finding once its path is known.
func TestExplainJSONFunc_ManyHitsOnePath(t *testing.T) {
	r := mustNew(t, Config{})
	in := []byte(`{"x":"` + strings.Repeat("a@b.co ", 20000) + `"}`)
	var first, n int
	var paths = map[*byte]bool{}
	dst := make([]byte, 0, 2*len(in))
	if _, err := r.ExplainJSONFunc(dst, in, "detail", nil, func(h Hit) {
		n++
		paths[unsafe.StringData(h.Path)] = true
		if h.Path != "detail.x" {
			first++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if n != 20000 || len(paths) != 1 || first != 0 {
		t.Fatalf("%d hits, %d path strings, %d not at detail.x", n, len(paths), first)
	}
	allocs := testing.AllocsPerRun(3, func() {
		r.ExplainJSONFunc(dst[:0], in, "detail", nil, func(Hit) {}) //nolint:errcheck // checked above
	})
	if allocs > 10 {
		t.Errorf("%v allocations for 20000 hits at one path", allocs)
	}
}

// A hit deep in a document, or under a huge key, has its path cut at
// MaxHitPathBytes: the first bytes of the whole path.
func TestExplainJSONFunc_LongPathsCut(t *testing.T) {
	r := mustNew(t, Config{})
	deep := strings.Repeat(`{"k":`, 900) + `"dana@example.com"` + strings.Repeat(`}`, 900)
	hugeKey := `{"` + strings.Repeat("é ", 50000) + `":["dana@example.com","eve@example.com"]}`
	for name, in := range map[string]string{"deep": deep, "huge key": hugeKey} {
		_, want, err := r.ExplainJSON(nil, []byte(in), "detail", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, hits := explainFunc(t, r, in, "detail")
		if len(hits) != len(want) || len(hits) == 0 {
			t.Fatalf("%s: %d hits, want %d", name, len(hits), len(want))
		}
		for i, h := range hits {
			if len(h.Path) != MaxHitPathBytes || !strings.HasPrefix(want[i].Path, h.Path) {
				t.Errorf("%s: hit %d path of %d bytes %.40q, not the first %d bytes of %.40q", name, i, len(h.Path), h.Path, MaxHitPathBytes, want[i].Path)
			}
		}
	}
}

package record

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The builder keeps only the first paths and digests, yet its manifest is
// the one every path kept would make: the smallest MaxManifestPaths
// distinct (clipped) paths and the number of the others.
func TestManifestBuilder_SameAsEveryPathKept(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	orders := map[string]func(i, distinct int) int{
		"random":     func(_, distinct int) int { return rng.IntN(distinct) },
		"ascending":  func(i, distinct int) int { return i % distinct },
		"descending": func(i, distinct int) int { return distinct - 1 - i%distinct },
	}
	for name, order := range orders {
		for _, distinct := range []int{1, MaxManifestPaths, MaxManifestPaths + 1, 1000} {
			t.Run(fmt.Sprintf("%s/%d", name, distinct), func(t *testing.T) { manifestOfPaths(t, rng, distinct, order) })
		}
	}
}

// manifestOfPaths adds runs of hits at 5*distinct places drawn by order
// from distinct paths, some of them clipped to one, and checks the manifest.
func manifestOfPaths(t *testing.T, rng *rand.Rand, distinct int, order func(i, distinct int) int) {
	var b ManifestBuilder
	all := map[string]bool{}
	count := 0
	for i := range 5 * distinct {
		p := fmt.Sprintf("detail.x[%06d]", order(i, distinct))
		if rng.IntN(50) == 0 {
			p = strings.Repeat("k.", 200) + p // clipped: these all become one path
		}
		for range rng.IntN(3) + 1 { // runs at one place
			b.Add("builtin:EMAIL", "EMAIL", p)
			count++
		}
		all[clipPath(p)] = true
	}
	want := make([]string, 0, len(all))
	for p := range all {
		want = append(want, p)
	}
	slices.Sort(want)
	more := 0
	if len(want) > MaxManifestPaths {
		more, want = len(want)-MaxManifestPaths, want[:MaxManifestPaths]
	}
	m := b.Manifest("p")
	if r := m.Rules[0]; r.Count != count || !slices.Equal(r.Paths, want) || r.More != more {
		t.Errorf("%d distinct: count %d paths %q more %d; want %d %q %d", distinct, r.Count, r.Paths, r.More, count, want, more)
	}
}

// A run of hits at one place costs nothing per hit.
func TestManifestBuilder_RunAllocatesNothing(t *testing.T) {
	var b ManifestBuilder
	path := "detail.x"
	b.Add("builtin:EMAIL", "EMAIL", path)
	if n := testing.AllocsPerRun(1000, func() { b.Add("builtin:EMAIL", "EMAIL", path) }); n != 0 {
		t.Errorf("%v allocations per hit at the last path", n)
	}
}

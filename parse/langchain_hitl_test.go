package parse

import (
	"runtime"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
)

// A hostile line that nests a resume-looking value deep down costs its
// bytes a few times, not once per level: the interrupt walk reads members
// in place.
func TestLangChain_HITLWalk_MemoryBoundedByBytes(t *testing.T) {
	inner := `{"resume":{"decisions":[{"type":"x","pad":"` + strings.Repeat("a", 1<<20) + `"}]}}`
	for range 12 {
		inner = `{"k":[` + inner + `],"__interrupt__":[` + inner[:0] + `]}`
	}
	for _, parents := range []string{`[]`, `["p"]`} {
		line := []byte(`{"event":"on_chain_stream","run_id":"r","parent_ids":` + parents + `,"data":{"chunk":` + inner + `}}`)
		d := newLangChain(LangChainConfig{}.withDefaults())
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		n := 0
		d.Parse(Line{Text: line}, now, func(*record.Record) { n++ })
		runtime.ReadMemStats(&after)
		if n == 0 {
			t.Fatal("no record")
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 8*uint64(len(line)) {
			t.Errorf("parent_ids %s: a line of %d bytes allocated %d bytes, want at most 8 times its size", parents, len(line), got)
		} else {
			t.Logf("parent_ids %s: a line of %d bytes allocated %d bytes", parents, len(line), got)
		}
	}
}

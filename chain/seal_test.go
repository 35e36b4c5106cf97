package chain

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// A big record is encoded once into its payload: no buffer grown step by
// step, no copy, and nothing kept by the Sealer afterwards. Its payload
// and MAC are those of a record encoded the usual way.
func TestSeal_BigRecordEncodedOnce(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	detail := []byte(`{"x":"` + strings.Repeat(`a\u0000é`, 1<<20) + `"}`)
	r := &record.Record{TS: now, IngestedAt: now, Action: record.ActionToolCall, User: strings.Repeat("ü", 300), Detail: detail,
		Manifest: &record.Manifest{Policy: "rp1-x", Rules: []record.RuleHits{{Rule: "builtin:EMAIL", Type: "EMAIL", Count: 1, Paths: []string{"detail.x"}}}}}
	big, small := NewSealer("c", testKey(t), Head{}), NewSealer("c", testKey(t), Head{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := big.Seal(r)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(s.Payload))*5/4 {
		t.Errorf("sealing a payload of %d bytes allocated %d bytes", len(s.Payload), n)
	}
	if cap(big.buf) > maxSealBuf {
		t.Errorf("the sealer keeps a buffer of %d bytes", cap(big.buf))
	}
	want := record.AppendCanonical(nil, r)
	if !bytes.Equal(s.Payload, want) {
		t.Fatal("payload is not the canonical encoding")
	}
	if m := MAC(testKey(t), [32]byte{}, s.Payload); m != s.MAC {
		t.Error("MAC differs")
	}
	r2 := *r
	r2.Detail = []byte(`{"x":"small"}`)
	if s2 := small.Seal(&r2); !bytes.Equal(s2.Payload, record.AppendCanonical(nil, &r2)) {
		t.Fatal("small payload is not the canonical encoding")
	}
}

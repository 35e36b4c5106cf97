package verify

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
)

// WriteJSON writes exactly what json.Encoder with a two-space indent
// writes, for reports with and without chains, problems and checked.
func TestWriteJSON_SameAsEncoder(t *testing.T) {
	at := time.Date(2026, 11, 27, 1, 2, 3, 4, time.UTC)
	full := &Report{
		Verdict: Invalid,
		Chains: []chain.Summary{
			{Chain: "a<b>&c", Records: 12, Head: 12, Invalid: 1, Checkpoints: 1, CheckpointSize: 10, CheckpointTime: at},
			{Chain: "gone", Absent: true, Witness: chain.WitnessAbsent, WitnessedSize: 40, WitnessedTime: at},
		},
		Problems: []*chain.VerifyError{{Chain: "a<b>&c", Seq: 5, Reason: "mac mismatch"}, {Chain: "a<b>&c", Seq: 7, Through: 9, Reason: "records missing"}},
		Exposure: []string{"no witnessed checkpoint given", "chain a<b>&c: signed up to seq 10 at x; seq 12..12 not yet covered by a checkpoint"},
		Scope:    ScopeStore,
		Checked:  &Checked{Tool: Tool{Name: "audit-sidecar"}, RanAt: at, Chains: []Activity{{Chain: "a<b>&c", Records: 12, Actions: map[string]uint64{"tool_call": 11}}}},
	}
	full.Gaps = full.Problems[1:]
	for name, rep := range map[string]*Report{
		"full":             full,
		"empty slices":     {Verdict: Unverifiable, Chains: []chain.Summary{}, Problems: []*chain.VerifyError{}, Gaps: []*chain.VerifyError{}, Exposure: []string{}, Scope: ScopeExport},
		"nil, no checked":  {Verdict: Valid},
		"checked, no more": {Verdict: Valid, Checked: &Checked{}},
	} {
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&got, rep); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: WriteJSON differs from the encoder:\n%s\nwant:\n%s", name, got.String(), want.String())
		}
	}
}

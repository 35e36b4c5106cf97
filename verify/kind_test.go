package verify

import (
	"database/sql"
	"fmt"
	"testing"

	"github.com/fips-agents/audit-sidecar/chain"
)

// TestRun_ProblemKinds: each problem comes with the kind it was raised
// with, and the report's gaps are exactly the problems of KindMissing
// (chosen by kind, not by the words of the reason).
func TestRun_ProblemKinds(t *testing.T) {
	path, key := store(t, 12)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TRIGGER audit_records_no_update`, `DROP TRIGGER audit_records_no_delete`,
		`UPDATE audit_records SET payload = CAST(replace(CAST(payload AS TEXT), '"tool_call"', '"tool_cal1"') AS BLOB) WHERE chain='a' AND seq=5`,
		`UPDATE audit_records SET tenant='globex' WHERE chain='a' AND seq=9`,
		`DELETE FROM audit_records WHERE chain='b' AND seq BETWEEN 3 AND 4`,
		`UPDATE audit_records SET payload = (SELECT payload FROM audit_records WHERE chain='b' AND seq=9) WHERE chain='b' AND seq=8`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	rep := run(t, path, chain.Keyring{key.ID: key})
	want := map[string]chain.Kind{
		"a/5": chain.KindMAC,
		"a/9": chain.KindColumn,
		"b/3": chain.KindMissing,
		"b/8": chain.KindPayload,
	}
	got := map[string]chain.Kind{}
	for _, p := range rep.Problems {
		at := fmt.Sprintf("%s/%d", p.Chain, p.Seq)
		if _, dup := got[at]; dup {
			continue // the first problem of a record is the one checked
		}
		got[at] = p.Kind
	}
	for at, k := range want {
		if got[at] != k {
			t.Errorf("%s: kind %s, want %s; problems:\n%s", at, got[at], k, problemsText(rep))
		}
	}
	if len(rep.Gaps) != 1 || rep.Gaps[0].Chain != "b" || rep.Gaps[0].Seq != 3 || rep.Gaps[0].Through != 4 || rep.Gaps[0].Kind != chain.KindMissing {
		t.Errorf("gaps %v, want chain b seq 3-4", rep.Gaps)
	}
	for _, p := range rep.Problems {
		if p.Kind == 0 {
			t.Errorf("problem without a kind: %v", p)
		}
	}
}

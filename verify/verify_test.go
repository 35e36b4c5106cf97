package verify

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// store writes two chains of n records each into a real SQLite file and
// returns its path and the key.
func store(t *testing.T, n int) (string, chain.Key) {
	t.Helper()
	key, err := chain.NewKey("", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	db, err := sink.OpenSQLite(path, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range []string{"a", "b"} {
		s := chain.NewSealer(id, key, chain.Head{})
		var batch []record.Sealed
		for i := 0; i < n; i++ {
			r := &record.Record{TS: time.Unix(int64(i), 0), IngestedAt: time.Unix(int64(i), 0), Action: record.ActionToolCall, Tenant: "acme"}
			if i == 0 {
				r.Action = record.ActionChainStart
			}
			batch = append(batch, s.Seal(r))
		}
		if err := db.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	return path, key
}

func run(t *testing.T, path string, keys chain.Keyring) *Report {
	t.Helper()
	db, err := sink.OpenSQLite(path, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := Run(context.Background(), db, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRun(t *testing.T) {
	cases := []struct {
		name    string
		tamper  []string // SQL run with the triggers dropped
		verdict string
		want    []string // problem substrings, each must appear
	}{
		{"intact", nil, Valid, nil},
		{"payload byte", []string{`UPDATE audit_records SET payload = CAST(replace(CAST(payload AS TEXT), '"tool_call"', '"tool_cal1"') AS BLOB) WHERE chain='a' AND seq=5`}, Invalid, []string{`chain "a" seq 5: mac mismatch`}},
		{"deleted row", []string{`DELETE FROM audit_records WHERE chain='b' AND seq=7`}, Invalid, []string{`chain "b" seq 7: records missing`}},
		{"swapped payloads", []string{
			`UPDATE audit_records SET payload = (SELECT payload FROM audit_records WHERE chain='a' AND seq=4) WHERE chain='a' AND seq=3`,
		}, Invalid, []string{`chain "a" seq 3: payload names seq 4`}},
		{"replaced through INSERT OR REPLACE", []string{
			`INSERT OR REPLACE INTO audit_records (chain, seq, ts, ingested_at, action, tenant, kid, prev, mac, payload)
			 SELECT chain, seq, ts, ingested_at, action, tenant, kid, prev, mac,
			        CAST(replace(CAST(payload AS TEXT), '"acme"', '"evil"') AS BLOB)
			 FROM audit_records WHERE chain='a' AND seq=6`,
		}, Invalid, []string{`chain "a" seq 6: mac mismatch`}},
		{"indexed column only", []string{`UPDATE audit_records SET tenant='globex' WHERE chain='a' AND seq=9`}, Invalid, []string{`chain "a" seq 9: column tenant does not match the payload`}},
		{"two problems in two chains", []string{
			`UPDATE audit_records SET action='decision' WHERE chain='a' AND seq=2`,
			`DELETE FROM audit_records WHERE chain='b' AND seq BETWEEN 3 AND 5`,
		}, Invalid, []string{`chain "a" seq 2: column action`, `chain "b" seq 3-5: records missing`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, key := store(t, 12)
			if len(tc.tamper) > 0 {
				raw, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range append([]string{
					`DROP TRIGGER audit_records_no_update`, `DROP TRIGGER audit_records_no_delete`,
				}, tc.tamper...) {
					if _, err := raw.Exec(q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				raw.Close()
			}
			rep := run(t, path, chain.Keyring{key.ID: key})
			if rep.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s; problems %v", rep.Verdict, tc.verdict, rep.Problems)
			}
			var got []string
			for _, p := range rep.Problems {
				got = append(got, p.Error())
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("missing problem %q in\n%s", w, all)
				}
			}
			if len(rep.Chains) != 2 || rep.Chains[0].Records == 0 {
				t.Errorf("chains %+v", rep.Chains)
			}
		})
	}
}

func TestRun_UnknownKeyIsUnverifiable(t *testing.T) {
	path, _ := store(t, 3)
	other, _ := chain.NewKey("other", []byte(fmt.Sprintf("%032d", 7)))
	if rep := run(t, path, chain.Keyring{other.ID: other}); rep.Verdict != Unverifiable {
		t.Fatalf("verdict %s", rep.Verdict)
	}
}

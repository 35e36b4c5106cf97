package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	rep, err := Run(context.Background(), db, Options{Keys: keys}, nil)
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

// memStore is a Store of chains held in memory; scanning chain "fail"
// returns an error.
type memStore map[string][]sink.Row

func (m memStore) Chains(context.Context) ([]string, error) {
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func (m memStore) Scan(ctx context.Context, id string, fn func(sink.Row) error) error {
	if id == "fail" {
		return errors.New("disk on fire")
	}
	for _, r := range m[id] {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Chains are verified in parallel; the report is the same as a serial run:
// chains in store order, problems by chain then seq.
func TestRun_ManyChainsInParallel(t *testing.T) {
	key, err := chain.NewKey("", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	st := memStore{}
	for c := range 40 {
		id := fmt.Sprintf("pod-%02d", c)
		s := chain.NewSealer(id, key, chain.Head{})
		for i := range 50 {
			r := &record.Record{TS: time.Unix(int64(i), 0), IngestedAt: time.Unix(int64(i), 0), Action: record.ActionToolCall}
			if i == 0 {
				r.Action = record.ActionChainStart
			}
			sl := s.Seal(r)
			if c%7 == 3 && (i == 10 || i == 30) {
				sl.MAC[0] ^= 1 // two broken records in every seventh chain
			}
			st[id] = append(st[id], sink.Row{Chain: id, Seq: sl.Seq, Payload: sl.Payload, MAC: sl.MAC[:], Quarantined: true})
		}
	}
	var streamed int
	rep, err := Run(context.Background(), st, Options{Keys: chain.Keyring{key.ID: key}}, func(*chain.VerifyError) { streamed++ })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != Invalid || len(rep.Chains) != 40 {
		t.Fatalf("verdict %s over %d chains", rep.Verdict, len(rep.Chains))
	}
	var got []string
	for _, p := range rep.Problems {
		got = append(got, fmt.Sprintf("%s/%d", p.Chain, p.Seq))
	}
	// MAC mismatches at seq 11 and 31, and the broken link to seq 12 and 32.
	var want []string
	for _, c := range []int{3, 10, 17, 24, 31, 38} {
		for _, seq := range []int{11, 12, 31, 32} {
			want = append(want, fmt.Sprintf("pod-%02d/%d", c, seq))
		}
	}
	if !slices.Equal(got, want) || streamed != len(want) {
		t.Errorf("problems %v (%d streamed), want %v", got, streamed, want)
	}
	for i, s := range rep.Chains {
		if s.Chain != fmt.Sprintf("pod-%02d", i) || s.Records != 50 {
			t.Errorf("chains[%d] = %+v", i, s)
		}
	}

	st["fail"] = nil
	if _, err := Run(context.Background(), st, Options{Keys: chain.Keyring{key.ID: key}}, nil); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("a failing scan: err = %v", err)
	}
}

// An export file with two chains verifies whether their lines are grouped
// (each chain read from its own byte range) or interleaved (read through
// the whole file), and a tampered line is found in either layout. (Lines
// that break the framing, CRLF endings among them, are TestFileStore_Framing's.)
func TestFileStore_Layouts(t *testing.T) {
	key, err := chain.NewKey("", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	var lines [2][]string
	for c, id := range []string{"a", "b"} {
		s := chain.NewSealer(id, key, chain.Head{})
		for i := range 50 {
			r := &record.Record{Action: record.ActionDecision, TS: time.Unix(int64(i), 0), IngestedAt: time.Unix(int64(i), 0)}
			if i == 0 {
				r.Action = record.ActionChainStart
			}
			sealed := s.Seal(r)
			lines[c] = append(lines[c], string(record.AppendJSON(nil, sealed.Payload, sealed.MAC)))
		}
	}
	grouped := strings.Join(append(append([]string{}, lines[0]...), lines[1]...), "\n") + "\n"
	var mixed []string
	for i := range lines[0] {
		mixed = append(mixed, lines[0][i], lines[1][i])
	}
	interleaved := strings.Join(mixed, "\n") + "\n"
	for name, body := range map[string]string{"grouped": grouped, "interleaved": interleaved} {
		for _, tamper := range []bool{false, true} {
			if tamper {
				body = strings.Replace(body, `"seq":30,"ts":"1970-01-01T00:00:29`, `"seq":30,"ts":"1970-01-01T00:00:28`, 1)
			}
			path := filepath.Join(t.TempDir(), "export.ndjson")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			fs, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(context.Background(), fs, Options{Keys: chain.Keyring{key.ID: key}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := Valid
			if tamper {
				want = Invalid
			}
			if rep.Verdict != want || len(rep.Chains) != 2 || rep.Chains[0].Records != 50 || rep.Chains[1].Records != 50 {
				t.Errorf("%s, tampered %v: %s %+v %v", name, tamper, rep.Verdict, rep.Chains, rep.Problems)
			}
		}
	}
}

// Record lines of every payload version are routed by their canonical
// prefix, without a JSON decode.
func TestCanonicalPrefix(t *testing.T) {
	for _, l := range []string{`{"v":1,"chain":"a-b","seq":12,"ts":"x"}`, `{"v":2,"chain":"a-b","seq":12,"ts":"x"}`, `{"v":10,"chain":"a-b","seq":12,"ts":"x"}`} {
		if c, n, ok := canonicalPrefix([]byte(l)); !ok || c != "a-b" || n != 12 {
			t.Errorf("%s: %q %d %v", l, c, n, ok)
		}
	}
	for _, l := range []string{`{"v":,"chain":"a","seq":1,`, `{"chain":"a","seq":1,`, `{"v":2,"chain":"a\"b","seq":1,`} {
		if _, _, ok := canonicalPrefix([]byte(l)); ok {
			t.Errorf("%s: accepted", l)
		}
	}
}

package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// signedChain is a chain of records sealed as the sidecar seals them, with
// a signed checkpoint record after every 10 records (at seq 11, 21, ...,
// covering 10, 20, ... records), and what a witness kept of it.
type signedChain struct {
	key     chain.Key
	signer  *chain.NoteSigner
	trusted chain.Verifiers
	sealed  []record.Sealed
	// witnessed holds the checkpoints as a witness keeps them, by size.
	witnessed map[uint64]chain.Checkpoint
}

const witnessChain = "w"

// newSignedChain seals n records of chain witnessChain; tool names the
// tool of its agent records (a fork differs by it). A nil signer makes a
// new Ed25519 key.
func newSignedChain(t *testing.T, n int, tool string, signer *chain.NoteSigner) *signedChain {
	t.Helper()
	key, err := chain.NewKey("", []byte("witness-test-key-0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil {
		_, sk, _ := ed25519.GenerateKey(rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(sk)
		if signer, err = chain.ParseSigner(chain.DefaultSignerName, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			t.Fatal(err)
		}
	}
	sc := &signedChain{key: key, signer: signer, trusted: chain.Verifiers{signer.Verifier()}, witnessed: map[uint64]chain.Checkpoint{}}
	s := chain.NewSealer(witnessChain, key, chain.Head{})
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		r := &record.Record{TS: now, IngestedAt: now, Action: record.ActionToolCall, Tool: tool, Tenant: "acme"}
		switch {
		case i == 1:
			r = &record.Record{TS: now, IngestedAt: now, Action: record.ActionChainStart}
		case i%10 == 1:
			h, tr := s.Head(), s.Tree()
			c := chain.Checkpoint{Chain: witnessChain, Size: h.Seq, Root: tr.Root(), HeadMAC: h.MAC, Time: now}
			note, err := chain.Sign(c, signer)
			if err != nil {
				t.Fatal(err)
			}
			sc.witnessed[c.Size] = c
			r = &record.Record{TS: now, IngestedAt: now, Action: record.ActionCheckpoint, Detail: chain.CheckpointDetail(note, tr)}
		}
		sc.sealed = append(sc.sealed, s.Seal(r))
	}
	return sc
}

// witness returns the witnessed checkpoints of these sizes.
func (sc *signedChain) witness(t *testing.T, sizes ...uint64) []chain.Checkpoint {
	t.Helper()
	var out []chain.Checkpoint
	for _, n := range sizes {
		c, ok := sc.witnessed[n]
		if !ok {
			t.Fatalf("no checkpoint of size %d", n)
		}
		out = append(out, c)
	}
	return out
}

// export writes records from..through (1-based seqs) as an export file,
// with a start line when from > 1.
func (sc *signedChain) export(t *testing.T, from, through int) string {
	t.Helper()
	var b strings.Builder
	if from > 1 {
		l, _ := json.Marshal(ExportStart{Chain: witnessChain, FromSeq: uint64(from)})
		b.Write(append(l, '\n'))
	}
	for _, r := range sc.sealed[from-1 : through] {
		b.Write(append(record.AppendJSON(nil, r.Payload, r.MAC), '\n'))
	}
	path := filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// store writes records 1..through into a new SQLite store.
func (sc *signedChain) store(t *testing.T, through int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	db, err := sink.OpenSQLite(path, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if through > 0 {
		if err := db.Write(context.Background(), sc.sealed[:through]); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// verifyPath runs Run on an export file (*.ndjson) or a SQLite store.
func verifyPath(t *testing.T, path string, opts Options) *Report {
	t.Helper()
	var st Store
	if strings.HasSuffix(path, ".ndjson") {
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		st = f
	} else {
		db, err := sink.OpenSQLite(path, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		st = db
	}
	rep, err := Run(context.Background(), st, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func problemsText(rep *Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		fmt.Fprintln(&b, p.Error())
	}
	return b.String()
}

// An emptied store, an empty store and an empty export are never valid: a
// chain that a witnessed checkpoint names and the input lacks is invalid
// (something was published for it), one only the config names is
// unverifiable (nothing says it ever had records), and an input holding
// nothing and naming nothing is unverifiable.
func TestRun_AbsentChains(t *testing.T) {
	sc := newSignedChain(t, 45, "search", nil)
	keys := chain.Keyring{sc.key.ID: sc.key}
	emptied := sc.store(t, 45)
	raw, err := sql.Open("sqlite", emptied)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_records_no_update`, `DROP TRIGGER audit_records_no_delete`, `DELETE FROM audit_records`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	emptyFile := filepath.Join(t.TempDir(), "empty.ndjson")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	witnessed := sc.witness(t, 40)
	cases := []struct {
		name    string
		path    string
		opts    Options
		verdict string
		scope   string
		want    string // in the problems
	}{
		{"emptied store, witnessed", emptied, Options{Keys: keys, Trusted: sc.trusted, Witnessed: witnessed, Expect: []string{witnessChain}}, Invalid, ScopeStore,
			`chain "w" seq 1-40: the store holds no record of this chain, but a witnessed checkpoint`},
		{"emptied store, witnessed, named by no config", emptied, Options{Keys: keys, Trusted: sc.trusted, Witnessed: witnessed}, Invalid, ScopeStore,
			"holds no record of this chain"},
		{"emptied store, only the config names the chain", emptied, Options{Keys: keys, Trusted: sc.trusted, Expect: []string{witnessChain}, MaxAge: time.Second}, Unverifiable, ScopeStore,
			`chain "w" seq 1: the config (chain.id) names this chain, but the store holds no record of it`},
		{"empty store, nothing named", sc.store(t, 0), Options{Keys: keys}, Unverifiable, ScopeStore, "the input holds no records"},
		{"empty export, witnessed", emptyFile, Options{Keys: keys, Trusted: sc.trusted, Witnessed: witnessed}, Invalid, ScopeExport,
			"the export holds no record of this chain, but a witnessed checkpoint"},
		{"empty export", emptyFile, Options{Keys: keys, Trusted: sc.trusted}, Unverifiable, ScopeExport, "the input holds no records"},
		{"another chain's store, the config's chain absent", sc.store(t, 45), Options{Keys: keys, Expect: []string{"other"}}, Unverifiable, ScopeStore,
			`chain "other" seq 1: the config (chain.id) names this chain`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := verifyPath(t, tc.path, tc.opts)
			got := problemsText(rep)
			if rep.Verdict != tc.verdict || rep.Scope != tc.scope || !strings.Contains(got, tc.want) {
				t.Fatalf("verdict %s scope %s, want %s %s with %q; chains %+v\n%s", rep.Verdict, rep.Scope, tc.verdict, tc.scope, tc.want, rep.Chains, got)
			}
		})
	}
}

// An export ends where it was taken: checked against a witness that saw
// the chain grow further, it is valid when it matches a witnessed
// checkpoint it reaches, and says where it ends; one that reaches none is
// unverifiable; a fork is invalid. The same records as the live store are
// a truncation.
func TestRun_ExportEndsBeforeTheWitness(t *testing.T) {
	sc := newSignedChain(t, 95, "search", nil)
	keys := chain.Keyring{sc.key.ID: sc.key}
	// The same chain id and signing key, other records: a fork (as a
	// holder of both keys could write).
	fork := newSignedChain(t, 95, "wire-transfer", sc.signer)

	history := sc.witness(t, 10, 20, 30, 40, 50, 60, 70, 80, 90)
	newest := sc.witness(t, 90)
	cases := []struct {
		name      string
		path      string
		witnessed []chain.Checkpoint
		verdict   string
		standing  string
		match     uint64
		want      string // in the problems, or in the exposure
	}{
		{"export to seq 45, witness history", sc.export(t, 1, 45), history, Valid, chain.WitnessExportEnds, 40,
			"the export ends at seq 45, where it was taken; it matches the witnessed checkpoint of size 40; the chain had 90 records"},
		{"export to seq 41, the witnessed checkpoint of its time", sc.export(t, 1, 41), sc.witness(t, 40, 90), Valid, chain.WitnessExportEnds, 40, "seq 42..90 were written after the export"},
		{"export to seq 45, newest witness only", sc.export(t, 1, 45), newest, Unverifiable, chain.WitnessExportUnconfirmed, 0,
			"the export ends at seq 45, before the witnessed checkpoint of"},
		{"export from seq 33 to 64, witness history", sc.export(t, 33, 64), history, Valid, chain.WitnessExportEnds, 60, "it matches the witnessed checkpoint of size 60"},
		{"export to seq 95, newest witness", sc.export(t, 1, 95), newest, Valid, chain.WitnessExtended, 90, ""},
		{"fork export to seq 45, witness history", fork.export(t, 1, 45), history, Invalid, chain.WitnessExportEnds, 0,
			"records 1..10 differ from the witnessed checkpoint"},
		{"fork export to seq 9, witness history", fork.export(t, 1, 9), history, Unverifiable, chain.WitnessExportUnconfirmed, 0, "reaches no witnessed checkpoint"},
		{"store to seq 45, witness history", sc.store(t, 45), history, Invalid, chain.WitnessTruncated, 40, "truncation or rollback"},
		{"store to seq 45, newest witness", sc.store(t, 45), newest, Invalid, chain.WitnessTruncated, 0, "truncation or rollback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := verifyPath(t, tc.path, Options{Keys: keys, Trusted: sc.trusted, Witnessed: tc.witnessed})
			text := problemsText(rep) + strings.Join(rep.Exposure, "\n")
			if len(rep.Chains) != 1 {
				t.Fatalf("chains %+v", rep.Chains)
			}
			c := rep.Chains[0]
			if rep.Verdict != tc.verdict || c.Witness != tc.standing || c.WitnessedMatch != tc.match || !strings.Contains(text, tc.want) {
				t.Fatalf("verdict %s, witness %q, match %d; want %s, %q, %d with %q\n%s", rep.Verdict, c.Witness, c.WitnessedMatch,
					tc.verdict, tc.standing, tc.match, tc.want, text)
			}
		})
	}
}

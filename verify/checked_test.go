package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// checkedKey is the HMAC key of these tests; its bytes must never show.
var checkedSecret = []byte("checked-test-key-0123456789abcdef")

// activityStore is one chain "ops" of a chain_start and then, per i, a
// record with actions[i % len(actions)], event time base+i minutes and
// ingestion a second later (the event times are fed out of order: every
// third record is dated an hour earlier).
func activityStore(t *testing.T, key chain.Key, n int, actions []string) (memStore, time.Time) {
	t.Helper()
	base := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	s := chain.NewSealer("ops", key, chain.Head{})
	st := memStore{}
	for i := range n {
		r := &record.Record{TS: base.Add(time.Duration(i) * time.Minute), IngestedAt: base.Add(time.Duration(i)*time.Minute + time.Second), Action: actions[i%len(actions)]}
		if i == 0 {
			r.Action = record.ActionChainStart
		}
		if i%3 == 2 {
			r.TS = r.TS.Add(-time.Hour)
		}
		sl := s.Seal(r)
		st["ops"] = append(st["ops"], sink.Row{Chain: "ops", Seq: sl.Seq, Payload: sl.Payload, MAC: sl.MAC[:], PayloadOnly: true})
	}
	return st, base
}

func edVerifier(t *testing.T) *chain.NoteVerifier {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	v, err := chain.ParseVerifier("ops-signer", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Run says what it checked: the keys by id and fingerprint, the trusted
// public keys, the newest witnessed checkpoint of each chain, the
// freshness bound, when it ran, and per chain the span of event and
// ingestion times and the records per action, tallied while streaming.
func TestRun_Checked(t *testing.T) {
	key, err := chain.NewKey("", checkedSecret)
	if err != nil {
		t.Fatal(err)
	}
	st, base := activityStore(t, key, 40, []string{record.ActionToolCall, record.ActionModelCall, record.ActionDecision, record.ActionApprovalDenied})
	pub := edVerifier(t)
	now := time.Date(2026, 3, 5, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	older := chain.Checkpoint{Chain: "ops", Size: 20, Time: base.Add(20 * time.Minute)}
	newer := chain.Checkpoint{Chain: "ops", Size: 50, Time: base.Add(50 * time.Minute), Root: [32]byte{0xab}}
	opts := Options{Keys: chain.Keyring{key.ID: key}, Trusted: chain.Verifiers{pub}, Witnessed: []chain.Checkpoint{older, newer},
		MaxAge: 36 * time.Hour, Now: func() time.Time { return now }}
	rep, err := Run(context.Background(), st, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Checked
	if c == nil {
		t.Fatal("no checked section")
	}
	if !c.RanAt.Equal(now) || c.RanAt.Location() != time.UTC {
		t.Errorf("ran_at %v, want %v in UTC", c.RanAt, now)
	}
	if !c.MACs.Checked || len(c.MACs.Keys) != 1 || c.MACs.Keys[0].Kid != key.ID || c.MACs.Keys[0].Fingerprint != key.Fingerprint() {
		t.Errorf("macs %+v", c.MACs)
	}
	if !c.Signatures.Checked || len(c.Signatures.Keys) != 1 {
		t.Fatalf("signatures %+v", c.Signatures)
	}
	if k := c.Signatures.Keys[0]; k.Name != "ops-signer" || k.Algorithm != "Ed25519" || k.Fingerprint != pub.Fingerprint() || k.KeyHash != fmt.Sprintf("%08x", pub.KeyHash()) {
		t.Errorf("public key %+v", k)
	}
	if !c.Witness.Checked || len(c.Witness.Checkpoints) != 1 || c.Witness.Checkpoints[0].Size != 50 ||
		c.Witness.Checkpoints[0].Root != hex.EncodeToString(newer.Root[:]) || !c.Witness.Checkpoints[0].Time.Equal(newer.Time) {
		t.Errorf("witness %+v, want the newest checkpoint (size 50) only", c.Witness)
	}
	if !c.Freshness.Checked || c.Freshness.MaxAge != "36h0m0s" {
		t.Errorf("freshness %+v", c.Freshness)
	}
	if len(c.Chains) != 1 {
		t.Fatalf("chains %+v", c.Chains)
	}
	a := c.Chains[0]
	want := map[string]uint64{"chain_start": 1, "tool_call": 9, "model_call": 10, "decision": 10, "approval_denied": 10}
	if a.Chain != "ops" || a.Records != 40 || !mapsEqual(a.Actions, want) {
		t.Errorf("activity %+v, want actions %v", a, want)
	}
	// Record 3 (i=2) is dated base+2m-1h, the earliest; record 40 (i=39)
	// is not moved back, the latest.
	if !a.EventsFrom.Equal(base.Add(2*time.Minute-time.Hour)) || !a.EventsTo.Equal(base.Add(39*time.Minute)) {
		t.Errorf("events %v..%v", a.EventsFrom, a.EventsTo)
	}
	if !a.IngestedFrom.Equal(base.Add(time.Second)) || !a.IngestedTo.Equal(base.Add(39*time.Minute+time.Second)) {
		t.Errorf("ingested %v..%v", a.IngestedFrom, a.IngestedTo)
	}

	// The JSON keeps every field it had, adds "checked", and never
	// carries the key.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if byValue, _ := json.Marshal(*rep); string(byValue) != string(b) {
		t.Error("a Report encodes differently by value and by pointer")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"verdict", "chains", "problems", "gaps", "exposure", "checked"} {
		if _, ok := top[k]; !ok {
			t.Errorf("no %q in the JSON report", k)
		}
	}
	var old map[string]json.RawMessage
	plain := *rep
	plain.Checked = nil
	b2, _ := json.Marshal((*reportJSON)(&plain))
	json.Unmarshal(b2, &old)
	for k, v := range old {
		if string(top[k]) != string(v) {
			t.Errorf("%q changed: %s, was %s", k, top[k], v)
		}
	}
	var back struct {
		Checked Checked `json:"checked"`
	}
	if err := json.Unmarshal(top["checked"], &back.Checked); err != nil {
		t.Fatal(err)
	}
	// The witnessed checkpoint of 50 records is past the store's 40: a
	// truncation, explained in plain words.
	if len(back.Checked.Problems) != len(rep.Problems) || len(back.Checked.Problems) == 0 || len(back.Checked.Unprotected) != len(rep.Exposure) {
		t.Fatalf("checked problems %d / unprotected %d, report %d / %d", len(back.Checked.Problems), len(back.Checked.Unprotected), len(rep.Problems), len(rep.Exposure))
	}
	for _, p := range back.Checked.Problems {
		if !p.Known || p.What == p.Reason || p.Where == "" || p.Means == "" {
			t.Errorf("problem not in plain words: %+v", p)
		}
	}
	noSecret(t, string(b), key)
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// noSecret fails if s holds the key's bytes in any common spelling.
func noSecret(t *testing.T, s string, key chain.Key) {
	t.Helper()
	sec := key.Secret()
	for _, form := range []string{string(sec), hex.EncodeToString(sec), strings.ToUpper(hex.EncodeToString(sec)), fmt.Sprintf("%x", sec[:8])} {
		if strings.Contains(s, form) {
			t.Fatalf("output holds the key (%q)", form)
		}
	}
}

// A hostile store cannot grow the tally: actions nobody defined, records
// that do not decode and records out of order land in fixed buckets.
func TestRun_Checked_HostileActions(t *testing.T) {
	key, err := chain.NewKey("", checkedSecret)
	if err != nil {
		t.Fatal(err)
	}
	s := chain.NewSealer("x", key, chain.Head{})
	var rows []sink.Row
	for i := range 500 {
		r := &record.Record{TS: time.Unix(int64(i), 0), IngestedAt: time.Unix(int64(i), 0), Action: fmt.Sprintf("made-up-%d", i)}
		if i == 0 {
			r.Action = record.ActionChainStart
		}
		sl := s.Seal(r)
		row := sink.Row{Chain: "x", Seq: sl.Seq, Payload: sl.Payload, MAC: sl.MAC[:], PayloadOnly: true}
		if i%100 == 50 {
			row.Payload = []byte("not json")
		}
		rows = append(rows, row)
	}
	rows = append(rows, rows[10]) // a duplicate, out of order
	rep, err := Run(context.Background(), memStore{"x": rows}, Options{Keys: chain.Keyring{key.ID: key}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := rep.Checked.Chains[0]
	want := map[string]uint64{"chain_start": 1, ActionUnrecognized: 494, ActionUnreadable: 6}
	if a.Records != 501 || !mapsEqual(a.Actions, want) {
		t.Errorf("records %d, actions %v, want %v", a.Records, a.Actions, want)
	}
}

// A chain-level problem (the freshness bound, nothing vouching for a
// chain) is about the chain: its text never says "seq 0", and in plain
// words it is about the chain as a whole.
func TestRun_ChainLevelProblems(t *testing.T) {
	key, err := chain.NewKey("", checkedSecret)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := activityStore(t, key, 5, []string{record.ActionToolCall})
	rep, err := Run(context.Background(), st, Options{Keys: chain.Keyring{key.ID: key}, MaxAge: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != Unverifiable || len(rep.Problems) != 1 {
		t.Fatalf("verdict %s, problems %v", rep.Verdict, rep.Problems)
	}
	e := rep.Problems[0]
	if got := e.Error(); strings.Contains(got, "seq 0") || !strings.HasPrefix(got, `chain "ops": the newest checkpoint is older`) {
		t.Errorf("text %q", got)
	}
	p := rep.Explained().Problems[0]
	if p.About != AboutChain || p.Where != `chain "ops" as a whole` || p.Kind != KindUnverifiable || !strings.Contains(p.What, "freshness bound (1h0m0s)") {
		t.Errorf("plain %+v", p)
	}

	// No HMAC key and no checkpoint: nothing vouches for the chain.
	rep, err = Run(context.Background(), st, Options{Trusted: chain.Verifiers{edVerifier(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Problems {
		if strings.Contains(e.Error(), "seq 0") {
			t.Errorf("text %q", e.Error())
		}
	}
	if p := rep.Explained().Problems; len(p) != 1 || p[0].About != AboutChain || !strings.HasPrefix(p[0].What, "Nothing vouches for this chain") {
		t.Errorf("plain %+v", p)
	}
	if rep.Checked.MACs.Checked || len(rep.Checked.MACs.Keys) != 0 || !rep.Checked.Signatures.Checked {
		t.Errorf("checked %+v", rep.Checked)
	}
}

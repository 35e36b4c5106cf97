package verify

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
)

// purgedChain is sc's 95 records continued as the sidecar continues a
// chain at a purge: a retention_purge record through seq 40 (seq 41 is a
// checkpoint, the first record of the period the purge keeps, so what
// remains begins with the signed tree state of the boundary) at seq 96,
// then, when covered, the checkpoint of seq 97 that covers it. It
// returns the records kept (41..96 or 41..97).
func purgedChain(t *testing.T, sc *signedChain, covered bool, maxAge string) []record.Sealed {
	t.Helper()
	var tree chain.Tree
	for _, r := range sc.sealed {
		tree.Append(chain.LeafHash(r.Payload))
	}
	head := sc.sealed[len(sc.sealed)-1]
	s := chain.NewSealer(witnessChain, sc.key, chain.Head{Seq: head.Seq, MAC: head.MAC})
	s.SetTree(tree)
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	cutoff := t0.Add(41 * time.Second) // records 1..40 were sealed before it
	now := t0.Add(2 * time.Hour)
	d := `{"cutoff":"` + record.FormatTime(cutoff) + `","policy":{"max_age":"` + maxAge + `"},"through_mac":"` +
		hex.EncodeToString(sc.sealed[39].MAC[:]) + `","through_seq":40}`
	kept := append([]record.Sealed{}, sc.sealed[40:]...)
	kept = append(kept, s.Seal(&record.Record{TS: now, IngestedAt: now, Action: record.ActionRetentionPurge, Detail: []byte(d)}))
	if covered {
		h, tr := s.Head(), s.Tree()
		c := chain.Checkpoint{Chain: witnessChain, Size: h.Seq, Root: tr.Root(), HeadMAC: h.MAC, Time: now}
		note, err := chain.Sign(c, sc.signer)
		if err != nil {
			t.Fatal(err)
		}
		sc.witnessed[c.Size] = c
		kept = append(kept, s.Seal(&record.Record{TS: now, IngestedAt: now, Action: record.ActionCheckpoint, Detail: chain.CheckpointDetail(note, tr)}))
	}
	return kept
}

// A retention purge is honoured only once a checkpoint signed by a trusted
// key covers it; then what remains verifies with the public key alone, the
// HMAC key alone, or both, and against witnessed checkpoints of records it
// purged (their times before its cutoff). Its policy must keep records at
// least as long as the config's retention.max_age, and its cutoff must be
// at least max_age before the verification.
func TestRun_RetentionPurge(t *testing.T) {
	sc := newSignedChain(t, 95, "search", nil)
	keys := chain.Keyring{sc.key.ID: sc.key}
	kept := purgedChain(t, sc, true, "1h0m0s")
	hist := sc.witness(t, 10, 20, 30, 40, 50, 60, 70, 80, 90, 96)
	hour, twoHours, none := time.Hour, 2*time.Hour, time.Duration(0)
	for _, tc := range []struct {
		name    string
		recs    []record.Sealed
		opts    Options
		verdict string
		want    string
	}{
		{"public key only", kept, Options{Trusted: sc.trusted, Witnessed: hist}, Valid, ""},
		{"HMAC key only", kept, Options{Keys: keys}, Valid, ""},
		{"both keys, the config's policy", kept, Options{Keys: keys, Trusted: sc.trusted, Witnessed: hist, Retention: &hour}, Valid, ""},
		{"no checkpoint covers the purge yet", kept[:len(kept)-1], Options{Keys: keys, Trusted: sc.trusted}, Unverifiable, "which no checkpoint signed by a trusted key covers"},
		{"no checkpoint covers the purge yet, public key only", kept[:len(kept)-1], Options{Trusted: sc.trusted}, Unverifiable, "which no checkpoint signed by a trusted key covers"},
		{"the config keeps records longer", kept, Options{Keys: keys, Trusted: sc.trusted, Retention: &twoHours}, Invalid, "less than the config's retention.max_age 2h0m0s"},
		{"the config sets no retention", kept, Options{Keys: keys, Trusted: sc.trusted, Retention: &none}, Invalid, "the config sets no retention.max_age"},
		{"the cutoff is less than max_age before the verification", kept, Options{Keys: keys, Trusted: sc.trusted,
			Now: func() time.Time { return time.Date(2026, 11, 27, 0, 30, 0, 0, time.UTC) }}, Invalid, "less than its max_age 1h0m0s before this verification"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, path := range map[string]string{"store": rawStore(t, tc.recs), "export": advExport(t, 0, tc.recs)} {
				rep := verifyPath(t, path, tc.opts)
				text := problemsText(rep)
				if rep.Verdict != tc.verdict || !strings.Contains(text, tc.want) {
					t.Errorf("%s: verdict %s, want %s with %q\n%s%s", name, rep.Verdict, tc.verdict, tc.want, text, strings.Join(rep.Exposure, "\n"))
				}
				if tc.verdict == Valid && rep.Chains[0].PurgedThrough != 40 {
					t.Errorf("%s: purged through %d", name, rep.Chains[0].PurgedThrough)
				}
			}
		})
	}

	// A purge that a checkpoint covers but that removed a witnessed
	// checkpoint sealed after its cutoff erased history the witness
	// vouches for.
	late := newSignedChain(t, 95, "search", nil)
	recs := purgedChain(t, late, true, "1h0m0s")
	late.witnessed[30] = chain.Checkpoint{Chain: witnessChain, Size: 30, Root: late.witnessed[30].Root, HeadMAC: late.witnessed[30].HeadMAC,
		Time: time.Date(2026, 11, 27, 0, 5, 0, 0, time.UTC)}
	rep := verifyPath(t, advExport(t, 0, recs), Options{Trusted: late.trusted, Witnessed: late.witness(t, 30)})
	if rep.Verdict != Invalid || !strings.Contains(problemsText(rep), "which is not older than its cutoff") {
		t.Errorf("a purge of a checkpoint witnessed after its cutoff: %s\n%s", rep.Verdict, problemsText(rep))
	}
}

// A witnessed checkpoint of records that are not given (purged, before an
// export's start) is compared with a signed tree state that holds its
// subtrees: one that differs from it is a fork.
func TestRun_WitnessBeforeTheRecordsGiven(t *testing.T) {
	sc := newSignedChain(t, 95, "search", nil)
	fork := newSignedChain(t, 95, "fetch", sc.signer)
	// The export starts at seq 41, a checkpoint of size 40 whose tree
	// state is 32 + 8: the witnessed checkpoint of size 32 would be
	// compared; of size 40 too. Witness the fork's 40.
	w := fork.witness(t, 40)
	rep := verifyPath(t, sc.export(t, 41, 95), Options{Trusted: sc.trusted, Witnessed: w})
	if rep.Verdict != Invalid || !strings.Contains(problemsText(rep), "differ from the witnessed checkpoint") {
		t.Errorf("an export from seq 41 against a fork's witnessed checkpoint of size 40: %s\n%s", rep.Verdict, problemsText(rep))
	}
	rep = verifyPath(t, sc.export(t, 41, 95), Options{Trusted: sc.trusted, Witnessed: sc.witness(t, 40)})
	if rep.Verdict != Valid || rep.Chains[0].WitnessedMatch != 40 {
		t.Errorf("an export from seq 41 against its own witnessed checkpoint of size 40: %s, matched %d\n%s", rep.Verdict, rep.Chains[0].WitnessedMatch, problemsText(rep))
	}
}

// Public keys are not bound to chains: the exposure says so whenever more
// than one key, or more than one chain, is involved.
func TestExposure_KeysNotBoundToChains(t *testing.T) {
	sc := newSignedChain(t, 25, "search", nil)
	other := newSignedChain(t, 5, "search", nil)
	const line = "checkpoint public keys are not bound to chains"
	for _, tc := range []struct {
		name    string
		trusted chain.Verifiers
		want    bool
	}{
		{"one key, one chain", sc.trusted, false},
		{"two keys", append(chain.Verifiers{}, append(sc.trusted, other.trusted...)...), true},
	} {
		rep := verifyPath(t, sc.export(t, 1, 25), Options{Trusted: tc.trusted})
		if got := strings.Contains(strings.Join(rep.Exposure, "\n"), line); got != tc.want {
			t.Errorf("%s: exposure names the unbound keys: %v, want %v\n%s", tc.name, got, tc.want, strings.Join(rep.Exposure, "\n"))
		}
	}
}

package chain

import (
	"cmp"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/bits"
	"slices"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// VerifyError is one problem found in a chain: where, and why.
// Through (when non-zero) extends the problem to a range of seqs, as for
// a run of missing records.
type VerifyError struct {
	Chain   string `json:"chain"`
	Seq     uint64 `json:"seq"`
	Through uint64 `json:"through,omitempty"`
	// Kind says what sort of problem it is, for code that acts on it;
	// Reason says it in words. It is not part of the JSON output.
	Kind   Kind   `json:"-"`
	Reason string `json:"reason"`
	// Unverifiable marks a problem that makes the record impossible to
	// check (an unknown key id) rather than proven tampered.
	Unverifiable bool `json:"unverifiable,omitempty"`
}

// Error says where and why. A problem of the chain as a whole (Seq 0: no
// checkpoint within the freshness bound, nothing vouches for the chain)
// names the chain only.
func (e *VerifyError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("chain %q: %s", e.Chain, e.Reason)
	}
	if e.Through > e.Seq {
		return fmt.Sprintf("chain %q seq %d-%d: %s", e.Chain, e.Seq, e.Through, e.Reason)
	}
	return fmt.Sprintf("chain %q seq %d: %s", e.Chain, e.Seq, e.Reason)
}

// Verifier checks the records of one chain, fed in ascending seq order, in
// constant memory. It reports every problem, not only the first: after a
// gap or a broken record it carries on from the next record's own prev.
type Verifier struct {
	chain    string
	keys     Keyring
	report   func(*VerifyError)
	next     uint64
	prev     [32]byte
	prevOK   bool // prev holds the stored MAC of record next-1
	records  uint64
	invalid  int
	unverif  int
	lastSeen uint64

	// A chain whose oldest records were purged by retention starts after
	// seq 1. missingPrefix is the last seq missing before the first stored
	// record, firstPrev that record's prev; purgedThrough is the highest
	// through_seq of an authentic retention_purge record seen. The prefix
	// is accounted for only if purgedThrough >= missingPrefix.
	missingPrefix uint64
	firstPrev     [32]byte
	purgedThrough uint64
	startAt       uint64 // see StartAt

	// A retention_purge record is honoured (purgedThrough) only once it is
	// authentic: with checkpoint signatures checked, once a checkpoint
	// signed by a trusted key covers its leaf (vouchFrom..); without
	// them, by its MAC. pending holds the purges that wait for such a
	// checkpoint, in seq order, each with a higher through_seq than the
	// ones after it (a later purge through as far or farther replaces
	// them). now is the verification's clock (zero: not checked against
	// it); retention the configured retention.max_age (see WithRetention).
	pending     []pendingPurge
	now         time.Time
	retention   time.Duration
	retentionOK bool
	witnessMax  []int // witnessMax[i]: index of the latest time of witnessed[0..i]

	// lastKid is the kid of the previous authentic record, and rotateTo
	// the new kid its key_rotation named ("" if it was not one): the kid
	// may change from one record to the next only through a key_rotation.
	lastKid, rotateTo string

	// Checkpoints (see WithCheckpoints). tree is the Merkle tree of
	// records 1..tree.Size while treeOK; it is lost at a gap and at a
	// purged prefix, and taken up again from the next checkpoint record.
	// Meanwhile rng hashes the records from the cut, so that the subtrees
	// of that checkpoint's signed tree state they make up wholly are
	// checked. vouchFrom is the first leaf of the tree that signed roots
	// vouch for (those before it were not given, or differ); the first
	// run of records after a cut that no signed tree state covers is
	// unsignedFrom..unsignedThrough.
	rng                           Range
	vouchFrom                     uint64
	unsignedFrom, unsignedThrough uint64

	trusted   Verifiers
	witnessed []Checkpoint // by size, smallest first
	checkedW  []bool       // witnessed[i] compared with the records
	wnext     int          // the first witnessed[i] not smaller than the tree
	matched   int          // index+1 of the largest witnessed[i] found equal (0: none)
	skipMAC   bool
	tree      Tree
	treeOK    bool
	ckpts     int
	lastCkpt  *Checkpoint
	// export: the records are a copy that ends where it was taken (see
	// AsExport), not the live store.
	export bool

	// Epochs: the epoch of the previous linked record and the epoch its
	// seal closed (0: it was not a seal); derived keys per kid; the newest
	// sealed epoch.
	lastEpoch, sealed uint64
	epochKeys         *epochKeys
	sealedEpoch       uint64
	sealedAt          time.Time
}

// WithCheckpoints makes v check checkpoint records: their signatures
// against trusted (none: signatures are not checked, only what the
// checkpoints state), their Merkle roots against the records, and that
// the chain extends every witnessed checkpoint (checkpoints of this chain
// kept off the pod; their signatures must already have been checked).
// With skipMAC, MACs are not checked (no HMAC key at hand): records are
// then vouched for only by the signed Merkle roots that cover them.
func (v *Verifier) WithCheckpoints(trusted Verifiers, witnessed []Checkpoint, skipMAC bool) *Verifier {
	v.trusted, v.skipMAC = trusted, skipMAC
	for _, w := range witnessed {
		if w.Chain == v.chain {
			v.witnessed = append(v.witnessed, w)
		}
	}
	// Compared as the tree grows: smallest first (a witness's history,
	// such as the sidecar's stdout lines, may hold thousands).
	slices.SortStableFunc(v.witnessed, func(a, b Checkpoint) int { return cmp.Compare(a.Size, b.Size) })
	v.checkedW = make([]bool, len(v.witnessed))
	v.witnessMax = make([]int, len(v.witnessed))
	for i := range v.witnessed {
		if j := v.witnessMax[max(i-1, 0)]; i > 0 && !v.witnessed[i].Time.After(v.witnessed[j].Time) {
			v.witnessMax[i] = j
		} else {
			v.witnessMax[i] = i
		}
	}
	return v
}

// WithRetention says what a retention_purge record is checked against
// besides its own statements: now, the verification's clock (a purge's
// cutoff must be at least its max_age before it), and, when configured
// (verify --config), the config's retention.max_age: a purge whose
// policy keeps records for less, or any purge when maxAge is 0 (no
// retention configured), is invalid.
func (v *Verifier) WithRetention(now time.Time, maxAge time.Duration, configured bool) *Verifier {
	v.now, v.retention, v.retentionOK = now, maxAge, configured
	return v
}

// pendingPurge is a retention_purge record that checks out but waits for
// a signed checkpoint to cover it.
type pendingPurge struct{ seq, through uint64 }

// AsExport says the records are an export: a copy of the chain that ends
// where it was taken, not the live store. A witnessed checkpoint past its
// end is then no truncation: the chain went on after the export was taken.
// The export is shown to be part of the witnessed chain by the witnessed
// checkpoints its records reach (compared as for a store); one that ends
// before every witnessed checkpoint given, with none it can be compared
// with, is unverifiable against them. A live store shorter than a
// witnessed checkpoint has lost its newest records and is invalid.
func (v *Verifier) AsExport() *Verifier {
	v.export = true
	return v
}

// NewVerifier starts verifying chain with the given keys; report is called
// for each problem as it is found.
func NewVerifier(chain string, keys Keyring, report func(*VerifyError)) *Verifier {
	return &Verifier{chain: chain, keys: keys, report: report, next: 1, prevOK: true, treeOK: true, epochKeys: newEpochKeys(keys)}
}

func (v *Verifier) fail(kind Kind, seq, through uint64, unverifiable bool, format string, args ...any) {
	e := &VerifyError{Chain: v.chain, Seq: seq, Through: through, Kind: kind, Reason: fmt.Sprintf(format, args...), Unverifiable: unverifiable}
	if unverifiable {
		v.unverif++
	} else {
		v.invalid++
	}
	if v.report != nil {
		v.report(e)
	}
}

// Fail reports a problem of the given kind with record seq found outside
// the verifier (such as a stored column that contradicts the payload); it
// counts as invalid.
func (v *Verifier) Fail(kind Kind, seq uint64, format string, args ...any) {
	v.fail(kind, seq, 0, false, format, args...)
}

// StartAt says the records fed begin at seq on purpose (an export of a
// time range): seq 1..seq-1 are not missing, only not given.
func (v *Verifier) StartAt(seq uint64) { v.startAt = seq }

// LastCheckpoint is the newest checkpoint seen that checked out (nil:
// none).
func (v *Verifier) LastCheckpoint() *Checkpoint { return v.lastCkpt }

// Unverifiable reports a problem found outside the verifier that leaves
// the chain unproven rather than proven tampered (a stale checkpoint).
func (v *Verifier) Unverifiable(kind Kind, seq uint64, format string, args ...any) {
	v.fail(kind, seq, 0, true, format, args...)
}

// Prepared is what checking one record needs that depends on no other
// record: the decoded payload, whether its MAC matches under the key its
// kid and epoch name, and its leaf hash. Prepare may run on many records
// at once (see verify.Run); AddPrepared takes them in seq order.
type Prepared struct {
	seq          uint64
	payload, mac []byte
	r            *record.Record
	perr         error
	prev         [32]byte
	prevOK       bool // the payload's prev is 32 bytes of hex
	keyOK, macOK bool
	leaf         [32]byte
}

// Prepare does the part of Add that depends on no other record. It is
// safe for concurrent use, also with AddPrepared.
func (v *Verifier) Prepare(seq uint64, payload, mac []byte) *Prepared {
	p := &Prepared{seq: seq, payload: payload, mac: mac, leaf: LeafHash(payload)}
	p.r, p.perr = record.Parse(payload)
	if p.r == nil {
		return p
	}
	if pb, err := hex.DecodeString(p.r.Prev); err == nil && len(pb) == 32 {
		copy(p.prev[:], pb)
		p.prevOK = true
	}
	_, macs, ok := v.epochKeys.get(p.r.Kid, p.r.Epoch)
	p.keyOK = ok
	if ok && p.prevOK && len(mac) == 32 {
		m := macs.Get().(hash.Hash)
		m.Reset()
		m.Write(p.prev[:])
		m.Write(payload)
		var want [32]byte
		m.Sum(want[:0])
		macs.Put(m)
		p.macOK = hmac.Equal(want[:], mac)
	}
	return p
}

// AddPrepared is Add for a record that Prepare has done.
func (v *Verifier) AddPrepared(p *Prepared) *record.Record {
	seq, mac := p.seq, p.mac
	v.records++
	if seq < v.next {
		v.fail(KindOrder, seq, 0, false, "seq out of order or duplicated (expected %d)", v.next)
		return nil
	}
	first := v.records == 1 && seq > 1
	if first {
		// Judged at Finish: a retention_purge record later in the chain
		// may account for the missing prefix.
		v.missingPrefix = seq - 1
		v.prevOK = false
		v.cut(seq)
	} else if seq > v.next {
		v.fail(KindMissing, v.next, seq-1, false, "records missing")
		v.prevOK = false
		v.cut(seq)
	}
	v.next = seq + 1
	v.lastSeen = seq
	linked := v.prevOK
	prevStored := v.prev
	v.prevOK = false
	if len(mac) == 32 {
		copy(v.prev[:], mac)
		v.prevOK = true
	}

	// Every record, whatever else is wrong with it, is a leaf of the tree
	// (a checkpoint record after the checkpoint it carries is checked).
	defer v.leaf(p.leaf)

	r, err := p.r, p.perr
	switch {
	case r == nil:
		v.fail(KindPayload, seq, 0, false, "payload does not decode")
		return nil
	case errors.Is(err, record.ErrNotCanonical):
		v.fail(KindPayload, seq, 0, false, "payload is not in canonical form")
	case err != nil:
		v.fail(KindPayload, seq, 0, false, "payload does not decode")
		return nil
	}
	if r.Chain != v.chain {
		v.fail(KindPayload, seq, 0, false, "payload names chain %q", r.Chain)
	}
	if r.Seq != seq {
		v.fail(KindPayload, seq, 0, false, "payload names seq %d", r.Seq)
	}
	if !p.prevOK {
		v.fail(KindPayload, seq, 0, false, "payload prev is not a 32-byte hex value")
		return r
	}
	prev := p.prev
	if first {
		v.firstPrev = prev
	}
	if seq == 1 {
		if r.Action != record.ActionChainStart {
			v.fail(KindLink, seq, 0, false, "first record is %q, not chain_start", r.Action)
		}
		if prev != ([32]byte{}) {
			v.fail(KindLink, seq, 0, false, "first record's prev is not zero")
		}
	} else if linked && prev != prevStored {
		v.fail(KindLink, seq, 0, false, "prev does not match the mac of seq %d", seq-1)
	}
	if len(mac) != 32 {
		v.fail(KindMAC, seq, 0, false, "stored mac is not 32 bytes")
		return r
	}
	if r.Action == record.ActionCheckpoint {
		v.checkpoint(seq, prev, r)
	}
	v.epochRules(seq, linked, r)
	// The kid may change only right after a key_rotation record, to the
	// kid it names: checked before the key is looked up, so that a record
	// given a kid whose key is unknown is invalid for the change, not
	// only unverifiable for the key. (Without the HMAC key the records
	// are vouched for by the signed roots alone, and this is not checked.)
	if !v.skipMAC && linked && v.lastKid != "" && r.Kid != v.lastKid && r.Kid != v.rotateTo {
		v.fail(KindKey, seq, 0, false, "key changed from %q to %q without a key_rotation record", v.lastKid, r.Kid)
	}
	v.lastKid, v.rotateTo = r.Kid, ""
	if r.Action == record.ActionKeyRotation {
		var d struct {
			NewKid string `json:"new_kid"`
		}
		if json.Unmarshal(r.Detail, &d) == nil {
			v.rotateTo = d.NewKid
		}
	}
	if v.skipMAC {
		if r.Action == record.ActionRetentionPurge {
			v.purge(seq, r)
		}
		return r
	}
	if !p.keyOK {
		v.fail(KindKey, seq, 0, true, "no key for kid %q", r.Kid)
		return r
	}
	if !p.macOK {
		v.fail(KindMAC, seq, 0, false, "mac mismatch")
		return r
	}
	switch r.Action {
	case record.ActionRetentionPurge:
		v.purge(seq, r)
	case record.ActionKeyRotation:
		if v.rotateTo == "" {
			v.fail(KindKey, seq, 0, false, "key_rotation record names no new_kid")
		}
	}
	return r
}

// epochRules checks r's epoch against the record before it (when linked):
// within a kid, the epoch stays the same until a seal record closes it,
// and the record after a seal of epoch e is in epoch e+1; a key rotation
// starts the new kid at epoch 1; epochs are never switched off.
func (v *Verifier) epochRules(seq uint64, linked bool, r *record.Record) {
	e := r.Epoch
	defer func() {
		v.lastEpoch, v.sealed = e, 0
		if r.Action == record.ActionSeal {
			var d struct {
				Epoch uint64 `json:"epoch"`
			}
			if json.Unmarshal(r.Detail, &d) != nil || d.Epoch != e || e == 0 {
				v.fail(KindEpoch, seq, 0, false, "seal record does not name its own epoch %d", e)
				return
			}
			v.sealed = e
			v.sealedEpoch, v.sealedAt = e, r.IngestedAt
		}
	}()
	if !linked && seq != 1 {
		return // after a gap or a purged prefix: nothing to compare with
	}
	rotated := v.lastKid != "" && r.Kid != v.lastKid && r.Kid == v.rotateTo
	switch {
	case seq == 1 || v.lastEpoch == 0:
		if e > 1 {
			v.fail(KindEpoch, seq, 0, false, "epochs begin at epoch %d, not 1", e)
		}
	case e == 0:
		v.fail(KindEpoch, seq, 0, false, "epochs switched off after epoch %d", v.lastEpoch)
	case rotated:
		if e != 1 {
			v.fail(KindEpoch, seq, 0, false, "the new key of a rotation begins at epoch %d, not 1", e)
		}
	case v.sealed != 0 && e != v.sealed+1:
		v.fail(KindEpoch, seq, 0, false, "epoch %d follows the seal of epoch %d", e, v.sealed)
	case v.sealed == 0 && e > v.lastEpoch:
		v.fail(KindEpoch, seq, 0, false, "epoch %d begins without a seal of epoch %d", e, v.lastEpoch)
	case v.sealed == 0 && e < v.lastEpoch:
		v.fail(KindEpoch, seq, 0, false, "epoch %d after epoch %d", e, v.lastEpoch)
	}
}

// leaf adds a record to the tree and compares the tree with any witnessed
// checkpoint of that size.
func (v *Verifier) leaf(h [32]byte) {
	if !v.treeOK {
		v.rng.Append(h)
		return
	}
	v.tree.Append(h)
	v.compareWitnessed()
}

// cut says that record seq does not follow the records before it (the
// first record given is past seq 1, or records are missing): the tree is
// lost until a checkpoint's signed tree state, and the records from seq
// on are hashed as a range meanwhile. A purge still waiting for a signed
// checkpoint can no longer be covered by one: it is not honoured.
func (v *Verifier) cut(seq uint64) {
	v.treeOK = false
	v.rng = NewRange(seq - 1)
	v.pending = v.pending[:0]
}

// vouch takes note that a checkpoint signed by a trusted key covers the
// leaves vouchFrom..size-1: the purges waiting among them are honoured,
// those before them never will be.
func (v *Verifier) vouch(size uint64) {
	n := 0
	for _, p := range v.pending {
		if p.seq > size {
			v.pending[n] = p
			n++
			continue
		}
		if p.seq-1 >= v.vouchFrom {
			v.purgedThrough = max(v.purgedThrough, p.through)
		}
	}
	v.pending = v.pending[:n]
}

// compareWitnessed compares the witnessed checkpoints of the tree's size
// with the tree (the tree only grows, so each is looked at once).
func (v *Verifier) compareWitnessed() {
	for v.wnext < len(v.witnessed) && v.witnessed[v.wnext].Size < v.tree.Size {
		v.wnext++
	}
	var root [32]byte
	for i := v.wnext; i < len(v.witnessed) && v.witnessed[i].Size == v.tree.Size; i++ {
		w := v.witnessed[i]
		if i == v.wnext {
			root = v.tree.Root()
		}
		v.checkedW[i] = true
		if w.Root != root {
			v.fail(KindWitness, 1, w.Size, false, "records 1..%d differ from the witnessed checkpoint of %s (rollback or rewrite)",
				w.Size, record.FormatTime(w.Time))
			continue
		}
		v.matched = i + 1
	}
}

// firstDifference narrows a root mismatch between two trees of the same
// size to the seqs of the first perfect subtree whose hashes differ.
func firstDifference(a, b *Tree) (from, through uint64) {
	start := uint64(0)
	// Subtree i covers the leaves of the i-th set bit of Size, from the
	// highest.
	for bit := 63; bit >= 0; bit-- {
		size := uint64(1) << bit
		if a.Size&size == 0 {
			continue
		}
		i := bits.OnesCount64(a.Size >> bit >> 1)
		if i < len(a.Hashes) && i < len(b.Hashes) && a.Hashes[i] != b.Hashes[i] {
			return start + 1, start + size
		}
		start += size
	}
	return 1, a.Size
}

// checkpoint checks a checkpoint record at seq, whose prev is prev.
func (v *Verifier) checkpoint(seq uint64, prev [32]byte, r *record.Record) {
	var d struct {
		Size uint64 `json:"size"`
		Note string `json:"note"`
	}
	if json.Unmarshal(r.Detail, &d) != nil || d.Note == "" {
		v.fail(KindCheckpoint, seq, 0, false, "checkpoint record carries no signed note")
		return
	}
	c, err := OpenCheckpoint(d.Note, v.trusted)
	signed := err == nil
	switch {
	case errors.Is(err, ErrUnknownSigner) && len(v.trusted) > 0:
		v.fail(KindSignature, seq, 0, true, "checkpoint is not signed by a trusted key")
		return
	case errors.Is(err, ErrUnknownSigner):
		// No keys given: what it states is still checked below.
	case errors.Is(err, ErrBadSignature):
		v.fail(KindSignature, seq, 0, false, "checkpoint signature does not verify")
		return
	case err != nil:
		v.fail(KindCheckpoint, seq, 0, false, "checkpoint note is malformed")
		return
	}
	if c.Chain != v.chain || c.Size != seq-1 || d.Size != c.Size {
		v.fail(KindCheckpoint, seq, 0, false, "checkpoint states chain %q size %d, but it is record %d of chain %q", c.Chain, c.Size, seq, v.chain)
		return
	}
	if c.HeadMAC != prev {
		// A chain re-MACed by a key holder: the signed head differs. The
		// root is still compared, to say which records changed.
		v.fail(KindCheckpoint, seq, 0, false, "checkpoint's head mac is not the mac of seq %d", seq-1)
	}
	if !c.Time.Equal(r.IngestedAt) {
		// The note's time is the record's ingested_at (freshness reads it).
		v.fail(KindCheckpoint, seq, 0, false, "checkpoint's time is not the ingested_at of its record")
	}
	t, parsed := CheckpointTree(r.Detail, seq)
	stateOK := parsed && t.Root() == c.Root
	// A checkpoint signed by a trusted key vouches for the records its
	// root covers, as far as they are hashed into it.
	vouches := signed && len(v.trusted) > 0
	size := seq - 1
	hashed := v.treeOK // the records before it were hashed into its root
	switch {
	case v.treeOK && v.tree.Root() != c.Root:
		from, through := uint64(1), c.Size
		if stateOK {
			from, through = firstDifference(&v.tree, &t)
		}
		v.fail(KindMerkle, from, through, false, "records %d..%d do not match the merkle root signed at seq %d", from, through, seq)
		v.cut(seq)
		v.vouchFrom = size // nothing before it is vouched for
	case v.treeOK:
	case stateOK:
		// After a cut: the subtrees of the signed state that the records
		// since the cut make up wholly are compared with them; the records
		// before the first of them share a subtree with records not given,
		// and no signed root can vouch for them.
		from, differ := v.rng.Covered(&t)
		for _, d := range differ {
			lo, hi := d.Start+1, d.Start+uint64(1)<<d.Height
			v.fail(KindMerkle, lo, hi, false, "records %d..%d do not match the merkle root signed at seq %d", lo, hi, seq)
		}
		hashed = true
		v.vouchFrom = from
		if len(differ) > 0 {
			v.vouchFrom = size
		}
		if from > v.rng.Begin && vouches {
			if v.unsignedThrough == 0 {
				v.unsignedFrom, v.unsignedThrough = v.rng.Begin+1, from
			}
			if v.skipMAC {
				v.fail(KindUnvouched, v.rng.Begin+1, from, true, "records %d..%d are covered by no signed tree state (they share a merkle subtree with records not given), and no HMAC key was given: nothing vouches for them", v.rng.Begin+1, from)
			}
		}
	}
	if vouches && hashed {
		v.vouch(size)
	}
	if !v.treeOK && stateOK {
		// After a gap, a purged prefix or a mismatch: the signed tree
		// state lets the records from here on be checked against later
		// roots, each problem once.
		v.tree, v.treeOK = t, true
		v.compareWitnessed()
	}
	if stateOK && (signed || len(v.trusted) == 0) {
		v.compareWitnessedPrefixes(&t)
	}
	v.ckpts++
	if signed || len(v.trusted) == 0 {
		v.lastCkpt = &c
	}
}

// compareWitnessedPrefixes compares the witnessed checkpoints that the
// records cannot reach (they are before the records given: a purged
// prefix, an export from a seq, a gap) with a signed tree state t, where
// t holds their subtrees: a witnessed size that is the size of t's first
// subtrees must have their root (an RFC 6962 consistency proof all of
// whose hashes t holds).
func (v *Verifier) compareWitnessedPrefixes(t *Tree) {
	var n uint64
	for _, st := range t.Subtrees() {
		n += uint64(1) << st.Height
		i, _ := slices.BinarySearchFunc(v.witnessed, n, func(w Checkpoint, n uint64) int { return cmp.Compare(w.Size, n) })
		for ; i < len(v.witnessed) && v.witnessed[i].Size == n; i++ {
			if v.checkedW[i] {
				continue
			}
			w := v.witnessed[i]
			root, _ := t.PrefixRoot(n)
			v.checkedW[i] = true
			if root != w.Root {
				v.fail(KindWitness, 1, w.Size, false, "records 1..%d differ from the witnessed checkpoint of %s (rollback or rewrite)",
					w.Size, record.FormatTime(w.Time))
				continue
			}
			v.matched = max(v.matched, i+1)
		}
	}
}

// purge checks a retention_purge record at seq, which attests that records
// 1..through_seq of the chain were removed by the retention policy,
// through_mac being the MAC of record through_seq. One that breaks a rule
// is invalid. One that checks out is honoured (it accounts for a missing
// prefix up to through_seq) once it is authentic: by its MAC when no
// public key was given; when checkpoint signatures are checked, only once
// a checkpoint signed by a trusted key covers it (see vouch): whoever
// holds the HMAC key alone cannot write one.
func (v *Verifier) purge(seq uint64, r *record.Record) {
	var d struct {
		ThroughSeq uint64 `json:"through_seq"`
		ThroughMAC string `json:"through_mac"`
		Cutoff     string `json:"cutoff"`
		Policy     struct {
			MaxAge string `json:"max_age"`
		} `json:"policy"`
	}
	if err := json.Unmarshal(r.Detail, &d); err != nil || d.ThroughSeq == 0 {
		v.fail(KindRetention, seq, 0, false, "retention_purge record has no valid through_seq")
		return
	}
	// The records purged were sealed before the cutoff, and the cutoff
	// must be at least max_age before the purge itself.
	cutoff, cerr := time.Parse(time.RFC3339Nano, d.Cutoff)
	maxAge, merr := time.ParseDuration(d.Policy.MaxAge)
	if cerr != nil || merr != nil || maxAge <= 0 {
		v.fail(KindRetention, seq, 0, false, "retention_purge record has no valid cutoff and policy.max_age")
		return
	}
	if cutoff.After(r.IngestedAt.Add(-maxAge)) {
		v.fail(KindRetention, seq, 0, false, "retention_purge purges records younger than its policy (cutoff %s, max_age %s)",
			record.FormatTime(cutoff), maxAge)
		return
	}
	if d.ThroughSeq >= seq {
		v.fail(KindRetention, seq, 0, false, "retention_purge record covers itself (through_seq %d)", d.ThroughSeq)
		return
	}
	// Times from outside the record: the configured policy, the clock of
	// this verification, the witnessed checkpoints.
	switch {
	case v.retentionOK && v.retention <= 0:
		v.fail(KindRetention, seq, 0, false, "retention_purge record, but the config sets no retention.max_age: no record may be purged")
		return
	case v.retentionOK && maxAge < v.retention:
		v.fail(KindRetention, seq, 0, false, "retention_purge keeps records for %s, less than the config's retention.max_age %s", maxAge, v.retention)
		return
	case !v.now.IsZero() && cutoff.Add(maxAge).After(v.now):
		v.fail(KindRetention, seq, 0, false, "retention_purge's cutoff %s is less than its max_age %s before this verification", record.FormatTime(cutoff), maxAge)
		return
	}
	// A witnessed checkpoint whose record (seq size+1) was purged was
	// sealed before the cutoff.
	if i := sortSearchSize(v.witnessed, d.ThroughSeq) - 1; i >= 0 {
		if w := v.witnessed[v.witnessMax[i]]; !w.Time.Before(cutoff) {
			v.fail(KindRetention, seq, 0, false, "retention_purge through seq %d purges the checkpoint witnessed at %s (size %d), which is not older than its cutoff %s",
				d.ThroughSeq, record.FormatTime(w.Time), w.Size, record.FormatTime(cutoff))
			return
		}
	}
	if d.ThroughSeq == v.missingPrefix && hex.EncodeToString(v.firstPrev[:]) != d.ThroughMAC {
		v.fail(KindLink, d.ThroughSeq+1, 0, false, "first kept record does not link to the purge boundary of seq %d", seq)
		return
	}
	if len(v.trusted) == 0 && !v.skipMAC {
		v.purgedThrough = max(v.purgedThrough, d.ThroughSeq) // its MAC checked out
		return
	}
	// Wait for a signed checkpoint. A purge through as far or farther
	// replaces the ones waiting before it.
	for len(v.pending) > 0 && v.pending[len(v.pending)-1].through <= d.ThroughSeq {
		v.pending = v.pending[:len(v.pending)-1]
	}
	v.pending = append(v.pending, pendingPurge{seq: seq, through: d.ThroughSeq})
}

// sortSearchSize is the number of witnessed checkpoints (sorted by size)
// whose record, at seq size+1, is at or before seq through.
func sortSearchSize(ws []Checkpoint, through uint64) int {
	i, _ := slices.BinarySearchFunc(ws, through, func(w Checkpoint, t uint64) int {
		if w.Size+1 <= t {
			return -1
		}
		return 1
	})
	return i
}

// Summary is the outcome of verifying one chain.
type Summary struct {
	Chain        string `json:"chain"`
	Records      uint64 `json:"records"`
	Head         uint64 `json:"head_seq"`
	Invalid      int    `json:"problems"`
	Unverifiable int    `json:"unverifiable"`
	// PurgedThrough is the highest seq that an authentic retention_purge
	// record of the chain says was purged (0: none).
	PurgedThrough uint64 `json:"purged_through,omitempty"`
	// Checkpoints counts the checkpoint records seen; CheckpointSize and
	// CheckpointTime describe the newest that checked out (size 0: none).
	Checkpoints    int       `json:"checkpoints"`
	CheckpointSize uint64    `json:"checkpoint_size,omitempty"`
	CheckpointTime time.Time `json:"checkpoint_time,omitzero"`
	// From is the first seq given when an export starts past seq 1.
	From uint64 `json:"from_seq,omitempty"`
	// UnsignedFrom..UnsignedThrough (0: none) is the first run of records
	// after a cut (a purged prefix, an export's start, a gap) that share a
	// Merkle subtree with records not given: no signed tree state can
	// cover them, only their MACs vouch for them.
	UnsignedFrom    uint64 `json:"unsigned_from,omitempty"`
	UnsignedThrough uint64 `json:"unsigned_through,omitempty"`
	// SealedEpoch is the newest epoch closed by a seal record, at
	// SealedAt (0: none).
	SealedEpoch uint64    `json:"sealed_epoch,omitempty"`
	SealedAt    time.Time `json:"sealed_at,omitzero"`
	// Witness says how the records stand against the witnessed
	// checkpoints of the chain ("": none was given): one of the Witness*
	// constants. WitnessedSize and WitnessedTime describe the newest
	// witnessed checkpoint, WitnessedMatch is the largest witnessed size
	// the records were compared with and found equal (0: none).
	Witness        string    `json:"witness,omitempty"`
	WitnessedSize  uint64    `json:"witnessed_size,omitempty"`
	WitnessedTime  time.Time `json:"witnessed_time,omitzero"`
	WitnessedMatch uint64    `json:"witnessed_match,omitempty"`
	// Absent: the store holds no record of this chain, which a witnessed
	// checkpoint or the caller (the config's chain.id) names.
	Absent bool `json:"absent,omitempty"`
}

// How a chain's records stand against its witnessed checkpoints
// (Summary.Witness).
const (
	// WitnessExtended: the records reach the newest witnessed checkpoint
	// (whether they match it is in the problems).
	WitnessExtended = "extended"
	// WitnessExportEnds: an export that ends before the newest witnessed
	// checkpoint and was compared with an earlier one: it was taken before
	// the chain grew, and is valid, ending where it ends, when it matched
	// (WitnessedMatch; a difference is a problem).
	WitnessExportEnds = "export_ends_earlier"
	// WitnessExportUnconfirmed: an export that ends before every
	// witnessed checkpoint it could be compared with: that it is part of
	// the witnessed chain cannot be shown (unverifiable).
	WitnessExportUnconfirmed = "export_ends_earlier_unconfirmed"
	// WitnessTruncated: a live store shorter than the newest witnessed
	// checkpoint: its newest records were removed (invalid).
	WitnessTruncated = "truncated"
	// WitnessAbsent: the store holds no record of a witnessed chain
	// (invalid).
	WitnessAbsent = "absent"
)

// Finish returns the summary. A chain with no records at all is reported
// as a problem: a chain that exists has at least its chain_start.
func (v *Verifier) Finish() Summary {
	if v.records == 0 {
		v.fail(KindAbsent, 1, 0, false, "chain has no records")
	}
	if v.missingPrefix > 0 && v.purgedThrough < v.missingPrefix && v.startAt != v.missingPrefix+1 {
		// A purge that checks out but that no signed checkpoint covers yet
		// (the sidecar writes one right after each purge; a store read
		// between the two, or a purge forged with the HMAC key alone, looks
		// like this) leaves the prefix unproven; nothing else accounts for
		// it.
		if len(v.pending) > 0 && v.pending[0].through >= v.missingPrefix {
			v.fail(KindRetention, 1, v.missingPrefix, true, "seq 1..%d were purged by the retention_purge record at seq %d, which no checkpoint signed by a trusted key covers: the purge cannot be told from a forgery",
				v.missingPrefix, v.pending[0].seq)
		} else {
			v.fail(KindMissing, 1, v.missingPrefix, false, "records missing (no retention_purge record covers them)")
		}
	}
	s := Summary{Chain: v.chain, Records: v.records, Head: v.lastSeen,
		PurgedThrough: v.purgedThrough, Checkpoints: v.ckpts, SealedEpoch: v.sealedEpoch, SealedAt: v.sealedAt,
		UnsignedFrom: v.unsignedFrom, UnsignedThrough: v.unsignedThrough}
	v.finishWitnessed(&s)
	s.Invalid, s.Unverifiable = v.invalid, v.unverif
	if v.startAt > 1 && v.missingPrefix+1 == v.startAt {
		s.From = v.startAt
	}
	if v.lastCkpt != nil {
		s.CheckpointSize, s.CheckpointTime = v.lastCkpt.Size, v.lastCkpt.Time
	}
	return s
}

// finishWitnessed judges the witnessed checkpoints that the records did
// not reach or could not be compared with, and says in s how the records
// stand against them.
func (v *Verifier) finishWitnessed(s *Summary) {
	if len(v.witnessed) == 0 {
		return
	}
	newest := v.witnessed[len(v.witnessed)-1]
	s.WitnessedSize, s.WitnessedTime = newest.Size, newest.Time
	if v.matched > 0 {
		s.WitnessedMatch = v.witnessed[v.matched-1].Size
	}
	// Witnessed checkpoints of records before those given on purpose (an
	// export from a seq, a purged prefix) cannot be compared, and need not.
	prefixGiven := v.missingPrefix > 0 && (v.purgedThrough >= v.missingPrefix || v.startAt == v.missingPrefix+1)
	var uncompared []Checkpoint
	for i, w := range v.witnessed {
		if v.checkedW[i] || w.Size > v.lastSeen || w.Size <= v.purgedThrough || prefixGiven && w.Size < v.missingPrefix {
			continue
		}
		uncompared = append(uncompared, w)
	}
	switch n := len(uncompared); {
	case n == 1:
		v.fail(KindWitness, uncompared[0].Size, 0, true, "the witnessed checkpoint of size %d could not be compared: the records before it cannot be hashed from seq 1 or from a checkpoint (gap)", uncompared[0].Size)
	case n > 1:
		v.fail(KindWitness, uncompared[0].Size, 0, true, "%d witnessed checkpoints (sizes %d..%d) could not be compared: the records before them cannot be hashed from seq 1 or from a checkpoint (gap)",
			n, uncompared[0].Size, uncompared[n-1].Size)
	}
	switch {
	case newest.Size <= v.lastSeen:
		s.Witness = WitnessExtended
	case !v.export:
		s.Witness = WitnessTruncated
		v.fail(KindWitness, v.lastSeen+1, newest.Size, false, "the store ends at seq %d, but a witnessed checkpoint of %s covers %d records (the newest records were removed: truncation or rollback)",
			v.lastSeen, record.FormatTime(newest.Time), newest.Size)
	case v.matched > 0 || slices.Contains(v.checkedW, true):
		// An export taken before the chain grew: it ends where it was
		// taken, and matches the witness up to there (or differs from
		// it, which the problems say).
		s.Witness = WitnessExportEnds
	default:
		s.Witness = WitnessExportUnconfirmed
		v.fail(KindWitness, v.lastSeen+1, newest.Size, true, "the export ends at seq %d, before the witnessed checkpoint of %s (%d records), and reaches no witnessed checkpoint it can be compared with: that it is part of the witnessed chain cannot be shown (give a checkpoint witnessed when it was taken, such as the sidecar's stdout lines, with --checkpoint)",
			v.lastSeen, record.FormatTime(newest.Time), newest.Size)
	}
}

// Absent returns the summary of a chain of which the store holds no
// record although it is named: by a witnessed checkpoint (something was
// published for it: the chain was deleted, emptied or replaced; invalid),
// or only by namedBy, such as the config's chain.id (nothing proves it
// ever had records; unverifiable). Call it instead of feeding records.
func (v *Verifier) Absent(namedBy string) Summary {
	s := Summary{Chain: v.chain, Absent: true}
	if len(v.witnessed) > 0 {
		w := v.witnessed[len(v.witnessed)-1]
		s.Witness, s.WitnessedSize, s.WitnessedTime = WitnessAbsent, w.Size, w.Time
		what := "the store"
		if v.export {
			what = "the export"
		}
		v.fail(KindWitness, 1, w.Size, false, "%s holds no record of this chain, but a witnessed checkpoint of %s covers %d records (the chain was deleted, emptied or replaced)",
			what, record.FormatTime(w.Time), w.Size)
	} else {
		v.fail(KindAbsent, 1, 0, true, "%s names this chain, but the store holds no record of it, and no witnessed checkpoint says whether it had any: an emptied store cannot be told from one never written to", namedBy)
	}
	s.Invalid, s.Unverifiable = v.invalid, v.unverif
	return s
}

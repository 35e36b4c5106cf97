package chain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"

	"github.com/fips-agents/audit-sidecar/record"
)

// Head is the state of a chain after its newest record: the record's seq
// and MAC. The zero Head is an empty chain.
type Head struct {
	Seq uint64
	MAC [32]byte
}

// Sealer appends records to one chain. It is not safe for concurrent use:
// one goroutine owns a chain.
type Sealer struct {
	id     string
	key    Key
	head   Head
	mac    hash.Hash
	buf    []byte
	strBuf []byte // the times and prev of the record being sealed, before they become one string
	// tree is the Merkle tree of the records 1..tree.Size; it follows the
	// head only when tree.Size == head.Seq (see SetTree).
	tree Tree
	// epoch is the forward-secure epoch of key (0: epochs off).
	epoch uint64
}

// NewSealer continues chain id from head (the zero Head for a new chain).
func NewSealer(id string, key Key, head Head) *Sealer {
	return &Sealer{id: id, key: key, head: head, mac: hmac.New(sha256.New, key.secret)}
}

// Rekey makes k the key of the records sealed from now on (a key
// rotation); the head and tree carry on.
func (s *Sealer) Rekey(k Key) {
	s.key = k
	s.mac = hmac.New(sha256.New, k.secret)
}

// SetEpoch says which epoch the current key belongs to (0: epochs off);
// records are sealed with it in their epoch field.
func (s *Sealer) SetEpoch(e uint64) { s.epoch = e }

// Epoch returns the epoch of the current key.
func (s *Sealer) Epoch() uint64 { return s.epoch }

// Key returns the current key (for storing it in an EpochFile).
func (s *Sealer) Key() Key { return s.key }

// Ratchet moves to the next epoch: its key is derived from the current
// one, which is erased.
func (s *Sealer) Ratchet() {
	next := s.key.Ratchet(s.epoch)
	s.key.Erase()
	s.Rekey(next)
	s.epoch++
}

// Head returns the chain head after the last sealed record.
func (s *Sealer) Head() Head { return s.head }

// SetTree sets the Merkle tree state of the records up to the head. A
// Sealer continuing a chain whose tree is unknown (t.Size != head seq)
// keeps no tree: TreeKnown is false and no checkpoint can be made.
func (s *Sealer) SetTree(t Tree) { s.tree = t.Clone() }

// TreeKnown reports whether Tree covers every record up to the head.
func (s *Sealer) TreeKnown() bool { return s.tree.Size == s.head.Seq }

// Tree returns a copy of the Merkle tree state of the records up to the
// head (meaningful only when TreeKnown).
func (s *Sealer) Tree() Tree { return s.tree.Clone() }

// Seal fills r's chain fields (v, chain, seq, kid, prev), encodes it and
// MACs it, and advances the head. The returned payload is a fresh slice
// owned by the caller, and never changed after: the spool and the sinks
// share it. The returned Indexed is the payload's (record.Index).
func (s *Sealer) Seal(r *record.Record) record.Sealed {
	r.V = record.Version
	r.Chain = s.id
	r.Seq = s.head.Seq + 1
	r.Kid = s.key.ID
	r.Epoch = s.epoch
	// One string holds the record's times, as the payload writes them,
	// and prev: the columns and the encoder slice it (one allocation
	// instead of three).
	s.strBuf = record.AppendTime(s.strBuf[:0], r.TS)
	nTS := len(s.strBuf)
	s.strBuf = record.AppendTime(s.strBuf, r.IngestedAt)
	nIng := len(s.strBuf)
	s.strBuf = hex.AppendEncode(s.strBuf, s.head.MAC[:])
	strs := string(s.strBuf)
	r.Prev = strs[nIng:]
	var payload []byte
	if n := sizeHint(r); n > maxSealBuf {
		// A big record is encoded once, into a buffer of its size that
		// becomes its payload: no buffer grown by doubling, no copy.
		payload = record.AppendCanonical(make([]byte, 0, n), r)
	} else {
		s.buf = record.AppendCanonical(s.buf[:0], r)
		payload = make([]byte, len(s.buf))
		copy(payload, s.buf)
	}
	out := record.Sealed{Chain: s.id, Seq: r.Seq, Payload: payload, Indexed: &record.Indexed{Chain: r.Chain, Seq: r.Seq, Prev: r.Prev,
		PrevMAC: s.head.MAC, HasPrevMAC: true}}
	out.Indexed.Columns.SetFromTimes(r, strs[:nTS], strs[nTS:nIng])
	s.mac.Reset()
	s.mac.Write(s.head.MAC[:])
	s.mac.Write(payload)
	s.mac.Sum(out.MAC[:0])
	if s.tree.Size == s.head.Seq {
		s.tree.Append(LeafHash(payload))
	}
	s.head = Head{Seq: r.Seq, MAC: out.MAC}
	return out
}

// maxSealBuf bounds the encoding buffer a Sealer keeps between records.
const maxSealBuf = 64 << 10

// sizeHint is about the length of r's payload: its raw JSON and strings,
// an eighth more for escapes, and room for the fixed fields.
func sizeHint(r *record.Record) int {
	n := 1024 + len(r.Arguments) + len(r.Detail)
	for _, f := range [...]string{r.Chain, r.Action, r.User, r.Tenant, r.Agent, r.Session, r.Trace, r.Model, r.Tool, r.Outcome, r.Approver, r.Kid, r.Prev} {
		n += len(f) + len(f)/8
	}
	if m := r.Manifest; m != nil {
		n += len(m.Policy)
		for _, rh := range m.Rules {
			n += 64 + len(rh.Rule) + len(rh.Type)
			for _, p := range rh.Paths {
				n += 4 + len(p) + len(p)/8
			}
		}
	}
	return n
}

// MAC computes HMAC-SHA256(key, prev || payload), a record's MAC as
// docs/chain-format.md defines it, spelled out once. The sealer and the
// verifier reuse keyed HMAC states instead; MAC is for checking a record
// by hand (the tests of this package and of those that seal records).
func MAC(key Key, prev [32]byte, payload []byte) [32]byte {
	m := hmac.New(sha256.New, key.secret)
	m.Write(prev[:])
	m.Write(payload)
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// Add checks one stored record (its seq as stored, its payload and its
// MAC) with v: Prepare, then AddPrepared, in one step. It returns the
// decoded record (nil when the payload does not decode). verify.Run
// prepares many records at once; Add is for checking a chain record by
// record, as tests of the packages that seal records do.
func (v *Verifier) Add(seq uint64, payload, mac []byte) *record.Record {
	return v.AddPrepared(v.Prepare(seq, payload, mac))
}

package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the payload format version written in the "v" field. Version
// 2 replaced the "redactions" counts of version 1 by a manifest; payloads
// of version 1 still parse, re-encode and verify.
const Version = 2

// Agent actions (from the event) and the sidecar's own actions.
const (
	ActionDecision          = "decision"
	ActionModelCall         = "model_call"
	ActionToolCall          = "tool_call"
	ActionToolResult        = "tool_result"
	ActionApprovalRequested = "approval_requested"
	ActionApprovalGranted   = "approval_granted"
	ActionApprovalDenied    = "approval_denied"
	ActionError             = "error"
	ActionOther             = "other"

	ActionChainStart     = "chain_start"
	ActionParseError     = "parse_error"
	ActionCheckpoint     = "checkpoint"
	ActionKeyRotation    = "key_rotation"
	ActionRetentionPurge = "retention_purge"
	ActionSidecarStart   = "sidecar_start"
	ActionSidecarStop    = "sidecar_stop"
	// ActionGap says records or source lines are missing for a stated
	// reason (a spool file found corrupt at start).
	ActionGap = "gap"
	// ActionSeal closes a forward-secure key epoch: the last record sealed
	// with the epoch's key.
	ActionSeal = "seal"
)

// Actions lists every valid action, agent and sidecar ones.
var Actions = []string{
	ActionDecision, ActionModelCall, ActionToolCall, ActionToolResult,
	ActionApprovalRequested, ActionApprovalGranted, ActionApprovalDenied,
	ActionError, ActionOther,
	ActionChainStart, ActionParseError, ActionCheckpoint, ActionKeyRotation,
	ActionRetentionPurge, ActionSidecarStart, ActionSidecarStop, ActionGap, ActionSeal,
}

// Outcomes lists the valid outcome values.
var Outcomes = []string{"success", "failure", "pending", "approved", "denied", "unknown"}

// IsAction reports whether s is a valid action.
func IsAction(s string) bool { return contains(Actions, s) }

// IsOutcome reports whether s is a valid outcome.
func IsOutcome(s string) bool { return contains(Outcomes, s) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Source says where an agent event came from: the file, its generation
// (device and inode) and the byte offset of the line's first byte.
// RawSHA256, when not empty, is the lower-case hex SHA-256 of the line's
// exact bytes without its "\n" (under an envelope, of the lines the
// message was joined from, joined by "\n"); it is set only when decoding
// them replaced some of what the agent wrote with U+FFFD (invalid UTF-8,
// an unpaired surrogate escape), so that a U+FFFD in the stored strings
// never hides what the agent wrote: the original stays provable.
type Source struct {
	File      string `json:"file"`
	Dev       uint64 `json:"dev"`
	Ino       uint64 `json:"ino"`
	Offset    int64  `json:"offset"`
	RawSHA256 string `json:"raw_sha256,omitempty"`
}

// Record is one audit record. Parsing fills the event fields, redaction
// rewrites Arguments, Detail and Manifest, and chaining fills V, Chain,
// Seq, Kid and Prev. MAC is not part of the payload.
type Record struct {
	V          int
	Chain      string
	Seq        uint64
	TS         time.Time
	IngestedAt time.Time
	Action     string
	User       string
	Tenant     string
	Agent      string
	Session    string
	Trace      string
	Model      string
	Tool       string
	Arguments  json.RawMessage // compact JSON, any type; nil when absent
	Outcome    string
	Approver   string
	Detail     json.RawMessage // compact JSON object; nil when absent
	// Manifest is what redaction replaced (version 2); nil when nothing.
	Manifest *Manifest
	// Redactions is the version 1 "redactions" member: type -> count.
	// Version 2 payloads never carry it.
	Redactions map[string]int
	Source     *Source
	Kid        string
	// Epoch is the forward-secure key epoch the record was sealed in (1,
	// 2, ...; 0 when epochs are off): see docs/chain-format.md.
	Epoch uint64
	Prev  string // hex MAC of Seq-1; 64 zeros for seq 1
}

// Sealed is a chained record as the spool keeps it and sinks store it:
// the canonical payload bytes and their MAC.
type Sealed struct {
	Chain   string
	Seq     uint64
	Payload []byte
	MAC     [32]byte
	// Indexed, when not nil, is Index(Payload), set by the sealer from
	// the record it encoded so that sinks need not decode the payload
	// again. Records read back from storage have none.
	Indexed *Indexed
}

// MaxManifestPaths bounds the paths a manifest lists per rule; MaxPathBytes
// bounds each path.
const (
	MaxManifestPaths = 16
	MaxPathBytes     = 256
)

// Manifest is the "redactions" member of a version 2 payload: the
// redaction policy version and, per rule, what it replaced and where,
// never the values.
type Manifest struct {
	Policy string
	Rules  []RuleHits // sorted by Rule, one per rule
}

// RuleHits is what one redaction rule replaced in a record.
type RuleHits struct {
	Rule  string   // "builtin:CARD", "rule:<name>", "path:<path>"
	Type  string   // the type in its masks
	Count int      // values replaced
	Paths []string // distinct JSON paths, byte order, at most MaxManifestPaths
	More  int      // distinct paths left out of Paths
}

// ManifestBuilder collects hits into a Manifest. The zero value is ready.
// Its memory does not grow with the hits added, only with the places
// past MaxManifestPaths (16 bytes each): a record of a million findings
// at a thousand paths keeps a thousand digests.
type ManifestBuilder struct {
	rules map[string]*ruleAcc
}

type ruleAcc struct {
	typ   string
	count int
	first []string // the smallest distinct paths, byte order, at most MaxManifestPaths
	// more holds a digest of each path added once first is full and the
	// path is not in it, and of each path moved out of first; repeats
	// included (hits at one path come in runs, and a run adds one). Their
	// distinct number is the paths left out.
	more [][16]byte
	last string // the path added last
}

// Add records one replacement by rule of type typ at path ("" for none).
func (b *ManifestBuilder) Add(rule, typ, path string) {
	if b.rules == nil {
		b.rules = map[string]*ruleAcc{}
	}
	a := b.rules[rule]
	if a == nil {
		a = &ruleAcc{typ: typ}
		b.rules[rule] = a
	}
	a.count++
	if path == "" || path == a.last {
		return
	}
	a.last = path
	p := clipPath(path)
	i, found := slices.BinarySearch(a.first, p)
	switch {
	case found:
	case len(a.first) < MaxManifestPaths:
		a.first = slices.Insert(a.first, i, p)
	case i < len(a.first):
		// p takes its place among the smallest; the largest kept moves out.
		a.more = appendDoubling(a.more, pathDigest(a.first[len(a.first)-1]))
		copy(a.first[i+1:], a.first[i:])
		a.first[i] = p
	default:
		a.more = appendDoubling(a.more, pathDigest(p))
	}
}

// appendDoubling appends d, doubling the capacity when it grows (append
// grows a large slice by a quarter, which allocates about five times the
// final size on the way).
func appendDoubling(s [][16]byte, d [16]byte) [][16]byte {
	if len(s) == cap(s) {
		s = slices.Grow(s, max(len(s), 16))
	}
	return append(s, d)
}

// pathDigest names a path in 16 bytes of its SHA-256: distinct paths
// collide with a probability too small to matter for the count of
// paths left out.
func pathDigest(p string) (d [16]byte) {
	sum := sha256.Sum256([]byte(p))
	copy(d[:], sum[:])
	return d
}

// leftOut is the number of distinct paths in more, none of which is in
// first: a path enters first only when it is new (the largest kept only
// ever gets smaller), and one moved out never comes back. It sorts more.
func (a *ruleAcc) leftOut() int {
	slices.SortFunc(a.more, func(x, y [16]byte) int { return bytes.Compare(x[:], y[:]) })
	a.more = slices.Compact(a.more)
	return len(a.more)
}

// Manifest returns the manifest of the hits added, or nil if none.
func (b *ManifestBuilder) Manifest(policy string) *Manifest {
	if len(b.rules) == 0 {
		return nil
	}
	m := &Manifest{Policy: policy}
	for rule, a := range b.rules {
		m.Rules = append(m.Rules, RuleHits{Rule: rule, Type: a.typ, Count: a.count, Paths: slices.Clone(a.first), More: a.leftOut()})
	}
	slices.SortFunc(m.Rules, func(x, y RuleHits) int { return strings.Compare(x.Rule, y.Rule) })
	return m
}

// clipPath cuts a path to MaxPathBytes, at a UTF-8 boundary, marking the
// cut with "...".
func clipPath(p string) string {
	if len(p) <= MaxPathBytes {
		return p
	}
	n := MaxPathBytes - 3
	for n > 0 && !utf8.RuneStart(p[n]) {
		n--
	}
	return p[:n] + "..."
}

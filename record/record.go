package record

import (
	"encoding/json"
	"time"
)

// Version is the payload format version written in the "v" field.
const Version = 1

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
type Source struct {
	File   string `json:"file"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
}

// Record is one audit record. Parsing fills the event fields, redaction
// rewrites Arguments, Detail and Redactions, and chaining fills V, Chain,
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
}

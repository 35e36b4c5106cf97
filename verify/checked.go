package verify

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// Checked says, for people as much as for scripts, what a verification
// checked and with what: the tool, when it ran, the keys (by fingerprint,
// never their bytes), the witness, the freshness bound, what each chain
// holds, each problem in plain words and what remains unprotected. It is
// the "checked" member of the --json report and the content of the HTML
// report (WriteHTML).
type Checked struct {
	Tool  Tool      `json:"tool"`
	RanAt time.Time `json:"ran_at"`
	// Input names what was read (a sink or an export file); set by the
	// caller, which knows.
	Input      string     `json:"input,omitempty"`
	MACs       MACs       `json:"macs"`
	Signatures Signatures `json:"signatures"`
	Witness    Witness    `json:"witness"`
	Freshness  Freshness  `json:"freshness"`
	// Chains lists what at most MaxCheckedChains chains hold: those with
	// problems first, then the others, in the store's order; MoreChains
	// adds up the rest (nil when every chain is listed), so that a store
	// of many chains gives a report of bounded size with exact totals.
	// The report's own "chains" lists every chain.
	Chains     []Activity  `json:"chains"`
	MoreChains *MoreChains `json:"more_chains,omitempty"`
	// Problems and Unprotected are derived from the report's Problems and
	// Exposure when it is encoded or rendered (see Report.Explained), so
	// that they never lag behind problems a caller adds to the report.
	// Unprotected says the exposure lines that concern no chain or a chain
	// that Chains lists (at most MaxListed); MoreUnprotected counts the
	// others, which the report's "exposure" holds.
	Problems        []Problem `json:"problems"`
	Unprotected     []string  `json:"unprotected"`
	MoreUnprotected int       `json:"more_unprotected,omitempty"`
}

// MaxCheckedChains bounds the chains that Checked.Chains lists.
const MaxCheckedChains = 1000

// MoreChains adds up the chains that a report does not list one by one:
// how many, their records (per action too), their problems, and the span
// of their times.
type MoreChains struct {
	Chains       int               `json:"chains"`
	Records      uint64            `json:"records"`
	Problems     int               `json:"problems"`
	Unverifiable int               `json:"unverifiable"`
	EventsFrom   time.Time         `json:"events_from,omitzero"`
	EventsTo     time.Time         `json:"events_to,omitzero"`
	IngestedFrom time.Time         `json:"ingested_from,omitzero"`
	IngestedTo   time.Time         `json:"ingested_to,omitzero"`
	Actions      map[string]uint64 `json:"actions"`
}

// Tool is the program that verified: what `audit-sidecar version` prints.
type Tool struct {
	Name            string `json:"name"`
	Version         string `json:"version"`
	Revision        string `json:"revision,omitempty"` // VCS revision the binary was built from
	RevisionTime    string `json:"revision_time,omitempty"`
	Modified        bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go              string `json:"go"`
	Platform        string `json:"platform"`
	FIPS140         bool   `json:"fips140"`
	FIPS140Enforced bool   `json:"fips140_enforced"`
	FIPS140Module   string `json:"fips140_module,omitempty"`
	GOFIPS140       string `json:"gofips140,omitempty"`
}

// MACs says whether record MACs were checked, and with which HMAC keys.
type MACs struct {
	Checked bool     `json:"checked"`
	Keys    []MACKey `json:"keys"`
}

// MACKey names an HMAC key by its id and fingerprint (chain.Key.Fingerprint).
type MACKey struct {
	Kid         string `json:"kid"`
	Fingerprint string `json:"fingerprint"`
}

// Signatures says whether checkpoint signatures were checked, and with
// which public keys.
type Signatures struct {
	Checked bool        `json:"checked"`
	Keys    []PublicKey `json:"keys"`
}

// PublicKey names a trusted checkpoint key: its signer name, algorithm,
// the signed-note key hash its signatures carry, and the SHA-256 of its
// PKIX DER.
type PublicKey struct {
	Name        string `json:"name"`
	Algorithm   string `json:"algorithm,omitempty"`
	KeyHash     string `json:"key_hash"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Witness says whether checkpoints kept off the pod were compared, from
// where, and the newest of each chain.
type Witness struct {
	Checked     bool                  `json:"checked"`
	Source      string                `json:"source,omitempty"` // set by the caller
	Checkpoints []WitnessedCheckpoint `json:"checkpoints"`
}

// WitnessedCheckpoint is the newest witnessed checkpoint of a chain.
type WitnessedCheckpoint struct {
	Chain string    `json:"chain"`
	Size  uint64    `json:"size"`
	Time  time.Time `json:"time"`
	Root  string    `json:"root"` // hex Merkle root of the first Size records
}

// Freshness says whether the freshness bound (--max-age) was applied.
type Freshness struct {
	Checked bool   `json:"checked"`
	MaxAge  string `json:"max_age,omitempty"`
}

// Activity is what a chain holds as stored: its time span (the earliest
// and latest event time of the agent's records, and of every record's
// ingestion) and its records per action. Records that do not decode, or
// come out of order, count under "unreadable" when the store has no
// action column for them; actions that are not in record.Actions count
// under "unrecognized". The counters are fixed: a hostile store cannot
// make them grow.
type Activity struct {
	Chain        string            `json:"chain"`
	Records      uint64            `json:"records"`
	EventsFrom   time.Time         `json:"events_from,omitzero"`
	EventsTo     time.Time         `json:"events_to,omitzero"`
	IngestedFrom time.Time         `json:"ingested_from,omitzero"`
	IngestedTo   time.Time         `json:"ingested_to,omitzero"`
	Actions      map[string]uint64 `json:"actions"`
}

// Buckets of Activity.Actions besides record.Actions.
const (
	ActionUnreadable   = "unreadable"
	ActionUnrecognized = "unrecognized"
)

// tally counts a chain's records while it is verified: a fixed number of
// counters, whatever the chain's length or content.
type tally struct {
	records               uint64
	actions               [len(actionIndex) + 2]uint64 // + unrecognized, unreadable
	evFrom, evTo          time.Time
	inFrom, inTo          time.Time
	haveEvents, haveInges bool
}

// agentActions is how many of actionIndex, from the first, are the
// agent's own actions (the others are the sidecar's).
const agentActions = 9

// actionIndex maps record.Actions to counter indexes.
var actionIndex = [...]string{
	record.ActionDecision, record.ActionModelCall, record.ActionToolCall, record.ActionToolResult,
	record.ActionApprovalRequested, record.ActionApprovalGranted, record.ActionApprovalDenied,
	record.ActionError, record.ActionOther,
	record.ActionChainStart, record.ActionParseError, record.ActionCheckpoint, record.ActionKeyRotation,
	record.ActionRetentionPurge, record.ActionSidecarStart, record.ActionSidecarStop, record.ActionGap, record.ActionSeal,
}

// add counts one row; r is its decoded payload (nil if it did not decode
// or was not taken in order), from which the action and times are read;
// without it the stored action column is used when there is one.
func (t *tally) add(row *sink.Row, r *record.Record) {
	t.records++
	action := row.Action
	if r != nil {
		action = r.Action
		if i := slices.Index(actionIndex[:], r.Action); i >= 0 && i < agentActions && !r.TS.IsZero() {
			t.evFrom, t.evTo, t.haveEvents = widen(t.evFrom, t.evTo, t.haveEvents, r.TS)
		}
		if !r.IngestedAt.IsZero() {
			t.inFrom, t.inTo, t.haveInges = widen(t.inFrom, t.inTo, t.haveInges, r.IngestedAt)
		}
	}
	switch i := slices.Index(actionIndex[:], action); {
	case action == "":
		t.actions[len(actionIndex)+1]++
	case i < 0:
		t.actions[len(actionIndex)]++
	default:
		t.actions[i]++
	}
}

func widen(from, to time.Time, have bool, t time.Time) (time.Time, time.Time, bool) {
	if !have || t.Before(from) {
		from = t
	}
	if !have || t.After(to) {
		to = t
	}
	return from, to, true
}

// merge adds o's counts and times to t.
func (t *tally) merge(o *tally) {
	t.records += o.records
	for i, n := range o.actions {
		t.actions[i] += n
	}
	if o.haveEvents {
		t.evFrom, t.evTo, t.haveEvents = widen(t.evFrom, t.evTo, t.haveEvents, o.evFrom)
		t.evFrom, t.evTo, t.haveEvents = widen(t.evFrom, t.evTo, t.haveEvents, o.evTo)
	}
	if o.haveInges {
		t.inFrom, t.inTo, t.haveInges = widen(t.inFrom, t.inTo, t.haveInges, o.inFrom)
		t.inFrom, t.inTo, t.haveInges = widen(t.inFrom, t.inTo, t.haveInges, o.inTo)
	}
}

func (t *tally) activity(id string) Activity {
	a := Activity{Chain: id, Records: t.records, Actions: map[string]uint64{},
		EventsFrom: t.evFrom, EventsTo: t.evTo, IngestedFrom: t.inFrom, IngestedTo: t.inTo}
	for i, n := range t.actions {
		if n == 0 {
			continue
		}
		switch {
		case i < len(actionIndex):
			a.Actions[actionIndex[i]] = n
		case i == len(actionIndex):
			a.Actions[ActionUnrecognized] = n
		default:
			a.Actions[ActionUnreadable] = n
		}
	}
	return a
}

// listedChains marks up to limit of chains to list one by one: those
// with problems first, then the others, each in order.
func listedChains(chains []chain.Summary, limit int) []bool {
	listed := make([]bool, len(chains))
	n := 0
	for _, withProblems := range []bool{true, false} {
		for i, c := range chains {
			if n == limit {
				return listed
			}
			if (c.Invalid+c.Unverifiable > 0) == withProblems {
				listed[i] = true
				n++
			}
		}
	}
	return listed
}

// newChecked says what Run checked with opts; ids are the chains
// verified, tallies and sums (in the same order) what they hold and how
// they stand.
func newChecked(opts Options, ids []string, tallies []tally, sums []chain.Summary) *Checked {
	c := &Checked{
		Tool:        Tool{Name: "audit-sidecar"},
		RanAt:       opts.Now().UTC(),
		MACs:        MACs{Checked: len(opts.Keys) > 0, Keys: []MACKey{}},
		Signatures:  Signatures{Checked: len(opts.Trusted) > 0, Keys: []PublicKey{}},
		Witness:     Witness{Checked: len(opts.Witnessed) > 0, Checkpoints: []WitnessedCheckpoint{}},
		Freshness:   Freshness{Checked: opts.MaxAge > 0},
		Chains:      []Activity{},
		Problems:    []Problem{},
		Unprotected: []string{},
	}
	for _, k := range opts.Keys {
		c.MACs.Keys = append(c.MACs.Keys, MACKey{Kid: k.ID, Fingerprint: k.Fingerprint()})
	}
	slices.SortFunc(c.MACs.Keys, func(a, b MACKey) int { return strings.Compare(a.Kid, b.Kid) })
	for _, v := range opts.Trusted {
		pk := PublicKey{Name: v.Name(), KeyHash: fmt.Sprintf("%08x", v.KeyHash())}
		if nv, ok := v.(*chain.NoteVerifier); ok {
			pk.Algorithm, pk.Fingerprint = nv.Algorithm(), nv.Fingerprint()
		}
		c.Signatures.Keys = append(c.Signatures.Keys, pk)
	}
	newest := map[string]int{}
	for _, w := range opts.Witnessed {
		wc := WitnessedCheckpoint{Chain: w.Chain, Size: w.Size, Time: w.Time, Root: hex.EncodeToString(w.Root[:])}
		if i, ok := newest[w.Chain]; !ok {
			newest[w.Chain] = len(c.Witness.Checkpoints)
			c.Witness.Checkpoints = append(c.Witness.Checkpoints, wc)
		} else if w.Size > c.Witness.Checkpoints[i].Size {
			c.Witness.Checkpoints[i] = wc
		}
	}
	if opts.MaxAge > 0 {
		c.Freshness.MaxAge = opts.MaxAge.String()
	}
	listed := listedChains(sums[:min(len(sums), len(ids))], MaxCheckedChains)
	var more tally
	for i, id := range ids {
		if i < len(listed) && listed[i] {
			c.Chains = append(c.Chains, tallies[i].activity(id))
			continue
		}
		if c.MoreChains == nil {
			c.MoreChains = &MoreChains{}
		}
		c.MoreChains.Chains++
		if i < len(sums) {
			c.MoreChains.Problems += sums[i].Invalid
			c.MoreChains.Unverifiable += sums[i].Unverifiable
		}
		more.merge(&tallies[i])
	}
	if m := c.MoreChains; m != nil {
		a := more.activity("")
		m.Records, m.Actions = a.Records, a.Actions
		m.EventsFrom, m.EventsTo, m.IngestedFrom, m.IngestedTo = a.EventsFrom, a.EventsTo, a.IngestedFrom, a.IngestedTo
	}
	return c
}

// Explained returns a copy of rep.Checked (nil if there is none) with
// Problems and Unprotected derived from rep's Problems and Exposure, in
// plain words (see Explain and Unprotected).
func (rep *Report) Explained() *Checked {
	if rep.Checked == nil {
		return nil
	}
	c := *rep.Checked
	c.Problems = make([]Problem, len(rep.Problems))
	for i, p := range rep.Problems {
		c.Problems[i] = Explain(p)
	}
	listed := map[string]bool{}
	for _, a := range c.Chains {
		listed[a.Chain] = true
	}
	for _, s := range rep.Chains {
		if s.Absent { // not in the store, so not in Chains: always listed
			listed[s.Chain] = true
		}
	}
	c.Unprotected, c.MoreUnprotected = rep.unprotected(listed, MaxListed)
	return &c
}

// unprotected puts in plain words the exposure lines that concern no
// chain, or a chain in listed, up to limit of them, and counts the others.
func (rep *Report) unprotected(listed map[string]bool, limit int) ([]string, int) {
	ids := make(map[string]bool, len(rep.Chains))
	for _, s := range rep.Chains {
		ids[s.Chain] = true
	}
	out, more := []string{}, 0
	for _, e := range rep.Exposure {
		if id, ok := exposureChain(e, ids); ok && !listed[id] || len(out) == limit {
			more++
			continue
		}
		out = append(out, Unprotected(e))
	}
	return out, more
}

// exposureChain is the chain an exposure line is about ("chain <id>:
// ..."), found among ids; ok false for a line about no chain.
func exposureChain(line string, ids map[string]bool) (string, bool) {
	rest, ok := strings.CutPrefix(line, "chain ")
	if !ok {
		return "", false
	}
	for i := 0; ; {
		j := strings.Index(rest[i:], ": ")
		if j < 0 {
			return "", false
		}
		if id := rest[:i+j]; ids[id] {
			return id, true
		}
		i += j + 2
	}
}

// reportJSON is Report without its MarshalJSON.
type reportJSON Report

// MarshalJSON encodes the report's fields as they are, and "checked" as
// Explained returns it (so that it covers every problem, including those
// a caller added after Run). A value receiver: a Report encodes the same
// by value or by pointer.
func (rep Report) MarshalJSON() ([]byte, error) {
	rep.Checked = rep.Explained()
	return json.Marshal((*reportJSON)(&rep))
}

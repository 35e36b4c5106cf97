// Package verify checks every chain stored in a sink: each record's MAC
// recomputed from its stored payload, the links between records, gaps,
// and the stored index columns against the payload. It streams each chain
// in seq order, in constant memory, and reports every problem it finds.
package verify

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// Store is what verification reads (declared by the consumer).
type Store interface {
	Chains(ctx context.Context) ([]string, error)
	Scan(ctx context.Context, chain string, fn func(sink.Row) error) error
}

// Verdicts, and the exit codes the CLI maps them to.
const (
	Valid        = "valid"        // exit 0
	Invalid      = "invalid"      // exit 1
	Unverifiable = "unverifiable" // exit 3
)

// Report is the outcome of verifying a store.
type Report struct {
	Verdict  string               `json:"verdict"`
	Chains   []chain.Summary      `json:"chains"`
	Problems []*chain.VerifyError `json:"problems"`
	// Exposure says what this verification cannot prove.
	Exposure []string `json:"exposure"`
}

// MaxListed bounds the problems kept in a report; the counts in Chains
// stay exact. Problems beyond it are still passed to the callback.
const MaxListed = 10000

// Run verifies every chain in st. onProblem, if not nil, is called for
// each problem as it is found (for streaming output).
func Run(ctx context.Context, st Store, keys chain.Keyring, onProblem func(*chain.VerifyError)) (*Report, error) {
	ids, err := st.Chains(ctx)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	rep := &Report{Problems: []*chain.VerifyError{}, Chains: []chain.Summary{}}
	report := func(e *chain.VerifyError) {
		if len(rep.Problems) < MaxListed {
			rep.Problems = append(rep.Problems, e)
		}
		if onProblem != nil {
			onProblem(e)
		}
	}
	for _, id := range ids {
		v := chain.NewVerifier(id, keys, report)
		err := st.Scan(ctx, id, func(row sink.Row) error {
			r := v.Add(row.Seq, row.Payload, row.MAC)
			if r != nil && !row.Quarantined {
				for _, col := range mismatchedColumns(&row, r) {
					v.Fail(row.Seq, "column %s does not match the payload", col)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan chain %q: %w", id, err)
		}
		rep.Chains = append(rep.Chains, v.Finish())
	}
	rep.Verdict = Valid
	for _, s := range rep.Chains {
		if s.Invalid > 0 {
			rep.Verdict = Invalid
			break
		}
		if s.Unverifiable > 0 {
			rep.Verdict = Unverifiable
		}
	}
	rep.Exposure = []string{
		"no signed checkpoints: removal of the newest records of a chain (truncation) is not detectable",
		"HMAC is symmetric: a holder of the chain key could rewrite a chain undetected",
	}
	return rep, nil
}

// mismatchedColumns lists the stored columns that differ from the payload.
func mismatchedColumns(row *sink.Row, r *record.Record) []string {
	var bad []string
	check := func(name, stored, want string) {
		if stored != want {
			bad = append(bad, name)
		}
	}
	check("chain", row.Chain, r.Chain)
	check("ts", row.TS, record.FormatTime(r.TS))
	check("ingested_at", row.IngestedAt, record.FormatTime(r.IngestedAt))
	check("action", row.Action, r.Action)
	check("user", row.User, r.User)
	check("tenant", row.Tenant, r.Tenant)
	check("agent", row.Agent, r.Agent)
	check("session", row.Session, r.Session)
	check("trace", row.Trace, r.Trace)
	check("model", row.Model, r.Model)
	check("tool", row.Tool, r.Tool)
	check("outcome", row.Outcome, r.Outcome)
	check("approver", row.Approver, r.Approver)
	check("kid", row.Kid, r.Kid)
	if prev, err := hex.DecodeString(r.Prev); err != nil || !bytes.Equal(prev, row.Prev) {
		bad = append(bad, "prev")
	}
	return bad
}

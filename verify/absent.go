package verify

import (
	"fmt"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
)

// Scopes of a verification (Report.Scope): what the records read are.
const (
	// ScopeStore: the live store (a sink). It must hold every record
	// ever witnessed: one shorter than a witnessed checkpoint was cut.
	ScopeStore = "store"
	// ScopeExport: an export file, a copy that ends where it was taken.
	// A witnessed checkpoint past its end is no truncation; the export
	// must match the witnessed checkpoints it reaches.
	ScopeExport = "export"
)

// absentChains verifies the chains that are named but that the store
// holds no record of: those of the witnessed checkpoints (invalid: a
// witness saw records of them) and those the caller expects (unverifiable
// unless witnessed: nothing proves they ever had records). It returns
// their summaries and problems, and for a store that holds no chain at all
// and names none, the problem that makes it unverifiable: an empty input
// is never valid.
func absentChains(ids []string, opts Options, onProblem func(*chain.VerifyError)) ([]chain.Summary, [][]*chain.VerifyError) {
	held := map[string]bool{}
	for _, id := range ids {
		held[id] = true
	}
	var names []string
	for _, id := range opts.Expect {
		if !held[id] {
			held[id] = true
			names = append(names, id)
		}
	}
	for _, w := range opts.Witnessed {
		if !held[w.Chain] {
			held[w.Chain] = true
			names = append(names, w.Chain)
		}
	}
	var sums []chain.Summary
	var problems [][]*chain.VerifyError
	for _, id := range names {
		var ps []*chain.VerifyError
		v := chain.NewVerifier(id, opts.Keys, func(e *chain.VerifyError) {
			ps = append(ps, e)
			if onProblem != nil {
				onProblem(e)
			}
		}).WithCheckpoints(opts.Trusted, opts.Witnessed, len(opts.Keys) == 0)
		if opts.Export {
			v.AsExport()
		}
		sums = append(sums, v.Absent("the config (chain.id)"))
		problems = append(problems, ps)
	}
	if len(ids) == 0 && len(names) == 0 {
		e := &chain.VerifyError{Kind: chain.KindAbsent, Reason: "the input holds no records: there is nothing to verify, and an emptied store cannot be told from one never written to", Unverifiable: true}
		if onProblem != nil {
			onProblem(e)
		}
		problems = append(problems, []*chain.VerifyError{e})
	}
	return sums, problems
}

// Standing says in words how a chain stands against its witnessed
// checkpoints ("" when none was given for it): whether the records reach
// the newest, or, for an export, where it ends and up to where it matches
// the witness.
func Standing(c chain.Summary) string {
	at := record.FormatTime(c.WitnessedTime)
	switch c.Witness {
	case chain.WitnessExtended:
		return fmt.Sprintf("chain %s: reaches the newest witnessed checkpoint (size %d, %s)", c.Chain, c.WitnessedSize, at)
	case chain.WitnessExportEnds:
		if c.WitnessedMatch == 0 {
			return fmt.Sprintf("chain %s: the export ends at seq %d and differs from every witnessed checkpoint it reaches: it is not part of the witnessed chain", c.Chain, c.Head)
		}
		s := fmt.Sprintf("chain %s: the export ends at seq %d, where it was taken; it matches the witnessed checkpoint of size %d; the chain had %d records when witnessed at %s: seq %d..%d were written after the export and are not in it",
			c.Chain, c.Head, c.WitnessedMatch, c.WitnessedSize, at, c.Head+1, c.WitnessedSize)
		if c.WitnessedMatch < c.Head {
			s += fmt.Sprintf("; seq %d..%d are vouched for by the export's own MACs and checkpoints, not by the witness", c.WitnessedMatch+1, c.Head)
		}
		return s
	case chain.WitnessExportUnconfirmed:
		return fmt.Sprintf("chain %s: the export ends at seq %d, before the witnessed checkpoint of size %d (%s), and reaches no witnessed checkpoint: it cannot be shown to be part of the witnessed chain",
			c.Chain, c.Head, c.WitnessedSize, at)
	case chain.WitnessTruncated:
		return fmt.Sprintf("chain %s: the store ends at seq %d, short of the witnessed checkpoint of size %d (%s): truncation or rollback",
			c.Chain, c.Head, c.WitnessedSize, at)
	case chain.WitnessAbsent:
		return fmt.Sprintf("chain %s: holds no record, but was witnessed with %d records (%s)", c.Chain, c.WitnessedSize, at)
	}
	return ""
}

// Package verify checks every chain stored in a sink or an export file
// (FileStore): each record's MAC recomputed from its stored payload, the
// links between records, gaps, epochs, signed checkpoints and their Merkle
// roots, witnessed checkpoints, and the stored index columns against the
// payload (package chain does the per-chain rules). It streams each chain
// in seq order, in constant memory, reports every problem it finds, and
// ends with a verdict (valid, invalid, unverifiable) and the exposure:
// what the inputs given could not prove. Export writes export files.
package verify

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

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
	// Gaps lists the problems that are missing records (a subset of
	// Problems: those of chain.KindMissing), each with its range.
	Gaps []*chain.VerifyError `json:"gaps"`
	// Exposure says what this verification cannot prove: per chain, what
	// is signed and what is not yet covered, and what the inputs given
	// leave unchecked.
	Exposure []string `json:"exposure"`
	// Scope says what the records read are: the live store (ScopeStore),
	// which must reach every witnessed checkpoint, or an export
	// (ScopeExport), which ends where it was taken.
	Scope string `json:"scope"`
	// Checked says what was checked and with what, in terms for people
	// (see checked.go); Run fills it, the caller adds what only it knows.
	Checked *Checked `json:"checked,omitempty"`
}

// Options says what to verify with.
type Options struct {
	// Keys are the HMAC keys; with none, MACs are not checked and records
	// are vouched for only by the signed checkpoints covering them.
	Keys chain.Keyring
	// Trusted are the checkpoint public keys; with none, checkpoint
	// signatures are not checked.
	Trusted chain.Verifiers
	// Witnessed are trusted checkpoints kept off the pod (signatures
	// checked by the caller): each chain must extend them.
	Witnessed []chain.Checkpoint
	// MaxAge, if positive, is the freshness rule: a chain whose newest
	// checkpoint is older (or that has none) is unverifiable.
	MaxAge time.Duration
	Now    func() time.Time // nil: time.Now
	// Expect names chains the store must hold, such as the config's
	// chain.id: one it lacks is unverifiable (invalid when witnessed).
	Expect []string
	// Export says the store is an export that ends where it was taken
	// (always so for a *FileStore): see chain.Verifier.AsExport.
	Export bool
	// Retention, when not nil, is the config's retention.max_age (0: no
	// retention configured): a retention_purge record whose policy keeps
	// records for less, or any purge when it is 0, is invalid. nil (an
	// export checked without the config) checks a purge's own policy only.
	Retention *time.Duration
}

// MaxListed bounds the problems kept in a report; the counts in Chains
// stay exact. Problems beyond it are still passed to the callback.
const MaxListed = 10000

// Workers is how many chains Run verifies at once. Chains are
// independent, so a store shared by many sidecars (one chain each)
// verifies in parallel.
var Workers = max(2, runtime.GOMAXPROCS(0))

// Run verifies every chain in st, up to Workers chains at a time.
// onProblem, if not nil, is called for each problem as it is found (for
// streaming output), one call at a time: in seq order within a chain,
// interleaved across chains. The report lists chains in st's order and
// problems by chain, then seq.
func Run(ctx context.Context, st Store, opts Options, onProblem func(*chain.VerifyError)) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if _, ok := st.(*FileStore); ok {
		opts.Export = true
	}
	ids, err := st.Chains(ctx)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	rep := &Report{Problems: []*chain.VerifyError{}, Chains: make([]chain.Summary, len(ids))}
	// An export's lines that break its framing are problems of the input
	// (invalid), reported first.
	var framing []*chain.VerifyError
	if f, ok := st.(*FileStore); ok {
		framing = f.Problems()
		for _, e := range framing {
			if onProblem != nil {
				onProblem(e)
			}
		}
	}
	var mu sync.Mutex // guards listed, perChain and onProblem calls
	perChain := make([][]*chain.VerifyError, len(ids))
	tallies := make([]tally, len(ids))
	listed := 0
	verifyChain := func(ctx context.Context, i int) error {
		report := func(e *chain.VerifyError) {
			mu.Lock()
			defer mu.Unlock()
			if listed < MaxListed {
				perChain[i] = append(perChain[i], e)
				listed++
			}
			if onProblem != nil {
				onProblem(e)
			}
		}
		v := chain.NewVerifier(ids[i], opts.Keys, report).WithCheckpoints(opts.Trusted, opts.Witnessed, len(opts.Keys) == 0)
		if opts.Retention != nil {
			v.WithRetention(opts.Now(), *opts.Retention, true)
		} else {
			v.WithRetention(opts.Now(), 0, false)
		}
		if opts.Export {
			v.AsExport()
		}
		if s, ok := st.(interface{ StartSeq(string) uint64 }); ok {
			v.StartAt(s.StartSeq(ids[i]))
		}
		err := scanPrepared(ctx, st, ids[i], v, func(row *sink.Row, p *chain.Prepared) {
			r := v.AddPrepared(p)
			tallies[i].add(row, r)
			if r != nil && !row.Quarantined && !row.PayloadOnly {
				for _, col := range mismatchedColumns(row, r) {
					v.Fail(chain.KindColumn, row.Seq, "column %s does not match the payload", col)
				}
			}
		})
		if err != nil {
			return fmt.Errorf("scan chain %q: %w", ids[i], err)
		}
		if len(opts.Keys) == 0 && v.LastCheckpoint() == nil {
			v.Unverifiable(chain.KindUnvouched, 0, "no HMAC key was given and no signed checkpoint covers any record: nothing vouches for this chain")
		}
		if c := v.LastCheckpoint(); opts.MaxAge > 0 && (c == nil || opts.Now().Sub(c.Time) > opts.MaxAge) {
			v.Unverifiable(chain.KindFreshness, 0, "the newest checkpoint is older than the freshness bound %s, or there is none: the newest records may have been cut together with their checkpoints", opts.MaxAge)
		}
		rep.Chains[i] = v.Finish()
		return nil
	}
	// A worker pool; the first failure cancels the rest.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, Workers)
	errs := make([]error, len(ids))
	for i := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if errs[i] = verifyChain(wctx, i); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// Report the failure that cancelled the others, not their cancellation.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	absent, absentProblems := absentChains(ids, opts, onProblem)
	rep.Chains = append(rep.Chains, absent...)
	perChain = append(perChain, absentProblems...)
	rep.Gaps = []*chain.VerifyError{}
	rep.Problems = append(rep.Problems, framing...)
	for _, ps := range perChain {
		rep.Problems = append(rep.Problems, ps...)
		for _, p := range ps {
			if p.Kind == chain.KindMissing {
				rep.Gaps = append(rep.Gaps, p)
			}
		}
	}
	rep.Verdict = Valid
	if len(rep.Chains) == 0 {
		rep.Verdict = Unverifiable // an empty input (absentChains)
	}
	for _, s := range rep.Chains {
		if s.Invalid > 0 {
			rep.Verdict = Invalid
			break
		}
		if s.Unverifiable > 0 {
			rep.Verdict = Unverifiable
		}
	}
	if len(framing) > 0 {
		rep.Verdict = Invalid
	}
	rep.Exposure = exposure(rep.Chains, opts)
	rep.Scope = ScopeStore
	if opts.Export {
		rep.Scope = ScopeExport
	}
	rep.Checked = newChecked(opts, ids, tallies, rep.Chains)
	return rep, nil
}

// prepBatch is a run of rows of one chain and their prepared checks.
type prepBatch struct {
	rows []sink.Row
	prep []*chain.Prepared
	done chan struct{}
}

// prepBatchRows is how many rows a prepare worker takes at once.
const prepBatchRows = 256

// scanPrepared scans chain, runs v.Prepare (decoding, MAC, leaf hash) on
// its rows in parallel, and calls apply with each row and its prepared
// check in seq order, from one goroutine. Memory stays bounded: at most a
// few batches per worker are in flight.
func scanPrepared(ctx context.Context, st Store, id string, v *chain.Verifier, apply func(*sink.Row, *chain.Prepared)) error {
	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *prepBatch, 2*workers)
	order := make(chan *prepBatch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				for i := range b.rows {
					b.prep[i] = v.Prepare(b.rows[i].Seq, b.rows[i].Payload, b.rows[i].MAC)
				}
				close(b.done)
			}
		}()
	}
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for b := range order {
			<-b.done
			for i := range b.rows {
				apply(&b.rows[i], b.prep[i])
			}
		}
	}()
	cur := &prepBatch{}
	send := func() {
		if len(cur.rows) == 0 {
			return
		}
		cur.prep, cur.done = make([]*chain.Prepared, len(cur.rows)), make(chan struct{})
		order <- cur // before work: the applier waits for it in order
		work <- cur
		cur = &prepBatch{}
	}
	err := st.Scan(ctx, id, func(row sink.Row) error {
		cur.rows = append(cur.rows, row)
		if len(cur.rows) == prepBatchRows {
			send()
		}
		return nil
	})
	send()
	close(work)
	close(order)
	wg.Wait()
	<-applied
	return err
}

// exposure says what the verification did not prove.
func exposure(chains []chain.Summary, opts Options) []string {
	out := []string{}
	if len(opts.Keys) == 0 {
		out = append(out, "no HMAC key given: MACs were not checked; records are vouched for only by the signed checkpoints that cover them")
	}
	if len(opts.Trusted) == 0 {
		out = append(out, "no public key given (--pubkey): checkpoint signatures were not checked; a holder of the HMAC key could rewrite a chain with its checkpoints")
	}
	if len(opts.Witnessed) == 0 {
		out = append(out, "no witnessed checkpoint given (--witness, --checkpoint): the newest records cut together with their checkpoints are detected only by the freshness bound (--max-age)")
	}
	if len(opts.Trusted) > 1 || len(opts.Trusted) > 0 && len(chains) > 1 {
		out = append(out, "checkpoint public keys are not bound to chains: a checkpoint of any chain signed by any public key given is trusted, so whoever holds one sidecar's signing key can sign checkpoints of another's chain")
	}
	for _, c := range chains {
		if c.Absent {
			continue
		}
		if c.Witness == chain.WitnessExportEnds {
			out = append(out, Standing(c))
		}
		if c.From > 1 {
			out = append(out, fmt.Sprintf("chain %s: the export starts at seq %d; seq 1..%d were not given and are not verified", c.Chain, c.From, c.From-1))
		}
		switch {
		case c.Checkpoints == 0 || c.CheckpointSize == 0:
			out = append(out, fmt.Sprintf("chain %s: no checkpoint: seq 1..%d are not signed; removal of the newest records is not detectable", c.Chain, c.Head))
		case c.UnsignedThrough > 0 && c.Head > c.CheckpointSize+1:
			out = append(out, fmt.Sprintf("chain %s: signed from seq %d up to seq %d at %s; seq %d..%d not yet covered by a checkpoint",
				c.Chain, c.UnsignedThrough+1, c.CheckpointSize, record.FormatTime(c.CheckpointTime), c.CheckpointSize+2, c.Head))
		case c.UnsignedThrough > 0:
			out = append(out, fmt.Sprintf("chain %s: signed from seq %d up to seq %d at %s (the head)", c.Chain, c.UnsignedThrough+1, c.CheckpointSize, record.FormatTime(c.CheckpointTime)))
		case c.Head > c.CheckpointSize+1:
			out = append(out, fmt.Sprintf("chain %s: signed up to seq %d at %s; seq %d..%d not yet covered by a checkpoint",
				c.Chain, c.CheckpointSize, record.FormatTime(c.CheckpointTime), c.CheckpointSize+2, c.Head))
		default:
			out = append(out, fmt.Sprintf("chain %s: signed up to seq %d at %s (the head)", c.Chain, c.CheckpointSize, record.FormatTime(c.CheckpointTime)))
		}
		switch {
		case c.UnsignedThrough == 0:
		case len(opts.Keys) == 0:
			out = append(out, fmt.Sprintf("chain %s: seq %d..%d are covered by no signed checkpoint (they share a Merkle subtree with records before them that were not given): nothing vouches for them (no HMAC key given)",
				c.Chain, c.UnsignedFrom, c.UnsignedThrough))
		default:
			out = append(out, fmt.Sprintf("chain %s: seq %d..%d are covered by no signed checkpoint (they share a Merkle subtree with records before them that were not given): only their MACs vouch for them",
				c.Chain, c.UnsignedFrom, c.UnsignedThrough))
		}
		if c.SealedEpoch > 0 {
			out = append(out, fmt.Sprintf("chain %s: sealed up to epoch %d at %s; the records of the epochs after it can be altered by whoever holds the running sidecar's key",
				c.Chain, c.SealedEpoch, record.FormatTime(c.SealedAt)))
		}
	}
	return out
}

// mismatchedColumns lists the stored columns that differ from the
// payload, by name in the store's column order: chain, each indexed
// column (record.IndexColumns), prev.
func mismatchedColumns(row *sink.Row, r *record.Record) []string {
	var bad []string
	if row.Chain != r.Chain {
		bad = append(bad, "chain")
	}
	for _, c := range record.IndexColumns {
		if *c.In(&row.Columns) != c.Of(r) {
			bad = append(bad, c.Name)
		}
	}
	if prev, err := hex.DecodeString(r.Prev); err != nil || !bytes.Equal(prev, row.Prev) {
		bad = append(bad, "prev")
	}
	return bad
}

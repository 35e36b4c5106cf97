package pipeline

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/internal/backoff"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/spool"
)

// committer is the spool as the ingester writes it. One call is one
// transaction: the batch, the source position after it and x are all
// stored, or none of them (on error the call may be made again with the
// same arguments). *spool.Spool is one; tests put faults in front of it.
type committer interface {
	AppendExtra(batch []record.Sealed, source []byte, x spool.Extra) error
}

var _ committer = (*spool.Spool)(nil)

// dirty reports whether anything waits for a commit: records, a source
// position, retention marks, or an epoch key to store.
func (in *Ingester) dirty() bool {
	return len(in.batch) > 0 || in.pos.pending() || in.marks.pending() || in.storeEpoch
}

// commit stores the open batch with the chain head, the source position
// after its last line, the retention marks, the kid and epoch of the head
// and the Merkle tree state, all in one spool transaction. A failed
// transaction is retried with backoff, the batch kept, until it succeeds,
// the spool refuses the batch for good (another chain, not contiguous) or
// ctx is done; meanwhile no line is read (the ingest goroutine is here).
func (in *Ingester) commit(ctx context.Context) error {
	if !in.dirty() {
		return nil
	}
	pos, err := in.pos.encode()
	if err != nil {
		return err
	}
	x := spool.Extra{HeadKid: in.cfg.Key.ID, Epoch: in.sealer.Epoch()}
	in.marks.extra(&x)
	if len(in.batch) > 0 && in.sealer.TreeKnown() {
		t := in.sealer.Tree()
		x.Tree, _ = t.MarshalBinary() // never fails
	}
	b := backoff.New(50*time.Millisecond, 5*time.Second)
	for {
		err := in.store.AppendExtra(in.batch, pos, x)
		in.failing.Store(err != nil)
		if err == nil {
			in.committed()
			return nil
		}
		in.cfg.Metrics.CommitErrors.Inc()
		in.log.Error("spool commit failed; retrying", zap.Int("records", len(in.batch)), zap.Error(err))
		if errors.Is(err, spool.ErrChainMismatch) || errors.Is(err, spool.ErrNotContiguous) {
			return err
		}
		if b.Wait(ctx) != nil {
			return err
		}
	}
}

// committed moves on after a commit: the batch and what went with it are
// stored, the new epoch's key can be kept, the checkpoints published.
func (in *Ingester) committed() {
	in.marks.committed()
	in.pos.committed()
	in.cfg.Metrics.Commits.Inc()
	in.cfg.Metrics.HeadSeq.Set(float64(in.sealer.Head().Seq))
	in.cfg.Metrics.SpoolBytes.Set(float64(in.cfg.Spool.PendingBytes()))
	in.batch, in.batchBytes = in.batch[:0], 0
	in.keepEpochKey()
	in.publish()
}

package pipeline

import (
	"time"

	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
)

// CheckpointConfig makes the Ingester seal a checkpoint record (a signed
// note of the chain's size, Merkle root and head MAC; see
// docs/chain-format.md) after Every records, at least every Interval
// while records arrive, every Heartbeat when idle, and at shutdown.
type CheckpointConfig struct {
	Signer    note.Signer
	Every     int
	Interval  time.Duration
	Heartbeat time.Duration
	// Publish, if not nil, is called with each checkpoint once the record
	// carrying it is committed to the spool (never before: a checkpoint
	// of records a crash could still lose must not leave the pod). It is
	// called from the ingest goroutine and must not block for long.
	Publish func(Published)
}

// Published is a committed checkpoint: the signed note of the chain's
// first Size records, carried by record Seq (Size+1).
type Published struct {
	Chain string
	Size  uint64
	Seq   uint64
	Time  time.Time
	Note  string
}

// checkpoints is the ingester's checkpoint state: records sealed since
// the last checkpoint record, when that one was made, and the checkpoints
// sealed into the open batch, published once it is committed.
type checkpoints struct {
	since   int
	last    time.Time
	pending []Published
}

// maybeCheckpoint seals a checkpoint once Checkpoint.Every records were
// sealed since the last one.
func (in *Ingester) maybeCheckpoint() {
	if c := in.cfg.Checkpoint; c.Signer != nil && in.ckpt.since >= c.Every {
		in.checkpoint()
	}
}

// checkpointDue reports whether the checkpoint ticker should seal one:
// records came since the last, or the heartbeat is due.
func (in *Ingester) checkpointDue() bool {
	hb := in.cfg.Checkpoint.Heartbeat
	return in.ckpt.since > 0 || hb > 0 && in.cfg.Now().Sub(in.ckpt.last) >= hb
}

// checkpoint seals a checkpoint record: a signed note of the records
// sealed so far. It is not redacted (it holds no agent data, and its
// note must stay byte for byte as signed).
func (in *Ingester) checkpoint() {
	if !in.sealer.TreeKnown() || in.sealer.Head().Seq == 0 {
		return
	}
	h, tree := in.sealer.Head(), in.sealer.Tree()
	now := in.cfg.Now()
	c := chain.Checkpoint{Chain: in.cfg.ChainID, Size: h.Seq, Root: tree.Root(), HeadMAC: h.MAC, Time: now}
	signed, err := chain.Sign(c, in.cfg.Checkpoint.Signer)
	if err != nil {
		in.cfg.Metrics.CheckpointErrors.Inc()
		in.log.Error("checkpoint: signing failed; the next one is tried at the next interval", zap.Error(err))
		in.ckpt.since = 0
		return
	}
	in.seal(&record.Record{TS: now, IngestedAt: now, Action: record.ActionCheckpoint, Detail: chain.CheckpointDetail(signed, tree)})
	in.ckpt.since, in.ckpt.last = 0, now
	in.ckpt.pending = append(in.ckpt.pending, Published{Chain: in.cfg.ChainID, Size: h.Seq, Seq: h.Seq + 1, Time: now, Note: signed})
}

// publish hands the committed checkpoints to the publisher.
func (in *Ingester) publish() {
	for _, p := range in.ckpt.pending {
		in.cfg.Metrics.CheckpointSize.Set(float64(p.Size))
		if in.cfg.Checkpoint.Publish != nil {
			in.cfg.Checkpoint.Publish(p)
		}
	}
	in.ckpt.pending = in.ckpt.pending[:0]
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// Ingester moves lines from the source into the spool. See the package doc.
//
// Its state, besides the open batch, is kept by small types that the
// commit stores with the batch: the source position (positions), the
// retention marks (marks), the checkpoints to publish (checkpoints) and
// whether the new epoch's key is to be kept (storeEpoch).
type Ingester struct {
	cfg    IngestConfig
	log    *zap.Logger
	sealer *chain.Sealer
	store  committer // cfg.Spool, unless a test puts faults in front of it
	batch  []record.Sealed
	// batchBytes is the payload size of batch: a batch is committed at
	// maxBatchBytes too, so huge records do not pile up in memory.
	batchBytes int
	pos        positions
	marks      marks
	ckpt       checkpoints
	storeEpoch bool
	files      map[string]*fileState // envelope and dialect state per file (Line.Watch)
	scratch    redactScratch
	parsed     func(*record.Record) // addParsed
	lines      int64                // lines read this run

	full atomic.Bool
	// failing is set while a spool commit is being retried (a full disk,
	// an I/O error): the source is not read meanwhile.
	failing atomic.Bool

	// roomPoll is how often a full spool is looked at again when it
	// signals no change; waitingForRoom, when set, is called each time the
	// ingester finds the spool full and waits (tests observe it).
	roomPoll       time.Duration
	waitingForRoom func()
}

// Reasons a run stops, in the sidecar_stop record.
const (
	stopShutdown     = "shutdown"
	stopSourceClosed = "source closed"
)

// NewIngester checks that the spool belongs to cfg.ChainID and continues
// the chain from the spool's head.
func NewIngester(cfg IngestConfig) (*Ingester, error) {
	st := cfg.Spool.State()
	if st.Chain != "" && st.Chain != cfg.ChainID {
		return nil, fmt.Errorf("spool holds chain %q, config says chain.id %q: %w", st.Chain, cfg.ChainID, spool.ErrChainMismatch)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BatchRecords <= 0 {
		cfg.BatchRecords = 1000
	}
	head := chain.Head{Seq: st.HeadSeq, MAC: st.HeadMAC}
	if st.HeadKid != "" && st.HeadKid != cfg.Key.ID {
		if _, ok := cfg.PreviousKeys[st.HeadKid]; !ok {
			return nil, fmt.Errorf("%w: the chain's head was sealed with kid %q; give that key in chain.previous_key_files so that the rotation can be sealed", ErrHeadKeyMissing, st.HeadKid)
		}
	}
	in := &Ingester{cfg: cfg, log: cfg.Logger, sealer: chain.NewSealer(cfg.ChainID, cfg.Key, head), store: cfg.Spool,
		files: map[string]*fileState{}, ckpt: checkpoints{last: cfg.Now()}, pos: positions{multi: cfg.Multi},
		roomPoll: time.Second}
	in.scratch.init()
	in.parsed = in.addParsed
	if st.Tree != nil {
		var t chain.Tree
		if err := t.UnmarshalBinary(st.Tree); err != nil {
			in.log.Error("spool holds a malformed merkle tree state; checkpoints are off for this run", zap.Error(err))
		} else {
			in.sealer.SetTree(t)
		}
	}
	if cfg.Epoch > 0 {
		if cfg.KeyEpoch == 0 {
			in.cfg.KeyEpoch = 1
		}
		in.sealer.SetEpoch(in.cfg.KeyEpoch)
	} else if st.Epoch > 0 {
		return nil, fmt.Errorf("the chain uses forward-secure epochs (its next record is in epoch %d); they cannot be turned off: %w", st.Epoch, ErrEpochsOff)
	}
	if cfg.Checkpoint.Signer != nil && !in.sealer.TreeKnown() {
		in.log.Error("the chain's merkle tree state is unknown (the spool does not hold it); checkpoints are off for this run",
			zap.Uint64("head_seq", head.Seq))
	}
	if cfg.MaxMessageBytes <= 0 {
		in.cfg.MaxMessageBytes = 16 << 20
	}
	if cfg.Dialect == nil {
		in.cfg.Dialect = func() parse.Dialect { return parse.Paired(parse.NativeDialect()) }
	}
	if cfg.Multi {
		all, err := in.ResumeAll()
		if err != nil {
			return nil, err
		}
		in.pos.files = all
		if in.pos.files == nil {
			in.pos.files = map[string]tailer.Position{}
		}
	}
	if cfg.Retention.MaxAge > 0 && cfg.Retention.Interval <= 0 {
		return nil, errors.New("retention interval must be positive")
	}
	var err error
	if in.marks, err = newMarks(cfg.Retention, cfg.Spool); err != nil {
		return nil, err
	}
	return in, nil
}

// Resume returns the source position committed with the newest batch, or
// nil when the source was never read. For a multi-file source it is nil;
// see ResumeAll.
func (in *Ingester) Resume() (*tailer.Position, error) {
	p, _, err := decodePosition(in.cfg.Spool.State().Source)
	return p, err
}

// ResumeAll returns the committed position of each file of a multi-file
// source, by the name that matched. A position committed by a single-file
// run (the config changed to a pattern) is returned under its path.
func (in *Ingester) ResumeAll() (map[string]tailer.Position, error) {
	p, files, err := decodePosition(in.cfg.Spool.State().Source)
	if err != nil || p == nil {
		return files, err
	}
	return map[string]tailer.Position{p.Path: *p}, nil
}

// SpoolFull reports whether ingestion is paused because the spool is full.
func (in *Ingester) SpoolFull() bool { return in.full.Load() }

// CommitFailing reports whether ingestion is paused because spool commits
// fail (and are being retried).
func (in *Ingester) CommitFailing() bool { return in.failing.Load() }

// Run writes the start records, then ingests lines until ctx is done or
// lines is closed (the source has no more), then commits what it has with
// a sidecar_stop record. A source position that cannot be read stops it
// before anything is written. It returns nil after a clean stop. An error
// means the start could not be committed, or a commit failed for good
// (the final commit is still tried, and its error joined), or the final
// commit failed; nothing is lost either way: the source position is never
// committed past lines whose records are not.
func (in *Ingester) Run(ctx context.Context, lines <-chan tailer.Line) error {
	if err := in.start(ctx); err != nil {
		return err
	}
	var timer *time.Timer
	var timerC <-chan time.Time
	var retainC, ckptC, epochC <-chan time.Time
	if in.cfg.Epoch > 0 {
		t := time.NewTicker(in.cfg.Epoch)
		defer t.Stop()
		epochC = t.C
	}
	if in.cfg.Retention.MaxAge > 0 {
		t := time.NewTicker(in.cfg.Retention.Interval)
		defer t.Stop()
		retainC = t.C
	}
	if in.cfg.Checkpoint.Signer != nil && in.cfg.Checkpoint.Interval > 0 {
		t := time.NewTicker(in.cfg.Checkpoint.Interval)
		defer t.Stop()
		ckptC = t.C
	}
	for {
		if in.cfg.Spool.Full() {
			if err := in.waitForRoom(ctx); err != nil {
				return in.stop(stopShutdown)
			}
		}
		var err error
		select {
		case <-ctx.Done():
			return in.stop(stopShutdown)
		case l, ok := <-lines:
			if !ok {
				return in.stop(stopSourceClosed)
			}
			in.handle(l)
			if in.batchFull() {
				err = in.commit(ctx)
			} else if timerC == nil {
				if timer == nil {
					timer = time.NewTimer(in.cfg.BatchWait)
				} else {
					timer.Reset(in.cfg.BatchWait)
				}
				timerC = timer.C
			}
		case <-timerC:
			timerC = nil
			err = in.commit(ctx)
		case <-retainC:
			err = in.retain(ctx)
		case <-epochC:
			in.sealEpoch()
			err = in.commit(ctx)
		case <-ckptC:
			if in.checkpointDue() {
				in.checkpoint()
				err = in.commit(ctx)
			}
		}
		if err != nil {
			return in.abort(ctx, err)
		}
		if len(in.batch) == 0 && timerC != nil {
			timer.Stop()
			timerC = nil
		}
	}
}

// start seals and commits the start records: chain_start for a new chain,
// key_rotation when the key changed, the gap records of cfg.Gaps, and
// sidecar_start naming where reading resumes.
func (in *Ingester) start(ctx context.Context) error {
	detail := map[string]any{}
	for k, v := range in.cfg.StartDetail {
		detail[k] = v
	}
	p, err := in.Resume()
	if err != nil {
		return err
	}
	if p != nil {
		detail["resume"] = p
	} else if len(in.pos.files) > 0 {
		detail["resume"] = in.pos.files
	}
	now := in.cfg.Now()
	if in.sealer.Head().Seq == 0 {
		in.add(&record.Record{TS: now, IngestedAt: now, Action: record.ActionChainStart})
	}
	in.rotateKey()
	for _, gap := range in.cfg.Gaps {
		in.addOwn(record.ActionGap, gap)
	}
	in.addOwn(record.ActionSidecarStart, detail)
	in.storeEpoch = in.cfg.Epoch > 0
	if err := in.commit(ctx); err != nil {
		return err
	}
	if in.storeEpoch && !in.cfg.EpochKept {
		return fmt.Errorf("store the epoch key: %w", ErrEpochStore)
	}
	return nil
}

// waitForRoom blocks while the spool is full.
func (in *Ingester) waitForRoom(ctx context.Context) error {
	in.full.Store(true)
	in.cfg.Metrics.SpoolFull.Set(1)
	in.log.Warn("spool full: source reading paused; lines are at risk if the source rotates away",
		zap.Int64("pending_bytes", in.cfg.Spool.PendingBytes()))
	defer func() {
		in.full.Store(false)
		in.cfg.Metrics.SpoolFull.Set(0)
		in.log.Info("spool has room: source reading resumed")
	}()
	for in.cfg.Spool.Full() {
		if in.waitingForRoom != nil {
			in.waitingForRoom()
		}
		select {
		case <-in.cfg.Spool.Changed():
		case <-time.After(in.roomPoll):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// abort ends the run after a commit failed with err: for good, or while
// ctx was done. The final commit is still tried. A run stopped while a
// commit was being retried ends clean when the final commit stores it all;
// otherwise err is returned, with the final commit's error when it failed
// too (the first error is never put out of sight by the second).
func (in *Ingester) abort(ctx context.Context, err error) error {
	serr := in.stop(stopShutdown)
	if ctx.Err() != nil && serr == nil {
		return nil
	}
	return errors.Join(fmt.Errorf("spool commit: %w", err), serr)
}

// stop commits the open batch with a sidecar_stop record. It must succeed
// within a bounded time even though ctx is done.
func (in *Ingester) stop(reason string) error {
	in.addOwn(record.ActionSidecarStop, map[string]any{
		"reason": reason, "lines_this_run": in.lines,
	})
	if in.cfg.Checkpoint.Signer != nil {
		in.checkpoint()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.commit(ctx); err != nil {
		return fmt.Errorf("final spool commit: %w", err)
	}
	return nil
}

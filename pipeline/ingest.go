package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/envelope"
	"github.com/fips-agents/audit-sidecar/internal/backoff"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// Redactor rewrites a JSON value with PII replaced, counting hits per type
// in counts and handing each replacement (rule, type, path; never the
// text) to hit, for the record's manifest, as it is made: a value with a
// million findings is not a million hits held at once. root names the
// record field holding the value ("arguments", "detail"), the first key
// of the paths redaction rules see. It must not modify src. Policy names
// the redaction configuration.
type Redactor interface {
	ExplainJSONFunc(dst, src []byte, root string, counts map[string]int, hit func(redact.Hit)) ([]byte, error)
	Policy() string
}

// IngestConfig configures an Ingester.
type IngestConfig struct {
	ChainID      string
	Key          chain.Key
	Spool        *spool.Spool
	Redactor     Redactor
	BatchRecords int
	BatchWait    time.Duration
	// StartDetail is added to the sidecar_start record's detail (version,
	// FIPS mode, ...). It must hold no secrets.
	StartDetail map[string]any
	Metrics     *Metrics
	Logger      *zap.Logger
	Now         func() time.Time // nil: time.Now
	// Retention, when MaxAge > 0, purges records older than MaxAge every
	// Interval; see retain.
	Retention Retention
	// PreviousKeys are the keys the chain was sealed with before Key. When
	// the chain's head was sealed with one of them, the run starts with a
	// key_rotation record sealed with that old key and naming Key's kid.
	PreviousKeys chain.Keyring
	// Gaps are the details of gap records written at start, in order,
	// before sidecar_start (the spool was lost, a sink found empty; see
	// cmd/audit-sidecar).
	Gaps []map[string]any
	// Multi says the source is several files (tailer.Multi): positions
	// are kept per file (Line.Watch) and committed together.
	Multi bool
	// Envelope is the container-log format wrapping each line (none, cri,
	// docker, auto); MaxMessageBytes bounds a joined message (default 16
	// MiB).
	Envelope        envelope.Kind
	MaxMessageBytes int
	// Dialect makes the parser of one source file (nil: native); it is
	// called once per file, so a dialect's state stays per file.
	Dialect func() parse.Dialect
	// Checkpoint, when its Signer is set, seals signed checkpoints.
	Checkpoint CheckpointConfig
	// Epoch, when positive, turns on forward-secure epochs of this length:
	// Key is the key of epoch KeyEpoch (default 1); every Epoch a seal
	// record closes the epoch and the key ratchets (chain.Key.Ratchet,
	// the old key erased). EpochStore, if not nil, persists the current
	// epoch's key once the spool holds the seal (and at start), so that a
	// restart needs no key file. With epochs, PreviousKeys[kid] for a
	// rotation must be the old key at the spool's epoch (State.Epoch).
	Epoch      time.Duration
	KeyEpoch   uint64
	EpochStore func(chain.Key, uint64) error
}

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

// Retention is the purge policy: records sealed more than MaxAge ago are
// purged, checked every Interval, at Interval granularity.
type Retention struct {
	MaxAge   time.Duration
	Interval time.Duration
}

// ErrEpochStore says the current epoch's key could not be stored.
var ErrEpochStore = errors.New("epoch key not stored")

// ErrEpochsOff is returned by NewIngester when epochs are off for a chain
// whose records use them.
var ErrEpochsOff = errors.New("epochs are off")

// ErrHeadKeyMissing is returned by NewIngester when the chain key changed
// and the key that sealed the chain's head is not among PreviousKeys.
var ErrHeadKeyMissing = errors.New("the key that sealed the chain's head is missing")

// Ingester moves lines from the source into the spool. See the package doc.
type Ingester struct {
	cfg    IngestConfig
	log    *zap.Logger
	sealer *chain.Sealer
	batch  []record.Sealed
	// batchBytes is the payload size of batch: a batch is committed at
	// maxBatchBytes too, so huge records do not pile up in memory.
	batchBytes int
	pos        *tailer.Position // single file: source position after the batch's last line
	// Multi: every file's position (committed and new), and whether one
	// changed since the last commit.
	positions map[string]tailer.Position
	posDirty  bool
	full      atomic.Bool
	// failing is set while a spool commit is being retried (a full disk,
	// an I/O error): the source is not read meanwhile.
	failing atomic.Bool
	lines   int64

	// Retention state: the start of the newest marked period, the marks
	// not yet committed, and the marks to drop with the next commit.
	lastMark  time.Time
	marks     []spool.Mark
	dropMarks uint64

	// Envelope and dialect state, per file (Line.Watch): see fileState.
	files map[string]*fileState

	// Checkpoint state: records sealed since the last checkpoint record,
	// when it was made, and the checkpoints waiting for their commit.
	sinceCkpt int
	lastCkpt  time.Time
	toPublish []Published

	// storeEpoch: the key ratcheted since the last commit and must be
	// stored once the seal is committed.
	storeEpoch bool
}

// fileState is the state of one source file: its dialect (a dialect may
// pair lines, so each file has its own), the envelope decoder, the
// messages completed while another stream's message is still pending
// (held so that the committed position never passes a pending fragment),
// and how many lines have been read since a message became pending.
type fileState struct {
	dialect  parse.Dialect
	env      *envelope.Decoder
	held     []heldLine
	heldRead int
}

// heldLine is a message waiting for the position to be committable.
type heldLine struct {
	msg envelope.Message
	src tailer.Line // the line of the message's first fragment (no Text)
}

// maxBatchBytes commits a batch early when its records are this large.
const maxBatchBytes = 16 << 20

// maxHeldLines bounds how long a message may stay incomplete: once this
// many lines, its first fragment's included, have been read, its fragments
// are recorded as they are (a container that died mid-line never writes
// the final fragment).
const maxHeldLines = 1024

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
	in := &Ingester{cfg: cfg, log: cfg.Logger, sealer: chain.NewSealer(cfg.ChainID, cfg.Key, head),
		files: map[string]*fileState{}, lastCkpt: cfg.Now()}
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
		in.positions = all
		if in.positions == nil {
			in.positions = map[string]tailer.Position{}
		}
	}
	if cfg.Retention.MaxAge > 0 {
		if cfg.Retention.Interval <= 0 {
			return nil, errors.New("retention interval must be positive")
		}
		marks, err := cfg.Spool.Marks()
		if err != nil {
			return nil, err
		}
		if n := len(marks); n > 0 {
			in.lastMark = marks[n-1].Time
		}
	}
	return in, nil
}

// Resume returns the source position committed with the newest batch, or
// nil when the source was never read. For a multi-file source it is nil;
// see ResumeAll.
func (in *Ingester) Resume() (*tailer.Position, error) {
	b := in.cfg.Spool.State().Source
	if b == nil {
		return nil, nil
	}
	var files sourceFiles
	if json.Unmarshal(b, &files) == nil && files.Files != nil {
		return nil, nil
	}
	var p tailer.Position
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("spool source position: %w", err)
	}
	return &p, nil
}

// sourceFiles is how the positions of a multi-file source are committed.
type sourceFiles struct {
	Files map[string]tailer.Position `json:"files"`
}

// ResumeAll returns the committed position of each file of a multi-file
// source, by the name that matched. A position committed by a single-file
// run (the config changed to a pattern) is returned under its path.
func (in *Ingester) ResumeAll() (map[string]tailer.Position, error) {
	b := in.cfg.Spool.State().Source
	if b == nil {
		return nil, nil
	}
	var files sourceFiles
	if err := json.Unmarshal(b, &files); err != nil {
		return nil, fmt.Errorf("spool source position: %w", err)
	}
	if files.Files != nil {
		return files.Files, nil
	}
	p, err := in.Resume()
	if err != nil || p == nil {
		return nil, err
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
// before anything is written. It returns nil after a
// clean stop; an error means the final commit failed (nothing is lost: the
// source position was not advanced past uncommitted lines).
func (in *Ingester) Run(ctx context.Context, lines <-chan tailer.Line) error {
	resume, err := in.Resume()
	if err != nil {
		return err
	}
	now := in.cfg.Now()
	if in.sealer.Head().Seq == 0 {
		in.add(&record.Record{TS: now, IngestedAt: now, Action: record.ActionChainStart})
	}
	if old := in.cfg.Spool.State().HeadKid; old != "" && old != in.cfg.Key.ID {
		// The rotation is sealed with the old key, which vouches for the
		// new one; everything after is sealed with the new key.
		in.sealer.Rekey(in.cfg.PreviousKeys[old])
		in.sealer.SetEpoch(in.cfg.Spool.State().Epoch)
		in.addOwn(record.ActionKeyRotation, map[string]any{"old_kid": old, "new_kid": in.cfg.Key.ID})
		in.sealer.Rekey(in.cfg.Key)
		in.sealer.SetEpoch(in.cfg.KeyEpoch)
		in.log.Info("key rotated", zap.String("old_kid", old), zap.String("new_kid", in.cfg.Key.ID))
	}
	for _, gap := range in.cfg.Gaps {
		in.addOwn(record.ActionGap, gap)
	}
	start := map[string]any{}
	for k, v := range in.cfg.StartDetail {
		start[k] = v
	}
	if resume != nil {
		start["resume"] = resume
	} else if len(in.positions) > 0 {
		start["resume"] = in.positions
	}
	in.addOwn(record.ActionSidecarStart, start)
	in.storeEpoch = in.cfg.Epoch > 0
	if err := in.commit(ctx); err != nil {
		return err
	}
	if in.storeEpoch {
		return fmt.Errorf("store the epoch key: %w", ErrEpochStore)
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
				return in.stop()
			}
		}
		select {
		case <-ctx.Done():
			return in.stop()
		case l, ok := <-lines:
			if !ok {
				return in.stopFor("source closed")
			}
			in.handle(l)
			if len(in.batch) >= in.cfg.BatchRecords || in.batchBytes >= maxBatchBytes {
				if err := in.commit(ctx); err != nil {
					return in.stop()
				}
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
			if err := in.commit(ctx); err != nil {
				return in.stop()
			}
		case <-retainC:
			if err := in.retain(ctx); err != nil {
				return in.stop()
			}
		case <-epochC:
			in.sealEpoch()
			if err := in.commit(ctx); err != nil {
				return in.stop()
			}
		case <-ckptC:
			hb := in.cfg.Checkpoint.Heartbeat
			if in.sinceCkpt > 0 || hb > 0 && in.cfg.Now().Sub(in.lastCkpt) >= hb {
				in.checkpoint()
				if err := in.commit(ctx); err != nil {
					return in.stop()
				}
			}
		}
		if len(in.batch) == 0 && timerC != nil {
			timer.Stop()
			timerC = nil
		}
	}
}

// handle turns one line into a sealed record in the open batch; with an
// envelope, it joins fragments first and advances the committed position
// only when no message is left incomplete.
func (in *Ingester) handle(l tailer.Line) {
	if l.Gap != nil {
		in.gap(l)
		return
	}
	if l.Advance {
		in.moveOn(l)
		return
	}
	in.lines++
	in.cfg.Metrics.Lines.Inc()
	if l.Truncated {
		in.cfg.Metrics.SourceBytes.Add(float64(l.FullLen + 1))
	} else {
		in.cfg.Metrics.SourceBytes.Add(float64(len(l.Text) + 1))
	}
	fs := in.file(l.Watch)
	if in.cfg.Envelope == envelope.None {
		var raw *[32]byte
		if !l.Truncated && envelope.Substitutes(l.Text) {
			sum := sha256.Sum256(l.Text)
			raw = &sum
		}
		in.record(fs, l, l.Text, l.Truncated, l.FullLen, l.FullSHA256, raw)
		in.advance(l.Watch, l.Next)
		return
	}
	src := l
	src.Text = nil
	if m, ok := fs.env.Feed(l.Text, src, l.Truncated); ok {
		if m.Stream == "" && l.Truncated { // passed through: the tailer's own account
			m.FullLen, m.FullSHA256 = l.FullLen, l.FullSHA256
		}
		fs.held = append(fs.held, heldLine{m, m.First.(tailer.Line)})
	}
	if fs.env.Pending() {
		if fs.heldRead++; fs.heldRead <= maxHeldLines {
			return
		}
		for _, m := range fs.env.Flush() {
			in.log.Warn("container log message never completed; recorded as received",
				zap.String("stream", m.Stream), zap.Int64("bytes", m.FullLen))
			fs.held = append(fs.held, heldLine{m, m.First.(tailer.Line)})
		}
	}
	for _, h := range fs.held {
		var raw *[32]byte
		if h.msg.Substitutes {
			raw = &h.msg.RawSHA256
		}
		in.record(fs, h.src, h.msg.Text, h.msg.Truncated, h.msg.FullLen, h.msg.FullSHA256, raw)
	}
	fs.held, fs.heldRead = fs.held[:0], 0
	in.advance(l.Watch, l.Next)
}

// file returns the state of the file watch (single file: ""), made on
// first use.
func (in *Ingester) file(watch string) *fileState {
	fs := in.files[watch]
	if fs == nil {
		fs = &fileState{dialect: in.cfg.Dialect()}
		if in.cfg.Envelope != envelope.None {
			fs.env = envelope.NewDecoder(in.cfg.Envelope, in.cfg.MaxMessageBytes)
		}
		in.files[watch] = fs
	}
	return fs
}

// advance sets the position to commit for the file watch (single file:
// "") to next.
func (in *Ingester) advance(watch string, next tailer.Position) {
	if in.cfg.Multi {
		in.positions[watch] = next
		in.posDirty = true
		return
	}
	in.pos = &next
}

// record parses one message (from the line src starts at) with the file's
// dialect into sealed records in the open batch (a dialect may make
// several records of one line, or none when it holds state for later).
// raw, when not nil, is the digest of the lines the message was read from,
// whose decoding replaces some of what the agent wrote with U+FFFD
// (envelope.Substitutes): the records carry it as source.raw_sha256.
func (in *Ingester) record(fs *fileState, src tailer.Line, text []byte, truncated bool, fullLen int64, sum [32]byte, raw *[32]byte) {
	pl := parse.Line{Text: text, Source: record.Source{File: src.Path, Dev: src.Dev, Ino: src.Ino, Offset: src.Offset}}
	if truncated {
		pl.FullLen, pl.FullSHA256 = fullLen, sum
	}
	if raw != nil {
		pl.Source.RawSHA256 = hex.EncodeToString(raw[:])
		in.cfg.Metrics.InvalidUTF8.Inc()
	}
	fs.dialect.Parse(pl, in.cfg.Now(), func(r *record.Record) {
		if r.Action == record.ActionParseError {
			in.cfg.Metrics.ParseErrors.Inc()
		}
		in.add(r)
	})
}

// add redacts, seals and appends r to the open batch.
func (in *Ingester) add(r *record.Record) {
	in.seal(in.redactRecord(r))
	in.maybeCheckpoint()
}

// maybeCheckpoint seals a checkpoint once Checkpoint.Every records were
// sealed since the last one.
func (in *Ingester) maybeCheckpoint() {
	if c := in.cfg.Checkpoint; c.Signer != nil && in.sinceCkpt >= c.Every {
		in.checkpoint()
	}
}

// sealEpoch closes the current epoch with a seal record, the last sealed
// with its key, and ratchets to the next epoch's key (the old one is
// erased); the new key is stored once the seal is committed.
func (in *Ingester) sealEpoch() {
	e := in.sealer.Epoch()
	in.seal(in.ownRecord(record.ActionSeal, map[string]any{"epoch": e}))
	in.sealer.Ratchet()
	in.storeEpoch = true
	in.cfg.Metrics.Epoch.Set(float64(e + 1))
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
		in.sinceCkpt = 0
		return
	}
	in.seal(&record.Record{TS: now, IngestedAt: now, Action: record.ActionCheckpoint, Detail: chain.CheckpointDetail(signed, tree)})
	in.sinceCkpt, in.lastCkpt = 0, now
	in.toPublish = append(in.toPublish, Published{Chain: in.cfg.ChainID, Size: h.Seq, Seq: h.Seq + 1, Time: now, Note: signed})
}

// redactRecord redacts r's arguments and detail in place and returns it.
func (in *Ingester) redactRecord(r *record.Record) *record.Record {
	counts := map[string]int{}
	var mb record.ManifestBuilder
	r.Arguments = in.redact(r.Arguments, "arguments", counts, &mb, false)
	r.Detail = in.redact(r.Detail, "detail", counts, &mb, true)
	if len(counts) > 0 {
		r.Manifest = mb.Manifest(in.cfg.Redactor.Policy())
		for k, n := range counts {
			in.cfg.Metrics.Redactions.WithLabelValues(k).Add(float64(n))
		}
	}
	return r
}

// seal seals r and appends it to the open batch.
func (in *Ingester) seal(r *record.Record) {
	if in.cfg.Retention.MaxAge > 0 {
		// The first record of each period is marked with the MAC before
		// it, so that a purge can later name its boundary exactly.
		if p := r.IngestedAt.Truncate(in.cfg.Retention.Interval); p.After(in.lastMark) {
			h := in.sealer.Head()
			in.marks = append(in.marks, spool.Mark{Time: p, Seq: h.Seq + 1, Prev: h.MAC})
			in.lastMark = p
		}
	}
	s := in.sealer.Seal(r)
	in.cfg.Metrics.Records.WithLabelValues(r.Action).Inc()
	in.batch = append(in.batch, s)
	in.batchBytes += len(s.Payload)
	if r.Action != record.ActionCheckpoint {
		in.sinceCkpt++
	}
}

// redact fails closed: a value the redactor cannot process is replaced
// whole, and the replacement is counted.
func (in *Ingester) redact(v json.RawMessage, root string, counts map[string]int, mb *record.ManifestBuilder, object bool) json.RawMessage {
	if v == nil {
		return nil
	}
	out, err := in.cfg.Redactor.ExplainJSONFunc(make([]byte, 0, len(v)+16), v, root, counts, func(h redact.Hit) {
		mb.Add(h.Rule, h.Type, h.Path)
	})
	switch {
	case err == nil && object && string(out) == "null":
		return nil // dropped whole by a rule
	case err == nil && object && (len(out) == 0 || out[0] != '{'):
		// Replaced whole by a rule: detail stays an object.
		return json.RawMessage(`{"redacted":` + string(out) + `}`)
	case err == nil:
		return out
	}
	in.log.Warn("value replaced: redaction failed", zap.Error(err))
	counts["UNPROCESSABLE"]++
	mb.Add("builtin:UNPROCESSABLE", "UNPROCESSABLE", root)
	if object {
		return json.RawMessage(`{"redaction_failed":"[REDACTED:UNPROCESSABLE]"}`)
	}
	return json.RawMessage(`"[REDACTED:UNPROCESSABLE]"`)
}

// commit stores the open batch and position, retrying until it succeeds or
// ctx is done.
func (in *Ingester) commit(ctx context.Context) error {
	if len(in.batch) == 0 && in.pos == nil && !in.posDirty && len(in.marks) == 0 && in.dropMarks == 0 && !in.storeEpoch {
		return nil
	}
	var pos []byte
	var err error
	switch {
	case in.pos != nil:
		pos, err = json.Marshal(in.pos)
	case in.posDirty:
		pos, err = json.Marshal(sourceFiles{Files: in.positions})
	}
	if err != nil {
		return fmt.Errorf("encode source position: %w", err)
	}
	x := spool.Extra{Marks: in.marks, DropMarksThrough: in.dropMarks, HeadKid: in.cfg.Key.ID, Epoch: in.sealer.Epoch()}
	if len(in.batch) > 0 && in.sealer.TreeKnown() {
		t := in.sealer.Tree()
		x.Tree, _ = t.MarshalBinary()
	}
	b := backoff.New(50*time.Millisecond, 5*time.Second)
	for {
		err := in.cfg.Spool.AppendExtra(in.batch, pos, x)
		in.failing.Store(err != nil)
		if err == nil {
			in.marks, in.dropMarks = in.marks[:0], 0
			in.cfg.Metrics.Commits.Inc()
			in.cfg.Metrics.HeadSeq.Set(float64(in.sealer.Head().Seq))
			in.cfg.Metrics.SpoolBytes.Set(float64(in.cfg.Spool.PendingBytes()))
			in.batch, in.batchBytes = in.batch[:0], 0
			in.pos, in.posDirty = nil, false
			if in.storeEpoch && in.cfg.EpochStore != nil {
				if err := in.cfg.EpochStore(in.sealer.Key(), in.sealer.Epoch()); err != nil {
					in.log.Error("cannot store the epoch key; retried at the next commit", zap.Error(err))
				} else {
					in.storeEpoch = false
				}
			} else {
				in.storeEpoch = false
			}
			in.publish()
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

// publish hands the committed checkpoints to the publisher.
func (in *Ingester) publish() {
	for _, p := range in.toPublish {
		in.cfg.Metrics.CheckpointSize.Set(float64(p.Size))
		if in.cfg.Checkpoint.Publish != nil {
			in.cfg.Checkpoint.Publish(p)
		}
	}
	in.toPublish = in.toPublish[:0]
}

// retain appends a retention_purge record when a whole period of the chain
// is older than the policy's MaxAge, and commits it. The record names the
// last seq purged and its MAC (from the mark of the next period), so a
// verifier can check that what remains begins exactly there; each sink
// purges when it stores the record (see Deliverer). Periods are
// Interval long and begin at multiples of Interval since the zero time.
func (in *Ingester) retain(ctx context.Context) error {
	if err := in.commit(ctx); err != nil { // marks of the open batch
		return err
	}
	marks, err := in.cfg.Spool.Marks()
	if err != nil {
		in.log.Error("retention: read marks", zap.Error(err))
		return nil
	}
	cutoff := in.cfg.Now().Add(-in.cfg.Retention.MaxAge)
	var m *spool.Mark
	for i := range marks {
		if marks[i].Time.After(cutoff) {
			break
		}
		if marks[i].Seq > 1 {
			m = &marks[i]
		}
	}
	if m == nil {
		return nil
	}
	in.addOwn(record.ActionRetentionPurge, map[string]any{
		"policy":      map[string]any{"max_age": in.cfg.Retention.MaxAge.String()},
		"cutoff":      record.FormatTime(m.Time),
		"through_seq": m.Seq - 1,
		"through_mac": hex.EncodeToString(m.Prev[:]),
	})
	in.dropMarks = m.Seq
	in.cfg.Metrics.RetentionThrough.Set(float64(m.Seq - 1))
	in.log.Info("retention: purging records sealed before the cutoff",
		zap.Uint64("through_seq", m.Seq-1), zap.Time("cutoff", m.Time))
	return in.commit(ctx)
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
		select {
		case <-in.cfg.Spool.Changed():
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stop commits the open batch with a sidecar_stop record. It must succeed
// within a bounded time even though ctx is done.
func (in *Ingester) stop() error { return in.stopFor("shutdown") }

// stopFor is stop, for reason.
func (in *Ingester) stopFor(reason string) error {
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

package pipeline

import (
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/envelope"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/spool"
)

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
	//
	// A key that cannot be stored at start stops Run (ErrEpochStore), so
	// that no chain runs on a key kept nowhere but in the key file, unless
	// EpochKept says the store already holds a key of this kid from which
	// the current one derives (an earlier epoch's): then, as after a seal,
	// the store is retried at each commit (a restart on a full disk goes
	// on).
	Epoch      time.Duration
	KeyEpoch   uint64
	EpochStore func(chain.Key, uint64) error
	EpochKept  bool
}

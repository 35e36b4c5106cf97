package sink

import (
	"context"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// Sink stores sealed records.
//
// Write must be idempotent on (chain, seq): the deliverer may call it again
// with the same batch, or with a batch that overlaps records already
// stored (after a crash between the sink's commit and the spool's cursor
// update), and the store must end with each record exactly once. Write
// stores the whole batch or returns an error; a returned error means the
// deliverer retries the same batch later with backoff. Write does not keep
// or modify the batch after it returns. Write and Close are not called
// concurrently with each other.
type Sink interface {
	Write(ctx context.Context, batch []record.Sealed) error
	Close() error
}

// Purge asks a sink to carry out a retention purge of one chain: the
// chain's retention_purge record at seq Seq, already stored by the sink,
// says that records 1..Through may be removed, all sealed before Cutoff.
type Purge struct {
	Chain   string
	Seq     uint64
	Through uint64
	Cutoff  time.Time
}

// Purger is a Sink that can carry out retention purges. Purge is
// idempotent and may remove less than asked (PostgreSQL drops whole
// partitions only), never more; what it leaves is removed by a later
// purge. It is called after the Write that stored the purge record.
type Purger interface {
	Purge(ctx context.Context, p Purge) error
}

// Batcher is a Sink that takes larger batches than the deliverer's
// default when records are waiting: MaxBatch is the most records one
// Write should carry.
type Batcher interface {
	MaxBatch() int
}

// Pipeliner is a Sink that can have several batches in flight, so that
// one sidecar is not held to the speed of one database session: Prepare
// does the costly part of storing a batch (the transfer, the index
// updates) in a transaction it leaves open, and the returned Prepared
// makes it durable or drops it.
//
// The caller prepares batches in seq order, each while earlier ones may
// still be prepared but uncommitted (Prepare is called from several
// goroutines at once), and ends each Prepared exactly once, with Commit or
// Abort, in the order they were prepared. After a failed Prepare or
// Commit it aborts every later Prepared and starts again from the failed
// batch, so records become visible in seq order and a failure never
// leaves a hole. Commit keeps Write's guarantees: idempotent, all or
// nothing, conflicts reported. Write is Prepare then Commit.
type Pipeliner interface {
	Sink
	Prepare(ctx context.Context, batch []record.Sealed) (Prepared, error)
	// InFlight is how many prepared batches the caller should keep.
	InFlight() int
}

// Prepared is a batch Prepare stored but did not commit.
type Prepared interface {
	Commit(ctx context.Context) error
	// Abort drops the batch; nothing of it becomes visible.
	Abort()
}

// Filter selects records for a query. Empty fields do not filter. All set
// fields combine with AND. From is inclusive, To exclusive.
type Filter struct {
	From, To                                                   time.Time
	Tenant, User, Action, Tool, Outcome, Model, Session, Chain string
	// CallID matches the payload's detail.call_id as text: a string's value,
	// any other JSON as written in the payload (1e3, not 1000): the call or
	// question id that ties a tool call, its approval and its result. It
	// has no index: it is checked while walking, like the other unindexed
	// filters.
	CallID string
	// Trace matches the trace column (the agent's trace id): every record
	// of one request through the agent, across its sessions and chains.
	// Both stores index it (records with a trace only), so a trace reads
	// its own rows, whatever the table's size.
	Trace string
	// After, when non-nil, is the keyset position of the last record of the
	// previous page: only records strictly after it in the order
	// (ts, chain, seq) are returned.
	After *Key
	Limit int // 1..1000
}

// Key is a record's position in the query order: by event time, then
// chain id, then seq.
type Key struct {
	TS    time.Time
	Chain string
	Seq   uint64
}

// Row is one stored record as read back from a sink: the payload and MAC
// (the authority) and the columns that were extracted for indexing, which
// verification compares with the payload.
type Row struct {
	Chain string
	Seq   uint64
	// Columns are the indexed columns as stored (TS and IngestedAt in
	// record.TimeLayout).
	record.Columns
	Prev    []byte // 32 bytes
	MAC     []byte // 32 bytes
	Payload []byte
	// Quarantined marks a record the database could not store in the
	// query table (see Postgres.Write): only Chain, Seq, MAC and Payload
	// are set.
	Quarantined bool
	// PayloadOnly marks a row read from an export file: there are no
	// stored columns besides Chain, Seq, MAC and Payload to compare.
	PayloadOnly bool
}

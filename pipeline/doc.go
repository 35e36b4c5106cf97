// Package pipeline runs the sidecar's data flow: it owns the goroutines
// that move an agent's lines through parse, redact and chain into the
// spool (Ingester), and the ones that move spooled records into each sink
// (Deliverer). The steps themselves live in their own packages and know
// nothing of each other; this package only connects them.
//
// Ingester: one goroutine, the only writer of the chain. Lines are parsed,
// redacted and sealed one by one and grouped into batches (BatchRecords
// records or BatchWait after the first, whichever comes first); a batch,
// the chain head and the source position just past its last line commit
// in one spool transaction. A failed commit is retried with backoff, the
// batch kept: nothing is dropped, and the source is not read meanwhile.
// While the spool is full, no line is taken from the source (backpressure).
// The first run of a chain writes chain_start; every run starts with
// sidecar_start (after a gap record when the spool was lost) and a clean
// shutdown ends with sidecar_stop. With a container-log envelope,
// fragments are joined per file and stream, and the committed position
// never passes an incomplete message; with several source files, each
// file's position is committed with the batch. A position is stored as
// versioned JSON (version 1 names its version and kind, one file or
// several); positions stored before versions are read too, and a sidecar
// that knows only those reads version 1 the same. Gaps the tailer reports
// (bytes lost to a truncation) become gap records. With a retention
// policy, the first record of each period is marked in the spool, and a
// retention_purge record is appended once a whole period is older than
// the policy.
//
// Deliverer: one goroutine per sink. It reads records after the sink's
// cursor, writes them (sinks are idempotent on chain and seq, so a retry
// after a crash never duplicates), then acknowledges them in the spool.
// A sink that can prepare batches (sink.Pipeliner: PostgreSQL) has the
// next batch prepared while the previous one commits, commits in order,
// and acknowledges each batch after its commit.
// Every sink error is retried with exponential backoff (up to 5 s) that
// resets on success; only the context stops a deliverer. After storing a
// retention_purge record it asks a sink that can purge to do so. A store
// found replaced under it (a SQLite file deleted while open: the sink's
// Write reports it, and an idle deliverer checks every
// StoreCheckInterval) has lost the records delivered to it, which the
// spool no longer holds: the deliverer logs it, counts it, reports the
// sink down (LostRecords) until the sidecar restarts, and delivers on to
// the new store, where verify sees the lost range missing.
package pipeline

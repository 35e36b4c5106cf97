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
// sidecar_start and a clean shutdown ends with sidecar_stop.
//
// Deliverer: one goroutine per sink. It reads records after the sink's
// cursor, writes them (sinks are idempotent on chain and seq, so a retry
// after a crash never duplicates), then acknowledges them in the spool.
// Every sink error is retried with exponential backoff that resets on
// success; only the context stops a deliverer.
package pipeline

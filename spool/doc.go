// Package spool is the sidecar's durable queue: a bbolt file on the pod's
// volume holding sealed records between ingestion and delivery.
//
// Basics:
//
//   - Append stores a batch of sealed records, the chain head after them and
//     the source position just past the lines they came from, in ONE bbolt
//     transaction (one fsync). After a crash at any instant the spool holds
//     either all of a batch and its position or none of it: the source is
//     re-read from the committed position, so nothing is lost and nothing is
//     ingested twice.
//   - Each sink has a cursor (the highest seq it has stored). Read returns the
//     records after a sink's cursor; Ack advances it. A record is removed only
//     once every registered sink's cursor has passed it.
//   - Pending bytes (the size of the records still held) are tracked in the
//     file. Full reports when they reach the configured limit: the caller then
//     stops reading its source (backpressure); the spool never drops a record.
//
// Caveats: one spool holds one chain, and one process may open it (bbolt
// takes an exclusive file lock; Open fails after a timeout if another
// process holds it). The bbolt file does not shrink when records leave; its
// pages are reused.
package spool

// Package sink stores sealed audit records in databases and reads them
// back for queries and verification. It is the last step of the pipeline
// and knows nothing of the steps before it beyond package record.
//
// # The Sink contract
//
// A [Sink] has two methods, Write and Close. Write stores a batch of
// [record.Sealed] in one transaction: all of it or, with an error, none.
// It is idempotent on (chain, seq): the deliverer calls it again with the
// same batch after an error, or with a batch overlapping what is stored
// after a crash, and each record ends up stored exactly once. A record
// already stored identically is skipped; one stored with a different
// payload or MAC fails the batch with [ErrConflict], because two records
// claiming one chain position is a fork or tampering, never a replay.
// Write does not keep or modify the batch. The deliverer retries every
// error; [ErrConflict] and [ErrBadRecord] will fail again until an
// operator acts, so they deserve an alert. Both come as a [*RecordError]
// naming chain and seq. No error quotes payload content.
//
// The payload (the canonical record bytes the chain MAC covers) is the
// authority. Sinks store it verbatim and take every query column from it,
// never from elsewhere: from the sealer's [record.Sealed] Indexed, which
// is [record.Index] of that very payload, or from record.Index of the
// payload when a record carries none (one read back from the spool's
// file); a payload naming another chain or seq than the record fails the
// batch with [ErrBadRecord]. Whether the payload is canonical is not
// checked on write (the sealer makes only canonical payloads):
// verification parses it with [record.Parse] and compares every stored
// column with it.
//
// # SQLite
//
// [OpenSQLite] opens one database file (created with mode 0600, its folder
// too) in WAL mode with synchronous=FULL: a batch that Write returned for
// is on disk and survives a power cut. Readers (Search, SearchEach, Scan) run
// alongside the writer. The schema is versioned with PRAGMA user_version
// and created in one transaction; a database from a newer program fails
// with [ErrSchemaVersion].
//
// Table audit_records is a STRICT rowid table, one row per record:
//
//	chain, seq             TEXT, INTEGER   UNIQUE (chain, seq)
//	ts, ingested_at        TEXT            record.TimeLayout, sorts as time
//	action, user, tenant, agent, session, trace, model, tool,
//	outcome, approver, kid TEXT            '' when absent from the payload
//	prev, mac              BLOB            32 bytes each
//	payload                BLOB            the exact bytes that were MACed
//
// Indexes (ts, chain, seq) and (tenant, ts, chain, seq) serve Search:
// every plan walks an index in the query order and stops at the limit.
// Filters on other columns are checked while walking (bound them with
// from/to on large tables); indexes for them were measured to cut insert
// throughput several-fold (see BenchmarkSQLite_Write).
//
// The table is append-only. Triggers abort any UPDATE (upserts included)
// or DELETE with "audit_records is append-only". The retention purge
// (Purge) is the one guarded exception: it deletes a chain's prefix only
// while a guard row names the chain's stored retention_purge record that
// covers it. INSERT OR REPLACE gets past SQLite triggers, and anyone who
// can write the file can drop them: they stop mistakes; tampering,
// replacement included, is caught by the chain (verify).
//
// A file deleted, moved or replaced while open would take every later
// write with no error, into a file nobody reads again. [SQLite.CheckStore]
// (called by every Write) compares the file at the path with the one
// open; when they differ it opens a new store at the path and returns a
// [*ReplacedError], so what the lost file held is plainly missing from
// the store (verify lists the gap) and the caller can report it.
//
// Search pages by keyset in the order (ts, chain, seq), never by offset;
// SearchEach yields the same rows one by one, reading them in chunks of at
// most 100 rows and about [SearchChunkBytes], with no connection or read
// snapshot held between chunks, so that the HTTP API writes a page as it
// is read and a slow client holds nothing the writer needs. Chains lists
// chain ids; Scan streams one chain in seq order in chunks (1000 rows,
// fewer past 4 MiB), in constant memory, for verification and export.
//
// [OpenSQLiteReadOnly] opens a store for verify and export, which never
// write to the evidence they read: no file, folder, schema or migration is
// created and no pragma that writes is set. A WAL database without a -wal
// file (a stopped sidecar's store, a copy) is read as an immutable file,
// which leaves no -wal or -shm beside it and works on read-only media
// ([SQLite.Unchanged] says whether a writer changed it meanwhile); one
// with its -wal is read with it, read-only. A file that holds no store
// returns a [*NotAStoreError].
//
// # PostgreSQL
//
// [OpenPostgres] connects with pgx, applies versioned migrations under an
// advisory lock, and keeps monthly partitions (by ingested_at) created
// ahead. Write locks each chain of the batch, COPYs a batch beyond the
// chain's stored head straight into audit_records, and sends an
// overlapping batch (a replay) through a staging table and INSERT … ON
// CONFLICT DO NOTHING, comparing what was skipped. Records the server
// rejects for good go whole to audit_quarantine; Scan returns them with
// their chain. Triggers reject UPDATE, DELETE and TRUNCATE for every
// role; the writer role of docs/postgres.md cannot drop them.
// [OpenPostgresReadOnly] reads for verify and export in read-only
// transactions, with no migration, partition or temporary table. Purge drops
// whole partitions that every chain has purged. The same conformance
// tests run against both sinks.
//
// # Retention and recovery
//
// [Purger] sinks carry out retention_purge records after storing them;
// [TailReader] sinks say where a chain stands, so that a chain whose spool
// was lost continues from them.
//
// # Null
//
// [Null] accepts every batch and stores nothing: for dry runs, and for
// running with the spool as the only store.
package sink

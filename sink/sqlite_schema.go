package sink

import (
	"context"
	"database/sql"
	"fmt"

	"go.uber.org/zap"
)

// migrations[i] takes a database from schema version i to i+1. The version
// is kept in PRAGMA user_version and changes in the same transaction as
// the schema, so a crash mid-migration leaves the old version intact.
// Released steps are never edited: a change is a new step.
var migrations = [][]string{
	// 0 -> 1
	{
		// A rowid table: rows are appended in rowid order, so max(rowid) is
		// the newest insert and costs one b-tree descent. STRICT rejects a
		// value of the wrong type instead of storing it. Absent fields are
		// '' so that every column compares with "=".
		`CREATE TABLE audit_records (
			chain       TEXT    NOT NULL,
			seq         INTEGER NOT NULL CHECK (seq >= 1),
			ts          TEXT    NOT NULL,
			ingested_at TEXT    NOT NULL,
			action      TEXT    NOT NULL,
			user        TEXT    NOT NULL DEFAULT '',
			tenant      TEXT    NOT NULL DEFAULT '',
			agent       TEXT    NOT NULL DEFAULT '',
			session     TEXT    NOT NULL DEFAULT '',
			trace       TEXT    NOT NULL DEFAULT '',
			model       TEXT    NOT NULL DEFAULT '',
			tool        TEXT    NOT NULL DEFAULT '',
			outcome     TEXT    NOT NULL DEFAULT '',
			approver    TEXT    NOT NULL DEFAULT '',
			kid         TEXT    NOT NULL,
			prev        BLOB    NOT NULL CHECK (length(prev) = 32),
			mac         BLOB    NOT NULL CHECK (length(mac) = 32),
			payload     BLOB    NOT NULL,
			UNIQUE (chain, seq)
		) STRICT`,

		// Every query index ends in the query order (ts, chain, seq), so
		// whichever the planner picks, rows come out in order and LIMIT
		// stops early: no query sorts. Both take inserts at or near their
		// right edge (ts grows; tenants are few). Indexes led by user,
		// session, action or tool take inserts all over the b-tree, and
		// each batch then dirties (and fsyncs into the WAL) about a page
		// per record per index: BenchmarkSQLite_Write at 100k rows measured
		// 0.30 pages written per record with this schema, 1.97 with user
		// and session indexes added (a third to a half of the insert
		// rate), 2.73 with action and tool too, and it grows with the
		// table. Those filters walk the ts index instead, bounded by
		// from/to.
		`CREATE INDEX audit_records_ts ON audit_records (ts, chain, seq)`,
		`CREATE INDEX audit_records_tenant ON audit_records (tenant, ts, chain, seq)`,

		// Append-only. The retention purge will be the one exception: it
		// will delete only inside its own transaction, which also appends
		// the chained retention_purge record, and only while a guard row
		// (a purge_guard table naming the chain and the seq range being
		// purged) exists in that transaction. It is a later schema step
		// that adds a WHEN clause checking that guard to
		// audit_records_no_delete; nothing else may ever delete.
		`CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
		BEGIN
			SELECT RAISE(ABORT, 'audit_records is append-only');
		END`,
		`CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
		BEGIN
			SELECT RAISE(ABORT, 'audit_records is append-only');
		END`,

		// INSERT OR REPLACE deletes the row it conflicts with without
		// firing DELETE triggers (unless the replacing connection turns
		// recursive_triggers on), so it gets past these triggers. Guarding
		// every insert with a BEFORE INSERT trigger was measured to cost
		// about 30% of insert throughput (BenchmarkSQLite_Write); a
		// replaced row is caught by verify instead (its MAC no longer
		// matches, or its seq is missing), as any edit by someone who can
		// write the file is.
	},
	// 1 -> 2: the guarded retention purge.
	{
		// A purge transaction inserts a guard row naming the chain, the
		// last seq to purge and the seq of the chain's retention_purge
		// record that says so; the delete trigger lets a row go only if
		// such a guard covers it and the named record is stored and is a
		// retention_purge through exactly that seq. The transaction
		// removes its guard before it commits.
		`CREATE TABLE audit_purge_guard (
			chain       TEXT    NOT NULL,
			through_seq INTEGER NOT NULL,
			purge_seq   INTEGER NOT NULL
		) STRICT`,
		`DROP TRIGGER audit_records_no_delete`,
		`CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
		WHEN NOT EXISTS (
			SELECT 1 FROM audit_purge_guard g JOIN audit_records p
				ON p.chain = g.chain AND p.seq = g.purge_seq
			WHERE g.chain = OLD.chain AND OLD.seq <= g.through_seq
				AND p.action = 'retention_purge'
				AND json_extract(CAST(p.payload AS TEXT), '$.detail.through_seq') = g.through_seq
		)
		BEGIN
			SELECT RAISE(ABORT, 'audit_records is append-only');
		END`,
	},
	// 2 -> 3: the records of one trace (the console's story of a trace,
	// /v1/audit?trace=), read by their own index instead of a walk of
	// the time index. Partial: records without a trace (most of those of
	// agents that send none) cost the index nothing on insert. IF NOT
	// EXISTS: an operator may have built it ahead of the upgrade.
	{
		`CREATE INDEX IF NOT EXISTS audit_records_trace ON audit_records (trace, ts, chain, seq) WHERE trace <> ''`,
	},
	// 3 -> 4: the positions of each trace's records move from that index
	// to a table of their own, filled in sorted batches (see traceSQL and
	// SQLite.indexTraces): trace ids are random, and the index took each
	// batch's inserts all over it, a page per trace of the batch, most of
	// them out of SQLite's cache (the bench workload: 25 500-27 700
	// events/s with it, 35 500-38 300 without, and 1.85 GB written to
	// disk for 200 000 events against 1.07). through is the rowid of
	// audit_records up to which the table lists every row with a trace.
	{
		`CREATE TABLE audit_trace_index (
			t_trace TEXT    NOT NULL,
			t_ts    TEXT    NOT NULL,
			t_chain TEXT    NOT NULL,
			t_seq   INTEGER NOT NULL,
			PRIMARY KEY (t_trace, t_ts, t_chain, t_seq)
		) STRICT, WITHOUT ROWID`,
		`CREATE TABLE audit_trace_indexed (
			one     INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
			through INTEGER NOT NULL
		) STRICT`,
		`INSERT INTO audit_trace_index SELECT trace, ts, chain, seq FROM audit_records WHERE trace <> '' ORDER BY trace, ts, chain, seq`,
		`INSERT INTO audit_trace_indexed VALUES (1, (SELECT coalesce(max(rowid), 0) FROM audit_records))`,
		`DROP INDEX IF EXISTS audit_records_trace`,
	},
}

// QueryIndexes are the indexes a SQLite store may be given on top of its
// schema, by name (config: sinks[].query_indexes): "user" and "session"
// serve /v1/audit?user= and ?session= (everything user X did, a session's
// story) from their own index instead of a walk of the time index, which
// took 450-630 ms a page at 1M rows (a full scan for a user or session of
// old records; about 5 s at 10M), and which searches now read window by
// window, within a budget (searchBudget) and with a resume cursor. They
// are partial, as the trace's: records without a user or session cost
// nothing on insert.
//
// They are not part of the schema because of what they cost on insert:
// the pages a batch dirties (and appends to the WAL, 16 KiB each), which
// grow with the distinct users and sessions a batch touches, not with its
// records. BenchmarkSQLite_Write, batches of 1000, pages written per
// record, without -> with both:
//
//	                                         100k rows      1M rows
//	pod (64 sessions at once, ~85 sessions
//	  and users a batch)                     0.100 -> 0.226  0.101 -> 0.283
//	random (~630 users, ~950 sessions a
//	  batch: the pessimistic case)           0.100 -> 0.566  0.101 -> 1.866
//
// Records/s on the shared two-core machine (noisy; each pair from one
// run): pod 22 300 -> 10 600 at 100k, 19 400 -> 10 400 at 1M; random
// 23 500 -> 6 500 at 100k, 23 300 -> 2 100 at 1M. End to end
// (pipeline.BenchmarkEndToEnd/sqlite, 100 000 events of the bench
// workload, alternated in one run): 4 720 and 4 520 events/s without,
// 2 480 and 2 640 with: the sink is what bounds the sidecar's rate, and
// the indexes halve it. Action and tool indexes too (100k): 0.349 (pod),
// 0.825 (random) pages per record; those filters stay on the time index.
var QueryIndexes = map[string]string{
	"user":    `CREATE INDEX IF NOT EXISTS audit_records_user ON audit_records (user, ts, chain, seq) WHERE user <> ''`,
	"session": `CREATE INDEX IF NOT EXISTS audit_records_session ON audit_records (session, ts, chain, seq) WHERE session <> ''`,
}

// applyQueryIndexes creates the query indexes named in want and drops
// the others (an index no longer wanted would go on costing every
// insert). Building one on a large store reads the whole table once.
func applyQueryIndexes(ctx context.Context, db *sql.DB, want []string, logger *zap.Logger) error {
	keep := map[string]bool{}
	for _, name := range want {
		if _, ok := QueryIndexes[name]; !ok {
			return fmt.Errorf("query index %q unknown (known: user, session)", name)
		}
		keep[name] = true
	}
	for _, name := range []string{"user", "session"} {
		stmt := `DROP INDEX IF EXISTS audit_records_` + name
		if keep[name] {
			stmt = QueryIndexes[name]
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?`,
				"audit_records_"+name).Scan(&n); err != nil {
				return fmt.Errorf("query index %s: %w", name, err)
			}
			if n == 0 {
				logger.Info("sqlite: building a query index; it reads the whole table once", zap.String("index", name))
			}
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("query index %s: %w", name, err)
		}
	}
	return nil
}

// schemaVersion is the version this program writes and reads.
var schemaVersion = len(migrations)

// migrate brings db to schemaVersion and returns the version it found.
// The transaction is IMMEDIATE (see sqliteDSN), so two processes opening
// the same new file do not both create the schema.
func migrate(ctx context.Context, db *sql.DB) (found int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&found); err != nil {
		return 0, fmt.Errorf("read user_version: %w", err)
	}
	if found > schemaVersion || found < 0 {
		return found, fmt.Errorf("%w: database has %d, this program knows up to %d", ErrSchemaVersion, found, schemaVersion)
	}
	if found == schemaVersion {
		return found, nil
	}
	for v := found; v < schemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return found, fmt.Errorf("schema %d to %d: %w", v, v+1, err)
			}
		}
	}
	// PRAGMA takes no parameters; schemaVersion is a constant int.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return found, fmt.Errorf("write user_version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return found, fmt.Errorf("commit schema: %w", err)
	}
	return found, nil
}

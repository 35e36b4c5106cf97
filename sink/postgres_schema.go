package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// pgMigrations[i] takes a database from schema version i to i+1. Each step
// runs in one transaction with its version row, under an advisory lock, so
// sidecars starting together apply it once and a crash mid-step leaves the
// old version. Released steps are never edited: a change is a new step.
//
// All objects are created unqualified, in the connection's current schema
// (the first of its search_path).
var pgMigrations = [][]string{
	// 0 -> 1
	{
		// Partitioned by ingested_at, the sidecar's clock, not by ts, the
		// agent's: ingested_at grows with seq within a chain, so a partition
		// holds a contiguous seq range of each chain, and dropping the
		// oldest partitions removes a prefix of every chain (what a chained
		// retention_purge can attest), never a hole in the middle. Times
		// are record.TimeLayout text in byte order (COLLATE "C"), exactly
		// as in the payload: timestamptz would cut nanoseconds. A
		// partitioned table's unique keys must contain the partition key,
		// so the key is (chain, seq, ingested_at); Write rejects a second
		// record at a stored (chain, seq) whatever its ingested_at.
		`CREATE TABLE audit_records (
			chain       text COLLATE "C" NOT NULL,
			seq         bigint NOT NULL CHECK (seq >= 1),
			ts          text COLLATE "C" NOT NULL,
			ingested_at text COLLATE "C" NOT NULL,
			action      text COLLATE "C" NOT NULL,
			"user"      text COLLATE "C" NOT NULL DEFAULT '',
			tenant      text COLLATE "C" NOT NULL DEFAULT '',
			agent       text COLLATE "C" NOT NULL DEFAULT '',
			session     text COLLATE "C" NOT NULL DEFAULT '',
			trace       text COLLATE "C" NOT NULL DEFAULT '',
			model       text COLLATE "C" NOT NULL DEFAULT '',
			tool        text COLLATE "C" NOT NULL DEFAULT '',
			outcome     text COLLATE "C" NOT NULL DEFAULT '',
			approver    text COLLATE "C" NOT NULL DEFAULT '',
			kid         text COLLATE "C" NOT NULL,
			prev        bytea NOT NULL CHECK (length(prev) = 32),
			mac         bytea NOT NULL CHECK (length(mac) = 32),
			payload     bytea NOT NULL,
			CONSTRAINT audit_records_position UNIQUE (chain, seq, ingested_at)
		) PARTITION BY RANGE (ingested_at)`,
		// Rows whose month has no partition (a clock far off) land here
		// rather than fail. Monthly partitions are created ahead of time
		// by audit_ensure_partitions.
		`CREATE TABLE audit_records_default PARTITION OF audit_records DEFAULT`,
		// Every query index ends in the query order (ts, chain, seq): each
		// partition's scan yields rows in order, a Merge Append combines
		// them, and LIMIT stops early.
		`CREATE INDEX audit_records_ts ON audit_records (ts, chain, seq)`,
		`CREATE INDEX audit_records_tenant ON audit_records (tenant, ts, chain, seq)`,
		`CREATE INDEX audit_records_session ON audit_records (session, ts, chain, seq)`,
		`CREATE INDEX audit_records_user ON audit_records ("user", ts, chain, seq)`,

		// Records the database rejected for a reason retrying cannot fix
		// (a NUL character in a text field, an index entry over the size
		// limit): kept whole, outside the query table, with the reason.
		// verify reads them with the chain.
		`CREATE TABLE audit_quarantine (
			chain          text COLLATE "C" NOT NULL,
			seq            bigint NOT NULL,
			mac            bytea NOT NULL,
			payload        bytea NOT NULL,
			sqlstate       text NOT NULL,
			reason         text NOT NULL,
			quarantined_at timestamptz NOT NULL DEFAULT now(),
			CONSTRAINT audit_quarantine_position UNIQUE (chain, seq, mac)
		)`,

		// Append-only, whoever connects: the triggers stop the table owner
		// too, and a role that is not the owner (docs/postgres.md) cannot
		// drop them. Row triggers on a partitioned table apply to every
		// partition; TRUNCATE triggers do not propagate, so every
		// partition gets its own (audit_ensure_partitions adds it).
		`CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
		END
		$$`,
		`CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
			FOR EACH ROW EXECUTE FUNCTION audit_reject_change()`,
		`CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
			FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()`,
		`CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records_default
			FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()`,
		`CREATE TRIGGER audit_quarantine_append_only BEFORE UPDATE OR DELETE ON audit_quarantine
			FOR EACH ROW EXECUTE FUNCTION audit_reject_change()`,
		`CREATE TRIGGER audit_quarantine_no_truncate BEFORE TRUNCATE ON audit_quarantine
			FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()`,

		// Creating a partition needs ownership of the table, which the
		// writer role must not have (an owner can drop the triggers). This
		// function runs as its owner and does only that: it creates the
		// monthly partitions [first, first+months) that are missing, each
		// with its TRUNCATE trigger, and returns how many it created. It
		// serialises callers with an advisory lock.
		`CREATE FUNCTION audit_ensure_partitions(first date, months int) RETURNS int
		LANGUAGE plpgsql SECURITY DEFINER AS $$
		DECLARE
			m date;
			name text;
			created int := 0;
		BEGIN
			IF months < 1 OR months > 24 THEN
				RAISE EXCEPTION 'months must be in 1..24';
			END IF;
			PERFORM pg_advisory_xact_lock(7461626173650001);
			FOR i IN 0 .. months - 1 LOOP
				m := (date_trunc('month', first) + make_interval(months => i))::date;
				name := 'audit_records_' || to_char(m, 'YYYY_MM');
				IF to_regclass(quote_ident(name)) IS NULL THEN
					BEGIN
						EXECUTE format('CREATE TABLE %I PARTITION OF audit_records FOR VALUES FROM (%L) TO (%L)',
							name, to_char(m, 'YYYY-MM'), to_char(m + interval '1 month', 'YYYY-MM'));
						EXECUTE format('CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON %I
							FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()', name);
						created := created + 1;
					EXCEPTION WHEN check_violation THEN
						-- The default partition holds rows of this month
						-- (written while the clock was far ahead): the
						-- month stays in the default partition and the
						-- other months are still created.
						RAISE WARNING 'partition % not created: the default partition holds rows of that month', name;
					END;
				END IF;
			END LOOP;
			RETURN created;
		END
		$$`,
		// A SECURITY DEFINER function must not take its search_path from
		// the caller; pin it to the schema it was created in.
		`DO $$ BEGIN
			EXECUTE format('ALTER FUNCTION audit_ensure_partitions(date, int) SET search_path = %I, pg_temp', current_schema());
		END $$`,
		`REVOKE ALL ON FUNCTION audit_ensure_partitions(date, int) FROM PUBLIC`,
	},
	// 1 -> 2: retention by whole partitions.
	{
		// The chains' retention_purge records, found without reading the
		// chains: a partial index holds only them.
		`CREATE INDEX audit_records_purges ON audit_records (chain, seq) WHERE action = 'retention_purge'`,
		// Drops each monthly partition of a month before "before"
		// ('YYYY-MM') in which every chain's highest seq is covered by
		// that chain's highest retention_purge through_seq. Rows are
		// never deleted one by one; a partition that still holds a record
		// some chain has not purged stays whole until a later purge
		// covers it. Runs as its owner (dropping a partition needs
		// ownership) and does nothing else, so it may be granted to the
		// writer or to a purge role. Returns the partitions dropped.
		`CREATE FUNCTION audit_drop_purged_partitions(before text) RETURNS SETOF text
		LANGUAGE plpgsql SECURITY DEFINER AS $$
		DECLARE
			part text;
			covered boolean;
		BEGIN
			IF before !~ '^[0-9]{4}-[0-9]{2}$' THEN
				RAISE EXCEPTION 'before must be YYYY-MM';
			END IF;
			PERFORM pg_advisory_xact_lock(7461626173650001);
			FOR part IN
				SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
				WHERE i.inhparent = 'audit_records'::regclass
					AND c.relname ~ '^audit_records_[0-9]{4}_[0-9]{2}$'
					AND replace(substr(c.relname, 15), '_', '-') < before
				ORDER BY c.relname
			LOOP
				EXECUTE format($q$
					SELECT NOT EXISTS (
						SELECT 1 FROM (SELECT chain, max(seq) AS hi FROM %I GROUP BY chain) x
						WHERE x.hi > coalesce((
							SELECT max((convert_from(r.payload, 'UTF8')::jsonb #>> '{detail,through_seq}')::bigint)
							FROM audit_records r
							WHERE r.chain = x.chain AND r.action = 'retention_purge' AND r.seq > x.hi), 0))
				$q$, part) INTO covered;
				IF covered THEN
					EXECUTE format('DROP TABLE %I', part);
					RETURN NEXT part;
				END IF;
			END LOOP;
		END
		$$`,
		`DO $$ BEGIN
			EXECUTE format('ALTER FUNCTION audit_drop_purged_partitions(text) SET search_path = %I, pg_temp', current_schema());
		END $$`,
		`REVOKE ALL ON FUNCTION audit_drop_purged_partitions(text) FROM PUBLIC`,
	},
	// 2 -> 3: the rare values auditors look for most, indexed cheaply.
	{
		// A filter on a column without an index walks the time index
		// until the page is full, which costs about limit / (share of
		// rows with that value): nothing for the bulk actions, but on 10M
		// rows about a second for approval_denied, error or any action
		// the table does not hold (bench/pgquery). Partial indexes hold
		// only the rows that are not bulk traffic, so they cost little on
		// insert, and a filter on any other action value (custom plans)
		// reads them directly.
		`CREATE INDEX audit_records_rare_action ON audit_records (action, ts, chain, seq)
			WHERE action NOT IN ('decision', 'model_call', 'tool_call', 'tool_result')`,
		`CREATE INDEX audit_records_rare_outcome ON audit_records (outcome, ts, chain, seq)
			WHERE outcome NOT IN ('success', '')`,
	},
	// 3 -> 4: tool, the other filter auditors use most ("what was done
	// with payments.refund"). Only tool calls, results and approvals name
	// a tool, so the index holds about half the rows; without it a tool
	// that few or no records name costs a full scan (1 s on 10M rows).
	{
		`CREATE INDEX audit_records_tool ON audit_records (tool, ts, chain, seq) WHERE tool <> ''`,
	},
	// 4 -> 5: a tenant's auditor looking for a rare action (its
	// approval_denied records) combined two indexes and read every rare
	// record of the table: p99 over 100 ms on 10M rows. The same rows as
	// audit_records_rare_action, led by tenant.
	{
		`CREATE INDEX audit_records_tenant_rare_action ON audit_records (tenant, action, ts, chain, seq)
			WHERE action NOT IN ('decision', 'model_call', 'tool_call', 'tool_result')`,
	},
	// 5 -> 6: the records of one trace (the console's story of a trace,
	// /v1/audit?trace=). Without it a trace walks the time index: up to a
	// full scan for a trace of old or no records. Partial, as the tool's:
	// records without a trace cost nothing on insert. IF NOT EXISTS: on a
	// large table an operator may build it ahead of the upgrade, as the
	// owner (docs/postgres.md), and the step then only records its
	// version.
	{
		`CREATE INDEX IF NOT EXISTS audit_records_trace ON audit_records (trace, ts, chain, seq) WHERE trace <> ''`,
	},
}

// pgSchemaVersion is the version this program writes and reads.
var pgSchemaVersion = len(pgMigrations)

// pgMigrateLock is the advisory lock key that serialises migrations.
const pgMigrateLock = 7461626173650000

// pgMigrate brings the database to pgSchemaVersion and returns the version
// it found. A database already current is only read, so a role without
// CREATE privilege can start against a prepared schema.
func pgMigrate(ctx context.Context, conn *pgx.Conn) (found int, err error) {
	found, err = pgReadVersion(ctx, conn)
	if err != nil {
		return 0, err
	}
	if found == pgSchemaVersion {
		return found, nil
	}
	if found > pgSchemaVersion {
		return found, fmt.Errorf("%w: database has %d, this program knows up to %d", ErrSchemaVersion, found, pgSchemaVersion)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return found, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgMigrateLock)); err != nil {
		return found, fmt.Errorf("take migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS audit_schema_migrations (
		version    int PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return found, fmt.Errorf("create audit_schema_migrations: %w", err)
	}
	// Read again under the lock: another sidecar may have migrated.
	var cur int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM audit_schema_migrations`).Scan(&cur); err != nil {
		return found, fmt.Errorf("read schema version: %w", err)
	}
	if cur > pgSchemaVersion {
		return cur, fmt.Errorf("%w: database has %d, this program knows up to %d", ErrSchemaVersion, cur, pgSchemaVersion)
	}
	for v := cur; v < pgSchemaVersion; v++ {
		for _, stmt := range pgMigrations[v] {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return found, fmt.Errorf("schema %d to %d: %w", v, v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_schema_migrations (version) VALUES ($1)`, v+1); err != nil {
			return found, fmt.Errorf("record schema %d: %w", v+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return found, fmt.Errorf("commit schema: %w", err)
	}
	return found, nil
}

// pgReadVersion returns the schema version, 0 for a database without one.
func pgReadVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('audit_schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM audit_schema_migrations`).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

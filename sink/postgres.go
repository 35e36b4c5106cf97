package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
)

const (
	// pgPartitionsAhead is how many monthly partitions, the current one
	// included, the sink keeps created.
	pgPartitionsAhead = 3
	// pgChainLockSeed salts the advisory lock key of a chain.
	pgChainLockSeed = 7461626173650002
	// pgMaxConns bounds the pool unless the DSN sets pool_max_conns: two
	// writes in flight, the partition upkeep, and the reads of the write
	// path (chain tails at start).
	pgMaxConns = 8
	// pgReadConns bounds the queries' pool (Postgres.rpool), whatever the
	// DSN says: queries never take a connection of the writer's pool.
	pgReadConns = 4
	// pgConnectTimeout bounds a connection attempt when the DSN sets no
	// connect_timeout: an unreachable server must fail a write, to be
	// retried, rather than hang it.
	pgConnectTimeout = 10 * time.Second
)

// PostgresOptions tunes OpenPostgres. The zero value is usable.
type PostgresOptions struct {
	Logger *zap.Logger // nil logs nothing
	// OnQuarantine, if set, is called once for each record Write moved to
	// the quarantine table, after the transaction committed. reason names
	// the SQLSTATE and the server's message (never a value).
	OnQuarantine func(chain string, seq uint64, reason string)
	// Now is the clock for partition creation; nil means time.Now.
	Now func() time.Time
	// RequireServer makes an unreachable server fail the open instead of
	// deferring the setup (for tools that only talk to the database).
	RequireServer bool
	// PartitionCheck is how often the sink checks whether the next
	// months' partitions must be created; 0 means every 10 minutes.
	PartitionCheck time.Duration
}

// PostgresSchemaVersion is the schema version this program applies.
var PostgresSchemaVersion = pgSchemaVersion

// Postgres is a Sink that stores records in PostgreSQL, shared by many
// sidecars (one chain each). It also answers queries (Search) and streams
// chains for verification (Chains, Scan). All methods are safe for
// concurrent use.
type Postgres struct {
	pool *pgxpool.Pool
	// rpool is the pool of the queries (Search, SearchEach, Chains,
	// Scan): sessions of their own, read-only, so that no number of
	// queries, however slow, takes a connection the writer needs. It is
	// pool itself for a store opened read-only.
	rpool  *pgxpool.Pool
	opts   PostgresOptions
	logger *zap.Logger

	// Posture says whether the connected role can alter audit rows; see
	// checkPosture.
	Posture Posture

	connCfg *pgx.ConnConfig
	setupMu sync.Mutex
	isSetUp bool
	setUp   atomic.Bool // isSetUp, read without waiting for a setup

	stop     context.CancelFunc // ends keepPartitions
	loopDone chan struct{}

	mu sync.Mutex
	// covered is the first month ("YYYY-MM") without a partition known
	// to exist.
	covered string

	// readOnly: opened by OpenPostgresReadOnly (no setup, no writes);
	// noQuarantine: its database has no audit_quarantine table to read.
	readOnly, noQuarantine bool
}

var _ Sink = (*Postgres)(nil)

// Posture is what the connected role may do to stored records.
type Posture struct {
	Role string
	// CanAlter lists what makes the role able to alter or remove audit
	// rows: "superuser", "owner" (can drop the triggers), "UPDATE",
	// "DELETE", "TRUNCATE" privileges. Empty is the documented writer role.
	CanAlter []string
	// CanCreatePartitions is false when the role may not execute
	// audit_ensure_partitions; rows then go to existing partitions or the
	// default partition.
	CanCreatePartitions bool
	// CanPurge is false when the role may not execute
	// audit_drop_purged_partitions; retention purges then fail (and are
	// counted) until it is granted or a purge role runs it.
	CanPurge bool
}

// OpenPostgres connects to dsn, applies the schema migrations (once, under
// an advisory lock, however many sidecars start together), creates the
// partitions of the current and next months, and checks what the role may
// do (Posture; logged as a warning when it can alter rows).
//
// A server that cannot be reached does not fail the open: the sidecar must
// start and spool while the database is down. The setup is then retried
// before each Write until it succeeds, and Write fails (to be retried)
// meanwhile. A DSN that does not parse, or a server that refuses the setup
// (an unknown schema version, a missing privilege), fails the open. Errors
// never quote the DSN.
func OpenPostgres(ctx context.Context, dsn string, opts PostgresOptions) (*Postgres, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the connection string.
		return nil, errors.New("open postgres: dsn does not parse")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = pgMaxConns
	}
	// Query plans: the audit filters are skewed (one tenant holds a third
	// of the rows, another almost none), so a cached generic plan can be
	// several times slower than a plan for the actual values, and JIT
	// compilation added 0.3-0.5 s to the slow plans while saving nothing
	// (bench/pgquery). Settings in the DSN win.
	for k, v := range map[string]string{"plan_cache_mode": "force_custom_plan", "jit": "off"} {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, pgStagingDDL)
		return err
	}
	rcfg := cfg.Copy()
	rcfg.MaxConns, rcfg.MinConns = pgReadConns, 0
	rcfg.AfterConnect = nil // no staging table: nothing is written
	rcfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg) // connects lazily
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", pgSafeErr(err))
	}
	rpool, err := pgxpool.NewWithConfig(ctx, rcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", pgSafeErr(err))
	}
	p := &Postgres{pool: pool, rpool: rpool, opts: opts, logger: opts.Logger, connCfg: cfg.ConnConfig, loopDone: make(chan struct{})}
	if err := p.setup(ctx); err != nil {
		if opts.RequireServer || !pgTransient(err) || ctx.Err() != nil {
			rpool.Close()
			pool.Close()
			return nil, err
		}
		p.logger.Warn("postgres unreachable at start; records stay spooled and setup is retried before each write",
			zap.Error(err))
	}
	loopCtx, stop := context.WithCancel(context.Background())
	p.stop = stop
	go p.keepPartitions(loopCtx)
	return p, nil
}

// setup runs the migrations, the posture check and the partition creation
// once; after a failure the next call tries again.
func (p *Postgres) setup(ctx context.Context) error {
	if p.readOnly {
		return errors.New("postgres: the store is open read-only")
	}
	p.setupMu.Lock()
	defer p.setupMu.Unlock()
	if p.isSetUp {
		return nil
	}
	mc, err := pgx.ConnectConfig(ctx, p.connCfg.Copy())
	if err != nil {
		return fmt.Errorf("open postgres: %w", pgSafeErr(err))
	}
	found, err := pgMigrate(ctx, mc)
	mc.Close(ctx)
	if err != nil {
		return fmt.Errorf("open postgres: %w", pgSafeErr(err))
	}
	if err := p.checkPosture(ctx); err != nil {
		return fmt.Errorf("open postgres: %w", pgSafeErr(err))
	}
	p.ensurePartitions(ctx, p.opts.Now())
	p.logger.Info("postgres sink open", zap.Int("schema_version", pgSchemaVersion), zap.Int("found_version", found),
		zap.String("role", p.Posture.Role))
	p.isSetUp = true
	p.setUp.Store(true)
	return nil
}

// pgStagingDDL creates the session's staging table, which COPY fills and
// every transaction's end empties: the columns of pgColumns, untyped
// text but for seq (bigint) and prev, mac and payload (bytea).
var pgStagingDDL = func() string {
	cols := make([]string, len(pgColumns))
	for i, c := range pgColumns {
		typ := "text"
		switch c {
		case "seq":
			typ = "bigint"
		case "prev", "mac", "payload":
			typ = "bytea"
		}
		cols[i] = sqlIdent(c) + " " + typ
	}
	return `CREATE TEMP TABLE IF NOT EXISTS audit_staging (` + strings.Join(cols, ", ") + `) ON COMMIT DELETE ROWS`
}()

// pgInsertOne inserts one row, for writeEach.
var pgInsertOne = func() string {
	ph := make([]string, len(pgColumns))
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	return `INSERT INTO audit_records (` + rowColumns + `) VALUES (` + strings.Join(ph, ", ") + `) ON CONFLICT DO NOTHING`
}()

// checkPosture reads what the role may do to audit rows and logs it.
func (p *Postgres) checkPosture(ctx context.Context) error {
	var super, owner, upd, del, trunc, exec, purge bool
	err := p.pool.QueryRow(ctx, `SELECT current_user::text, r.rolsuper,
			pg_has_role(current_user, c.relowner, 'USAGE'),
			has_table_privilege('audit_records', 'UPDATE'),
			has_table_privilege('audit_records', 'DELETE'),
			has_table_privilege('audit_records', 'TRUNCATE'),
			has_function_privilege('audit_ensure_partitions(date, int)', 'EXECUTE'),
			has_function_privilege('audit_drop_purged_partitions(text)', 'EXECUTE')
		FROM pg_roles r, pg_class c
		WHERE r.rolname = current_user AND c.oid = 'audit_records'::regclass`).
		Scan(&p.Posture.Role, &super, &owner, &upd, &del, &trunc, &exec, &purge)
	if err != nil {
		return fmt.Errorf("check role privileges: %w", err)
	}
	for _, c := range []struct {
		name string
		on   bool
	}{{"superuser", super}, {"owner", owner}, {"UPDATE", upd}, {"DELETE", del}, {"TRUNCATE", trunc}} {
		if c.on {
			p.Posture.CanAlter = append(p.Posture.CanAlter, c.name)
		}
	}
	p.Posture.CanCreatePartitions = exec
	p.Posture.CanPurge = purge
	if len(p.Posture.CanAlter) > 0 {
		p.logger.Warn("postgres role can alter or remove audit rows; only the triggers stop it and it may drop them: connect as the writer role of docs/postgres.md",
			zap.String("role", p.Posture.Role), zap.Strings("can", p.Posture.CanAlter))
	} else {
		p.logger.Info("postgres role cannot alter audit rows: append-only is enforced by privileges and triggers",
			zap.String("role", p.Posture.Role))
	}
	if !exec {
		p.logger.Warn("postgres role may not execute audit_ensure_partitions; new months go to the default partition until it is granted",
			zap.String("role", p.Posture.Role))
	}
	return nil
}

// ensurePartitions creates the partitions of now's month and the next
// ones if missing. Failure is logged, not returned: rows still land in an
// existing or the default partition.
func (p *Postgres) ensurePartitions(ctx context.Context, now time.Time) {
	month := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	if !p.Posture.CanCreatePartitions {
		return
	}
	var created int
	err := p.pool.QueryRow(ctx, `SELECT audit_ensure_partitions($1::date, $2)`, month, pgPartitionsAhead).Scan(&created)
	if err != nil {
		p.logger.Warn("postgres partitions not created; rows go to the default partition", zap.Error(pgSafeErr(err)))
		return
	}
	if created > 0 {
		p.logger.Info("postgres partitions created", zap.Int("created", created), zap.String("from", month.Format("2006-01")))
	}
	p.mu.Lock()
	p.covered = month.AddDate(0, pgPartitionsAhead, 0).Format("2006-01")
	p.mu.Unlock()
}

// keepPartitions creates the coming months' partitions in time, until ctx
// ends. It runs apart from the writes: creating a partition waits for the
// open write transactions, and a write must never wait for it (see
// pgLockTimeout).
func (p *Postgres) keepPartitions(ctx context.Context) {
	defer close(p.loopDone)
	every := p.opts.PartitionCheck
	if every <= 0 {
		every = 10 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.setUp.Load() { // else the setup creates them
			p.maybeEnsurePartitions(ctx)
		}
	}
}

// maybeEnsurePartitions creates partitions when now is within a month of
// the last one created.
func (p *Postgres) maybeEnsurePartitions(ctx context.Context) {
	now := p.opts.Now()
	next := now.UTC().AddDate(0, 0, 31).Format("2006-01")
	p.mu.Lock()
	due := p.covered != "" && next >= p.covered
	p.mu.Unlock()
	if due {
		p.ensurePartitions(ctx, now)
	}
}

// Write stores batch in one transaction: all of it or, on error, none,
// except that records the database rejects for a reason retrying cannot
// fix are moved to the quarantine table in the same transaction (and
// reported through OnQuarantine) so they never block the rest. Records
// already stored identically are skipped; a record whose (chain, seq) is
// stored with a different payload or MAC fails the batch with a
// *RecordError wrapping ErrConflict. Each chain of the batch is locked
// while the transaction checks its positions and commits, so two writers
// of one chain (a misconfiguration) cannot both store different records at
// one position. Write is Prepare then Commit.
func (p *Postgres) Write(ctx context.Context, batch []record.Sealed) error {
	b, err := p.Prepare(ctx, batch)
	if err != nil {
		return err
	}
	return b.Commit(ctx)
}

// pgInFlight is how many prepared batches a deliverer keeps: while one
// commits, the next one's COPY runs in another session, so the index work
// of two batches proceeds on two server cores.
const pgInFlight = 2

// InFlight implements Pipeliner: one batch at a time when the DSN allows
// the sidecar a single connection.
func (p *Postgres) InFlight() int { return min(pgInFlight, int(p.pool.Config().MaxConns)) }

// pgLockTimeout bounds every lock wait of a write transaction. A deliverer
// commits its prepared batches in order, a dependency the server cannot
// see: were an earlier batch's transaction to wait for a lock queued
// behind a later one's (another session's DROP or LOCK TABLE waiting for
// the later transaction), neither could end. The wait fails instead, the
// deliverer aborts the later batches and retries.
const pgLockTimeout = "5s"

// Prepare implements Pipeliner. It stores batch in a new transaction and
// leaves it open; the returned Prepared's Commit locks the batch's chains,
// checks that no position is stored twice and commits. A batch holding a
// record the database rejects for good is rolled back here and stored one
// record at a time by Commit (see Write).
func (p *Postgres) Prepare(ctx context.Context, batch []record.Sealed) (Prepared, error) {
	if len(batch) == 0 {
		return pgPrepared{}, ctx.Err()
	}
	rows, err := rowsOf(batch)
	if err != nil {
		return nil, err
	}
	if err := p.setup(ctx); err != nil {
		return nil, err
	}
	tx, err := p.prepareBatch(ctx, rows)
	if err == nil {
		return pgPrepared{p: p, tx: tx, rows: rows}, nil
	}
	if !isPoison(err) {
		return nil, err
	}
	return pgPrepared{p: p, rows: rows, poison: true}, nil
}

// pgPrepared is a batch in an open transaction, or (poison) a batch that
// Commit stores record by record.
type pgPrepared struct {
	p      *Postgres
	tx     pgx.Tx
	rows   []Row
	poison bool
}

// Commit implements Prepared.
func (b pgPrepared) Commit(ctx context.Context) error {
	switch {
	case b.poison:
		return b.p.writeQuarantining(ctx, b.rows)
	case b.tx == nil: // an empty batch
		return ctx.Err()
	}
	defer b.tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if err := lockChains(ctx, b.tx, b.rows); err != nil {
		return err
	}
	if err := checkNoFork(ctx, b.tx, b.rows); err != nil {
		return b.p.maybeConflict(err)
	}
	if err := b.tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres write: commit: %w", pgSafeErr(err))
	}
	return nil
}

// Abort implements Prepared.
func (b pgPrepared) Abort() {
	if b.tx == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgConnectTimeout)
	defer cancel()
	b.tx.Rollback(ctx) //nolint:errcheck // a broken connection is discarded by the pool
}

// writeQuarantining stores rows, one of which the database rejects for
// good, record by record, and reports what it moved to quarantine.
func (p *Postgres) writeQuarantining(ctx context.Context, rows []Row) error {
	quarantined, err := p.writeEach(ctx, rows)
	if err != nil {
		return err
	}
	for _, q := range quarantined {
		p.logger.Error("postgres rejected a record that retrying cannot fix; it is kept in audit_quarantine",
			zap.String("chain", q.chain), zap.Uint64("seq", q.seq), zap.String("reason", q.reason))
		if p.opts.OnQuarantine != nil {
			p.opts.OnQuarantine(q.chain, q.seq, q.reason)
		}
	}
	return nil
}

// pgMaxBatch is the most records one Write carries when records are
// waiting (a backlog, a replay after an outage). Each transaction costs a
// commit flush and the per-chain lock and head reads: BenchmarkPostgres_Write
// with every index measured 43 000 records/s in batches of 1000, 47 000 in
// 2000, 50 000 in 5000 and 51 000 in 10 000. But a deliverer holds
// pgInFlight batches and the one it reads, each record twice (as read
// from the spool, and as the rows of its COPY): with 5000 the sidecar
// peaked at 98-101 MiB RSS on the bench workload, with 2000 at 67-70,
// with 1000 at 64-66, at the same end-to-end rate (bench/rss.sh with
// TARGET=pgsql, runs alternated). The sidecar's memory is paid in every
// pod; the sink's rate, only while a backlog drains.
const pgMaxBatch = 1000

// MaxBatch implements Batcher.
func (p *Postgres) MaxBatch() int { return pgMaxBatch }

// prepareBatch stores rows in a new transaction and returns it open. It
// reads each chain's highest stored seq (one index descent per
// partition). When every record is beyond it, which is every delivery but
// a replay, the batch is new: COPY writes it straight into audit_records.
// Otherwise the batch overlaps what is stored, and goes through the
// session's staging table and INSERT … SELECT … ON CONFLICT DO NOTHING,
// then every skipped record is compared with the stored one. No chain
// lock is held yet: a concurrent writer of the same positions is caught by
// the unique key (same ingested_at) or by checkNoFork under the lock at
// commit (another ingested_at).
func (p *Postgres) prepareBatch(ctx context.Context, rows []Row) (pgx.Tx, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres write: begin: %w", pgSafeErr(err))
	}
	ok := false
	defer func() {
		if !ok {
			tx.Rollback(ctx) //nolint:errcheck // the error is returned
		}
	}()
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+pgLockTimeout+`'`); err != nil {
		return nil, fmt.Errorf("postgres write: %w", pgSafeErr(err))
	}
	fresh, err := allBeyondStored(ctx, tx, rows)
	if err != nil {
		return nil, err
	}
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		return rowArgs(make([]any, 0, len(pgColumns)), &rows[i]), nil
	})
	if fresh {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_records"}, pgColumns, src); err != nil {
			return nil, fmt.Errorf("postgres write: copy: %w", pgSafeErr(err))
		}
	} else if err := p.insertOverlapping(ctx, tx, rows, src); err != nil {
		return nil, err
	}
	ok = true
	return tx, nil
}

// allBeyondStored reports whether, for every chain in rows, the rows' seqs
// strictly increase and the first is beyond the chain's highest stored
// seq.
func allBeyondStored(ctx context.Context, tx pgx.Tx, rows []Row) (bool, error) {
	last := map[string]uint64{}
	for i := range rows {
		r := &rows[i]
		prev, seen := last[r.Chain]
		if seen && r.Seq <= prev {
			return false, nil
		}
		if !seen {
			var stored int64
			err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM audit_records WHERE chain = $1`, r.Chain).Scan(&stored)
			if err != nil {
				return false, fmt.Errorf("postgres write: read chain head: %w", pgSafeErr(err))
			}
			if r.Seq <= uint64(stored) {
				return false, nil
			}
		}
		last[r.Chain] = r.Seq
	}
	return true, nil
}

// insertOverlapping stores the rows of a batch that overlaps stored
// records: a replay after a lost acknowledgement, or after a crash between
// the sink's commit and the spool's cursor update.
func (p *Postgres) insertOverlapping(ctx context.Context, tx pgx.Tx, rows []Row, src pgx.CopyFromSource) error {
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_staging"}, pgColumns, src); err != nil {
		return fmt.Errorf("postgres write: copy: %w", pgSafeErr(err))
	}
	tag, err := tx.Exec(ctx, `INSERT INTO audit_records SELECT * FROM audit_staging ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("postgres write: insert: %w", pgSafeErr(err))
	}
	if int(tag.RowsAffected()) < len(rows) {
		var chain string
		var seq int64
		err := tx.QueryRow(ctx, `SELECT s.chain, s.seq FROM audit_staging s
			WHERE NOT EXISTS (SELECT 1 FROM audit_records a
				WHERE a.chain = s.chain AND a.seq = s.seq AND a.ingested_at = s.ingested_at
				AND a.mac = s.mac AND a.payload = s.payload)
			LIMIT 1`).Scan(&chain, &seq)
		if err == nil {
			return p.conflict(chain, uint64(seq))
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres write: compare stored: %w", pgSafeErr(err))
		}
	}
	return nil
}

type quarantined struct {
	chain  string
	seq    uint64
	reason string
}

// writeEach stores rows one by one, each under a savepoint, and moves the
// ones the database rejects for good to audit_quarantine.
func (p *Postgres) writeEach(ctx context.Context, rows []Row) ([]quarantined, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres write: begin: %w", pgSafeErr(err))
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if err := lockChains(ctx, tx, rows); err != nil {
		return nil, err
	}
	var out []quarantined
	for i := range rows {
		r := &rows[i]
		sp, err := tx.Begin(ctx) // a savepoint
		if err != nil {
			return nil, fmt.Errorf("postgres write: savepoint: %w", pgSafeErr(err))
		}
		tag, err := sp.Exec(ctx, pgInsertOne, rowArgs(make([]any, 0, len(pgColumns)), r)...)
		if err != nil {
			sp.Rollback(ctx) //nolint:errcheck // the transaction reports it next
			if !isPoison(err) {
				return nil, fmt.Errorf("postgres write: chain %q seq %d: %w", r.Chain, r.Seq, pgSafeErr(err))
			}
			reason := pgReason(err)
			qtag, qerr := tx.Exec(ctx, `INSERT INTO audit_quarantine (chain, seq, mac, payload, sqlstate, reason)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
				r.Chain, int64(r.Seq), r.MAC, r.Payload, pgCode(err), reason)
			if qerr != nil {
				return nil, fmt.Errorf("postgres write: quarantine chain %q seq %d: %w", r.Chain, r.Seq, pgSafeErr(qerr))
			}
			if qtag.RowsAffected() == 1 { // not a replay
				out = append(out, quarantined{r.Chain, r.Seq, reason})
			}
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return nil, fmt.Errorf("postgres write: release savepoint: %w", pgSafeErr(err))
		}
		if tag.RowsAffected() == 0 {
			var same bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_records WHERE chain = $1 AND seq = $2
				AND ingested_at = $3 AND mac = $4 AND payload = $5)`,
				r.Chain, int64(r.Seq), r.IngestedAt, r.MAC, r.Payload).Scan(&same)
			if err != nil {
				return nil, fmt.Errorf("postgres write: compare stored: %w", pgSafeErr(err))
			}
			if !same {
				return nil, p.conflict(r.Chain, r.Seq)
			}
		}
	}
	if err := checkNoFork(ctx, tx, rows); err != nil {
		return nil, p.maybeConflict(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres write: commit: %w", pgSafeErr(err))
	}
	return out, nil
}

// lockChains takes the transaction-scoped advisory lock of every chain in
// rows, in a fixed order so two writers cannot deadlock.
func lockChains(ctx context.Context, tx pgx.Tx, rows []Row) error {
	var chains []string
	for i := range rows {
		if len(chains) == 0 || chains[len(chains)-1] != rows[i].Chain {
			chains = append(chains, rows[i].Chain)
		}
	}
	slices.Sort(chains)
	chains = slices.Compact(chains)
	for _, c := range chains {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, $2))`, c, int64(pgChainLockSeed)); err != nil {
			return fmt.Errorf("postgres write: lock chain %q: %w", c, pgSafeErr(err))
		}
	}
	return nil
}

// checkNoFork fails with a *RecordError if any (chain, seq) of rows is now
// stored more than once: the unique key includes ingested_at (the
// partition key), so a different record at a stored position with another
// ingested_at is not stopped by it. It reads one index range per chain.
func checkNoFork(ctx context.Context, tx pgx.Tx, rows []Row) error {
	type span struct{ lo, hi uint64 }
	spans := map[string]span{}
	for i := range rows {
		s, ok := spans[rows[i].Chain]
		if !ok {
			s = span{rows[i].Seq, rows[i].Seq}
		}
		s.lo, s.hi = min(s.lo, rows[i].Seq), max(s.hi, rows[i].Seq)
		spans[rows[i].Chain] = s
	}
	for c, s := range spans {
		var seq int64
		err := tx.QueryRow(ctx, `SELECT seq FROM audit_records WHERE chain = $1 AND seq BETWEEN $2 AND $3
			GROUP BY seq HAVING count(*) > 1 LIMIT 1`, c, int64(s.lo), int64(s.hi)).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("postgres write: check positions: %w", pgSafeErr(err))
		}
		return &RecordError{Chain: c, Seq: uint64(seq), Reason: "stored with another ingested_at", Err: ErrConflict}
	}
	return nil
}

func (p *Postgres) conflict(chain string, seq uint64) error {
	return p.maybeConflict(&RecordError{Chain: chain, Seq: seq, Err: ErrConflict})
}

func (p *Postgres) maybeConflict(err error) error {
	var re *RecordError
	if errors.As(err, &re) && errors.Is(err, ErrConflict) {
		p.logger.Error("postgres conflicting record", zap.String("chain", re.Chain), zap.Uint64("seq", re.Seq))
	}
	return err
}

// isPoison reports whether err is the server rejecting data: retrying the
// same record will fail the same way. Class 22 is data exceptions (a NUL
// character in text, a value out of range), 23 integrity constraints
// (a CHECK), 54 program limits (an index entry over the page limit).
// Connection loss, timeouts, privileges and missing objects are not
// poison: they are retried until an operator or the network fixes them.
func isPoison(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return pe.Code != "23505" // a unique violation is a conflict, not bad data
	}
	return false
}

// pgTransient reports whether err may pass without anyone changing the
// configuration or the database: no answer from the server (network,
// timeout), or a server that answers but cannot serve yet — class 08
// (connection exception), 53 (insufficient resources: too many
// connections, disk full), 57 (operator intervention: starting up, in
// recovery, shutting down), 58 (system error), 40 (transaction rollback).
// Authentication, a missing database, privileges and a newer schema are
// not transient.
func pgTransient(err error) bool {
	if errors.Is(err, ErrSchemaVersion) {
		return false
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true
	}
	switch pe.Code[:2] {
	case "08", "53", "57", "58", "40":
		return true
	}
	return false
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// pgReason is the SQLSTATE and the server's message of err. The message
// names constraints and limits; the DETAIL, which may quote row values,
// is left out.
func pgReason(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code + " " + pe.Message
	}
	return "not a server error"
}

// pgSafeErr returns err without any server DETAIL (which may quote row
// values) and without connection-string text.
func pgSafeErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &pgError{code: pe.Code, msg: pe.Message, err: err}
	}
	return err
}

// pgError is a server error reduced to its code and message.
type pgError struct {
	code, msg string
	err       error
}

func (e *pgError) Error() string { return e.msg + " (SQLSTATE " + e.code + ")" }
func (e *pgError) Unwrap() error { return e.err }

// Purge drops the monthly partitions, of months before p.Cutoff's, in
// which every chain's records are covered by that chain's retention_purge
// records (see audit_drop_purged_partitions). It never deletes single
// rows: records of p.Chain through p.Through that share a partition with
// records not yet purged stay until a later purge covers the partition.
// A role that may not execute the function gets an error naming it.
func (p *Postgres) Purge(ctx context.Context, pg Purge) error {
	if err := p.setup(ctx); err != nil {
		return err
	}
	rows, err := p.pool.Query(ctx, `SELECT audit_drop_purged_partitions($1)`, pg.Cutoff.UTC().Format("2006-01"))
	if err != nil {
		return fmt.Errorf("postgres purge: %w", pgSafeErr(err))
	}
	dropped, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres purge: %w", pgSafeErr(err))
	}
	p.logger.Info("postgres retention purge", zap.String("chain", pg.Chain), zap.Uint64("through_seq", pg.Through),
		zap.Strings("partitions_dropped", dropped))
	return nil
}

// Close stops the partition upkeep and closes the pool.
func (p *Postgres) Close() error {
	p.stop()
	<-p.loopDone
	if p.rpool != p.pool {
		p.rpool.Close()
	}
	p.pool.Close()
	return nil
}

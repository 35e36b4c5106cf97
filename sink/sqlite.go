package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers driver "sqlite"

	"github.com/fips-agents/audit-sidecar/record"
)

const (
	// sqliteBusyTimeout is how long a statement waits for another
	// connection's lock (a checkpoint, another process) before failing.
	sqliteBusyTimeout = 10 * time.Second
	// sqliteMaxConns bounds each pool: the writer's (one writer at a time,
	// as SQLite allows, plus the reads of the write path) and the queries'
	// (see SQLite.rdb).
	sqliteMaxConns = 4
)

var (
	// sqliteConnIdle closes a pool's connection unused this long: each
	// holds its own page cache (cache_size: 2 000 KiB, about 4 MiB of
	// the process's memory with the allocator's overhead), which a sidecar
	// whose agent went quiet has no use for. Measured on the bench workload
	// (200 000 events, then quiet): 62 MiB resident a minute and a half
	// later without it, 46 with it; the next write or query opens a
	// connection again (its pragmas, well under a millisecond).
	sqliteConnIdle = 30 * time.Second
)

// SQLite is a Sink that stores records in one SQLite database file. It
// also answers queries (Search) and streams chains for verification (Chains,
// Scan). All methods are safe for concurrent use; writes are serialised by
// SQLite. A file deleted or replaced while open is found by CheckStore,
// which Write calls first.
type SQLite struct {
	path   string // as configured, for messages
	abs    string
	logger *zap.Logger

	mu sync.RWMutex
	db *sql.DB // nil while a replaced file could not be reopened
	// hold is a connection of db kept open as long as db is (nil for a
	// store opened read-only): the pool closes its other connections
	// once idle (sqliteConnIdle), and this one keeps the file it opened
	// open, so that a file deleted or moved while the sink is quiet is
	// still the one CheckStore checkpoints and closes. SQLite neither
	// checkpoints nor deletes the -wal when the last connection of a
	// moved or deleted file closes: the records still in the -wal would
	// be missing from the moved file, and the -wal left at the path taken
	// by the next store opened there.
	hold *sql.Conn
	// rdb is the pool of the queries (Search, SearchEach, Chains, Scan):
	// read-only connections of their own (see openReadOnly), so that no
	// number of queries, however slow, takes a connection the writer
	// needs; in WAL mode readers and the writer do not block each other.
	// It is db itself for a store opened read-only, and nil when db is.
	rdb    *sql.DB
	opened os.FileInfo // the file at abs when db was opened
	// readOnly: opened by OpenSQLiteReadOnly; writes fail, and opened is
	// set only for an immutable open (see Unchanged).
	readOnly bool
	// opts are the options of OpenSQLiteWith, applied again when a
	// replaced file is reopened; indexed is the SQL of the store they
	// give (the query indexes it has).
	opts    SQLiteOptions
	indexed dialect
	// ckpt checkpoints the WAL of a store opened to write (see
	// sqlite_checkpoint.go); nil for one opened read-only.
	ckpt *checkpointer
	// closed is set by Close (under mu): the store is used no more, and
	// CheckStore opens none at the path, which nothing would close and
	// no checkpointer would checkpoint.
	closed bool
}

// SQLiteOptions are the options of a SQLite store opened to write.
type SQLiteOptions struct {
	// QueryIndexes names the query indexes the store keeps (see
	// QueryIndexes: "user", "session"); the others are dropped.
	QueryIndexes []string
}

var _ Sink = (*SQLite)(nil)

// OpenSQLite opens the database at path, creating the file (mode 0600) and
// its folder if missing, and creates or checks the schema. A nil logger
// logs nothing. The store keeps no query index (see OpenSQLiteWith).
func OpenSQLite(path string, logger *zap.Logger) (*SQLite, error) {
	return OpenSQLiteWith(path, logger, SQLiteOptions{})
}

// OpenSQLiteWith is OpenSQLite with options.
func OpenSQLiteWith(path string, logger *zap.Logger, opts SQLiteOptions) (*SQLite, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	db, hold, rdb, opened, err := openStore(abs, path, logger, opts)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	s := &SQLite{db: db, hold: hold, rdb: rdb, path: path, abs: abs, logger: logger, opened: opened,
		opts: opts, indexed: sqliteDialectIndexed(slices.Contains(opts.QueryIndexes, "user"), slices.Contains(opts.QueryIndexes, "session"))}
	s.startCheckpointer()
	return s, nil
}

// openStore opens the database at abs as OpenSQLite says, and returns it,
// the connection of it kept open (SQLite.hold), the queries' read-only
// pool of it (SQLite.rdb), and the identity of the file it opened (see
// CheckStore).
func openStore(abs, path string, logger *zap.Logger, opts SQLiteOptions) (db *sql.DB, hold *sql.Conn, rdb *sql.DB, opened os.FileInfo, err error) {
	db, hold, opened, err = openWriter(abs, path, logger)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	closeWriter := func() {
		hold.Close()
		db.Close()
	}
	if err := applyQueryIndexes(context.Background(), db, opts.QueryIndexes, logger); err != nil {
		closeWriter()
		return nil, nil, nil, nil, err
	}
	// The file exists, in WAL mode, with its schema: the readers open it
	// read-only (mode=ro, query_only), so that one opened after the file
	// was removed fails rather than creating an empty database.
	if rdb, err = openReadOnly(abs, false); err != nil {
		closeWriter()
		return nil, nil, nil, nil, err
	}
	return db, hold, rdb, opened, nil
}

// openWriter opens the database at abs for writing, as OpenSQLite says.
func openWriter(abs, path string, logger *zap.Logger) (*sql.DB, *sql.Conn, os.FileInfo, error) {
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, nil, nil, err
	}
	// SQLite would create the file world-readable under the usual umask;
	// its -wal and -shm files take this file's mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := f.Close(); err != nil {
		return nil, nil, nil, err
	}
	db, err := sql.Open("sqlite", sqliteDSN(abs))
	if err != nil {
		return nil, nil, nil, err
	}
	// One connection more than sqliteMaxConns: hold, below.
	db.SetMaxOpenConns(sqliteMaxConns + 1)
	db.SetMaxIdleConns(sqliteMaxConns)
	db.SetConnMaxIdleTime(sqliteConnIdle)
	ctx := context.Background()
	if err := setPageSize(ctx, db, logger); err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	if err := checkPragmas(ctx, db); err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	found, err := migrate(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	// hold keeps the file open from here on (see SQLite.hold), so the
	// file at the path now is the one open.
	hold, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	opened, err := os.Stat(abs)
	if err != nil {
		hold.Close()
		db.Close()
		return nil, nil, nil, err
	}
	logger.Info("sqlite sink open", zap.String("path", path),
		zap.Int("schema_version", schemaVersion), zap.Int("found_version", found))
	return db, hold, opened, nil
}

// sqliteDSN builds the driver's URI for an absolute path. The pragmas run
// on every new connection because busy_timeout and synchronous are
// per-connection settings. synchronous=FULL fsyncs the WAL on every commit,
// so a committed batch survives a power cut (NORMAL would only survive a
// process crash). _txlock=immediate takes the write lock at BEGIN, so two
// writers queue on busy_timeout instead of one failing on lock upgrade.
// mode=rw: openStore creates the file; a connection the pool opens later
// fails on a deleted file instead of creating an empty database at the
// path (CheckStore finds the deletion and opens a store there).
func sqliteDSN(abs string) string {
	q := []string{
		"mode=rw",
		fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_pragma=wal_autocheckpoint(0)", // the checkpointer's (sqlite_checkpoint.go)
		"_pragma=temp_store(MEMORY)",    // statement journals (triggers, ON CONFLICT) stay off disk
		"_txlock=immediate",
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: strings.Join(q, "&")}
	return u.String()
}

// sqlitePageSize is the page size of a database the sink creates. Audit
// rows are about a kilobyte and are appended in batches: with 16 KiB pages
// a commit writes a quarter of the WAL frames it would with SQLite's 4 KiB
// default (each a write call, and each copied again by the checkpoint),
// rows pack with less waste, and the end-to-end benchmark measured 9% less
// CPU and 9% more records per second.
const sqlitePageSize = 16384

// setPageSize gives a database that holds no schema yet (a new file, or
// one created empty in WAL mode by an operator) sqlitePageSize pages. A
// WAL database keeps its page size, so the change leaves WAL for the
// rollback journal, VACUUMs the empty file and returns to WAL, all on one
// connection. Leaving WAL needs every other connection closed, and SQLite
// reports a reader of another process (a monitoring poll) as busy at once
// rather than waiting: the change is tried again for up to
// pageSizeTries × pageSizeWait, and if it still cannot be made (busy, or
// anything else), the database keeps its page size and a warning says so:
// the page size is worth a retry, not a refusal to start. A database with a
// schema keeps its page size.
func setPageSize(ctx context.Context, db *sql.DB, logger *zap.Logger) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var objects, size int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&objects); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if err := conn.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size); err != nil {
		return fmt.Errorf("read page_size: %w", err)
	}
	if objects > 0 || size == sqlitePageSize {
		return nil
	}
	for try := 1; ; try++ {
		err = changePageSize(ctx, conn)
		if err == nil || try == pageSizeTries {
			break
		}
		select {
		case <-time.After(pageSizeWait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		// Back to WAL in any case; checkPragmas fails if that did not take.
		_, _ = conn.ExecContext(ctx, `PRAGMA journal_mode = WAL`)
		logger.Warn("sqlite new database keeps its page size", zap.Int("page_size", size),
			zap.Int("wanted", sqlitePageSize), zap.Error(err))
	}
	return nil
}

const (
	pageSizeTries = 50
	pageSizeWait  = 20 * time.Millisecond
)

// changePageSize makes the page size change on conn; see setPageSize.
func changePageSize(ctx context.Context, conn *sql.Conn) error {
	for _, stmt := range []string{
		`PRAGMA journal_mode = DELETE`,
		fmt.Sprintf(`PRAGMA page_size = %d`, sqlitePageSize), // a constant
		`VACUUM`,
		`PRAGMA journal_mode = WAL`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	var size int
	if err := conn.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size); err != nil {
		return fmt.Errorf("read page_size: %w", err)
	}
	if size != sqlitePageSize {
		return fmt.Errorf("page_size is %d after the change", size)
	}
	return nil
}

// checkPragmas fails if the settings the durability claims rest on did not
// take: WAL cannot be enabled on some file systems (no shared memory), and
// SQLite then silently keeps the rollback journal.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var mode string
	var sync int
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if err := conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	if sync != 2 { // FULL
		return fmt.Errorf("synchronous is %d, want 2 (FULL)", sync)
	}
	return nil
}

// insertSQL inserts one row. One statement per row, not many: a
// statement that writes several rows and may abort half way (the table's
// CHECKs call length()) makes SQLite keep a statement journal, a copy of
// every page the statement touches before it touches it (16 KiB each,
// in 1 KiB chunks from its allocator). With 64 rows per statement that
// journal cost about 15% of the end-to-end CPU; a one-row statement
// needs none (BenchmarkEndToEnd/sqlite: 13.5k -> 16.4k events/s, and
// 18.8k with the rows run under a context the driver does not watch).
var insertSQL = `INSERT INTO audit_records (` + rowColumns + `) VALUES (?` +
	strings.Repeat(",?", len(pgColumns)-1) + `) ON CONFLICT (chain, seq) DO NOTHING`

// cancelCheck is how many rows insert writes between looks at its
// context: the rows themselves run without one (see insert).
const cancelCheck = 64

// Write stores batch in one transaction: all of it or, on error, none.
// Records already stored identically are skipped, so replays and
// overlapping batches are harmless. A record whose (chain, seq) is stored
// with a different payload or MAC fails the batch with a *RecordError
// wrapping ErrConflict; one whose payload does not decode, with one
// wrapping ErrBadRecord. Both name chain and seq and no payload content.
func (s *SQLite) Write(ctx context.Context, batch []record.Sealed) error {
	if s.readOnly {
		return s.errReadOnly()
	}
	if len(batch) == 0 {
		return ctx.Err()
	}
	// Decode everything before taking the write lock.
	rows, err := rowsOf(batch)
	if err != nil {
		return err
	}
	if err := s.CheckStore(); err != nil {
		return err
	}
	db, release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite write: %w", err)
	}
	defer conn.Close()
	s.restartWAL(ctx, conn)
	if err := conn.Raw(func(dc any) error { return s.insert(ctx, dc, rows) }); err != nil {
		return err
	}
	// A commit writes pages besides its payload's (the table's last, each
	// index's, the header's), several even for one small record: it
	// counts a page more than its payload, so that a run of small
	// batches kicks the checkpointer too, before the WAL holds thousands
	// of frames for a few megabytes of records.
	n := sqlitePageSize
	for i := range rows {
		n += len(rows[i].Payload)
	}
	s.committed(n)
	return nil
}

// purgeChunk is how many rows one purge transaction deletes, so a large
// purge does not hold the write lock or grow the WAL for long.
const purgeChunk = 10000

// Purge deletes the records 1..p.Through of p.Chain, in chunks, each chunk
// in a transaction that holds a guard naming the chain's stored
// retention_purge record at p.Seq (see the schema's delete trigger).
func (s *SQLite) Purge(ctx context.Context, p Purge) error {
	if s.readOnly {
		return s.errReadOnly()
	}
	if p.Through == 0 || p.Through >= p.Seq || p.Seq > math.MaxInt64 {
		return fmt.Errorf("sqlite purge: through %d and record %d out of range", p.Through, p.Seq)
	}
	total := int64(0)
	for {
		n, err := s.purgeChunk(ctx, p)
		if err != nil {
			return fmt.Errorf("sqlite purge chain %q through %d: %w", p.Chain, p.Through, err)
		}
		total += n
		if n < purgeChunk {
			s.logger.Info("sqlite retention purge", zap.String("chain", p.Chain), zap.Uint64("through_seq", p.Through), zap.Int64("rows", total))
			return nil
		}
	}
}

func (s *SQLite) purgeChunk(ctx context.Context, p Purge) (int64, error) {
	db, release, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer release()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_purge_guard (chain, through_seq, purge_seq) VALUES (?, ?, ?)`,
		p.Chain, int64(p.Through), int64(p.Seq)); err != nil {
		return 0, err
	}
	// The positions of the chunk's rows in audit_trace_index go with them.
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_trace_index WHERE (t_trace, t_ts, t_chain, t_seq) IN (
		SELECT trace, ts, chain, seq FROM audit_records WHERE rowid IN (
			SELECT rowid FROM audit_records WHERE chain = ? AND seq <= ? ORDER BY seq LIMIT ?))`,
		p.Chain, int64(p.Through), purgeChunk); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM audit_records WHERE rowid IN (
		SELECT rowid FROM audit_records WHERE chain = ? AND seq <= ? ORDER BY seq LIMIT ?)`,
		p.Chain, int64(p.Through), purgeChunk)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	// A chain's records may be stored after its retention_purge record
	// (a gap filled later), so the chunk may hold the table's newest rows:
	// SQLite would then give the next rows rowids at or below the trace
	// table's watermark, listed nowhere. The watermark comes down to the
	// newest row kept (every row up to it is listed).
	if _, err := tx.ExecContext(ctx, `UPDATE audit_trace_indexed
		SET through = (SELECT coalesce(max(rowid), 0) FROM audit_records)
		WHERE through > (SELECT coalesce(max(rowid), 0) FROM audit_records)`); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_purge_guard`); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	s.committed(checkpointEvery) // a chunk's deletes: a checkpoint's worth
	return n, nil
}

// Close closes the database. The last connection to close checkpoints the
// WAL into the main file: the queries' pool closes first.
func (s *SQLite) Close() error {
	s.stopCheckpointer()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.db == nil {
		return nil
	}
	if s.hold != nil {
		s.hold.Close()
		s.hold = nil
	}
	if s.rdb != nil && s.rdb != s.db {
		if err := s.rdb.Close(); err != nil {
			s.db.Close()
			return fmt.Errorf("close sqlite %q: %w", s.path, err)
		}
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close sqlite %q: %w", s.path, err)
	}
	return nil
}

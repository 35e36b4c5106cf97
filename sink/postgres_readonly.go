package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// OpenPostgresReadOnly connects to dsn for reading only, as verify and
// export need: evidence is read, never changed. Unlike OpenPostgres it
// runs no migration, creates no partition and no temporary table, and
// every transaction of its sessions is read-only
// (default_transaction_read_only, whatever the DSN says), so the server
// refuses any write or DDL. The store's Chains, Scan, ChainTail, Search
// and SearchEach work as usual; Write and Purge fail. A server that
// cannot be reached fails the open. A database without the audit_records
// table, or whose table lacks a column the store reads, returns a
// *NotAStoreError; one without audit_quarantine (an older schema) is read
// without it. Errors never quote the DSN.
func OpenPostgresReadOnly(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("open postgres: dsn does not parse")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = pgMaxConns
	}
	for k, v := range map[string]string{"plan_cache_mode": "force_custom_plan", "jit": "off"} {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", pgSafeErr(err))
	}
	done := make(chan struct{})
	close(done)
	nop := zap.NewNop()
	p := &Postgres{pool: pool, rpool: pool, opts: PostgresOptions{Logger: nop, Now: time.Now}, logger: nop,
		connCfg: cfg.ConnConfig, loopDone: done, stop: func() {}, readOnly: true}
	if err := p.checkReadableSchema(ctx); err != nil {
		pool.Close()
		if errors.Is(err, ErrNotAStore) {
			return nil, err
		}
		return nil, fmt.Errorf("open postgres read-only: %w", pgSafeErr(err))
	}
	return p, nil
}

// checkReadableSchema checks that the database holds audit_records with
// every column the store reads, and whether it holds audit_quarantine.
// The schema version is not consulted (see OpenPostgresReadOnly).
func (p *Postgres) checkReadableSchema(ctx context.Context) error {
	var records, quarantine bool
	if err := p.pool.QueryRow(ctx, `SELECT to_regclass('audit_records') IS NOT NULL, to_regclass('audit_quarantine') IS NOT NULL`).
		Scan(&records, &quarantine); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if !records {
		return &NotAStoreError{Reason: "it has no audit_records table", Empty: true}
	}
	cols := func(table string) (map[string]bool, error) {
		rows, err := p.pool.Query(ctx, `SELECT attname::text FROM pg_attribute
			WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, table)
		if err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		defer rows.Close()
		have := map[string]bool{}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				return nil, fmt.Errorf("read schema: %w", err)
			}
			have[c] = true
		}
		return have, rows.Err()
	}
	have, err := cols("audit_records")
	if err != nil {
		return err
	}
	if err := missingColumns(have); err != nil {
		return err
	}
	if quarantine {
		q, err := cols("audit_quarantine")
		if err != nil {
			return err
		}
		quarantine = q["chain"] && q["seq"] && q["mac"] && q["payload"]
	}
	p.noQuarantine = !quarantine
	return nil
}

package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/fips-agents/audit-sidecar/record"
)

// Search returns up to f.Limit records matching f in the order
// (ts, chain, seq), by keyset like SQLite.Search. Quarantined records are
// not searchable: their columns could not be stored.
func (p *Postgres) Search(ctx context.Context, f Filter) ([]Row, error) {
	return collect(func(fn func(*Row) error) error { return p.SearchEach(ctx, f, fn) })
}

// SearchEach calls fn for each of up to f.Limit records matching f, in
// the order (ts, chain, seq), like SQLite.SearchEach: in chunks, with no
// connection held while fn runs, so that a slow reader never keeps from
// the writer a connection of the pool.
func (p *Postgres) SearchEach(ctx context.Context, f Filter, fn func(*Row) error) error {
	return p.searchEach(ctx, f, searchChunk, fn)
}

func (p *Postgres) searchEach(ctx context.Context, f Filter, c chunkSize, fn func(*Row) error) error {
	read := func(q *Filter, upto *Key) ([]Row, bool, error) {
		text, args, err := searchSQL(q, postgresDialect, upto)
		if err != nil {
			return nil, false, err
		}
		type chunk struct {
			rows []Row
			cut  bool
		}
		got, err := withDeadline(ctx, func(ctx context.Context) (chunk, error) {
			rows, cut, err := p.queryRows(ctx, c, text, args...)
			return chunk{rows, cut}, err
		})
		if err != nil {
			return nil, false, fmt.Errorf("postgres search: %w", pgSafeErr(err))
		}
		return got.rows, got.cut, nil
	}
	var probe func(*Filter, int) (*Key, error)
	if postgresDialect.residual(&f) {
		probe = func(q *Filter, offset int) (*Key, error) {
			text, args, err := searchProbe(q, postgresDialect, offset)
			if err != nil {
				return nil, err
			}
			k, err := withDeadline(ctx, func(ctx context.Context) (*Key, error) {
				var ts, chain string
				var seq int64
				switch err := p.rpool.QueryRow(ctx, text, args...).Scan(&ts, &chain, &seq); {
				case errors.Is(err, pgx.ErrNoRows):
					return nil, nil
				case err != nil:
					return nil, err
				}
				return parseKey(ts, chain, seq)
			})
			if err != nil {
				return nil, fmt.Errorf("postgres search: %w", pgSafeErr(err))
			}
			return k, nil
		}
	}
	return searchEach(f, c, fn, read, probe)
}

// PostgresSearchSQL returns the SQL text and arguments of Search's query
// for f, up to the position upto when it is set (the end of a window),
// for tools that show query plans.
func PostgresSearchSQL(f Filter, upto *Key) (string, []any, error) {
	return searchSQL(&f, postgresDialect, upto)
}

// PostgresSearchProbeSQL returns the SQL text and arguments of the probe
// that finds the end of Search's first window for f (see searchEach), and
// false when Search reads f without windows (an index serves every
// filter of f).
func PostgresSearchProbeSQL(f Filter) (string, []any, bool, error) {
	if !postgresDialect.residual(&f) {
		return "", nil, false, nil
	}
	q, args, err := searchProbe(&f, postgresDialect, searchWindow-1)
	return q, args, true, err
}

// Chains returns the distinct chain ids, of stored and of quarantined
// records, in byte order.
func (p *Postgres) Chains(ctx context.Context) ([]string, error) {
	// A skip-scan: one index descent per chain, where DISTINCT would read
	// every row.
	const skip = `WITH RECURSIVE c(chain) AS (
		SELECT min(chain) FROM audit_records
		UNION ALL
		SELECT (SELECT min(chain) FROM audit_records WHERE chain > c.chain)
		FROM c WHERE c.chain IS NOT NULL
	)
	SELECT chain FROM c WHERE chain IS NOT NULL`
	query := skip + `
	UNION SELECT DISTINCT chain FROM audit_quarantine
	ORDER BY 1`
	if p.noQuarantine { // a database of an older schema, read only
		query = skip + ` ORDER BY 1`
	}
	rows, err := p.rpool.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("postgres chains: %w", pgSafeErr(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres chains: %w", pgSafeErr(err))
	}
	return out, nil
}

// Scan calls fn for every stored record of chain in seq order, quarantined
// ones included (with Quarantined set and only Chain, Seq, MAC and Payload
// filled), and stops at the first error, which it returns as is. It reads
// in chunks (1000 rows, fewer past 4 MiB) and holds no connection while fn
// runs.
func (p *Postgres) Scan(ctx context.Context, chain string, fn func(Row) error) error {
	query := pgScanSQL
	if p.noQuarantine { // a database of an older schema, read only
		query = pgScanPlainSQL
	}
	return scanChunks(fn, func(after int64) ([]Row, bool, error) {
		rows, cut, err := p.queryRows(ctx, scanChunk, query, chain, after, scanChunk.rows)
		if err != nil {
			return nil, false, fmt.Errorf("postgres scan chain %q after seq %d: %w", chain, after, pgSafeErr(err))
		}
		return rows, cut, nil
	})
}

// pgScanSQL selects a chunk of a chain's rows for Scan, quarantined ones
// included: theirs have an empty string for every indexed column and an
// empty prev.
// pgScanPlainSQL is the same for a database without audit_quarantine.
var (
	pgScanSQL = `SELECT * FROM (
		SELECT ` + rowColumns + `, false AS quarantined FROM audit_records
			WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3
	) r UNION ALL SELECT * FROM (
		SELECT chain, seq, ` + strings.Repeat("'', ", len(record.IndexColumns)) + `''::bytea, mac, payload, true
			FROM audit_quarantine WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3
	) q ORDER BY seq LIMIT $3`
	pgScanPlainSQL = `SELECT ` + rowColumns + `, false AS quarantined FROM audit_records
		WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3`
)

// queryRows runs q, whose columns are rowColumns and optionally a
// trailing quarantined flag, and which returns at most c.rows rows, and
// reads them until c.bytes are held (see readChunk), on the queries' pool
// (Postgres.rpool). The rows not read are discarded as they arrive when
// the result is closed.
func (p *Postgres) queryRows(ctx context.Context, c chunkSize, q string, args ...any) ([]Row, bool, error) {
	rows, err := p.rpool.Query(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	withFlag := len(rows.FieldDescriptions()) == len(pgColumns)+1
	out, cut, err := readChunk(c, rows.Next, func(r *Row) error {
		var seq int64
		dst := rowDest(r, &seq)
		if withFlag {
			dst = append(dst, &r.Quarantined)
		}
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		r.Seq = uint64(seq)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, cut, rows.Err()
}

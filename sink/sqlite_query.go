package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// maxSearchLimit is the largest page Search and SearchEach return.
const maxSearchLimit = 1000

// Search returns up to f.Limit records matching f in the order
// (ts, chain, seq), as SearchEach yields them. Paging is by keyset
// (f.After), never by offset, so a page costs the same wherever it starts
// and records appended meanwhile do not shift later pages.
func (s *SQLite) Search(ctx context.Context, f Filter) ([]Row, error) {
	return collect(func(fn func(*Row) error) error { return s.SearchEach(ctx, f, fn) })
}

// SearchEach calls fn for each of up to f.Limit records matching f, in
// the order (ts, chain, seq), and stops at the first error of fn, which
// it returns as is. It reads in chunks (at most 100 rows and about
// SearchChunkBytes each, by keyset from the last row of the chunk before)
// and holds no connection or read snapshot while fn runs, so that a page
// costs about one chunk of memory and a slow reader neither holds one of
// the few connections the writer needs nor keeps the WAL from being
// checkpointed. fn must not keep the row after it returns. Each chunk
// sees the store as it is when it is read: records appended meanwhile are
// included if they sort after the chunk before, as on a next page.
func (s *SQLite) SearchEach(ctx context.Context, f Filter, fn func(*Row) error) error {
	return s.searchEach(ctx, f, searchChunk, fn)
}

func (s *SQLite) searchEach(ctx context.Context, f Filter, c chunkSize, fn func(*Row) error) error {
	d, err := s.dialect(ctx)
	if err != nil {
		return fmt.Errorf("sqlite search: %w", err)
	}
	read := func(q *Filter, upto *Key) ([]Row, bool, error) {
		text, args, err := searchSQL(q, d, upto)
		if err != nil {
			return nil, false, err
		}
		type chunk struct {
			rows []Row
			cut  bool
		}
		got, err := withDeadline(ctx, func(ctx context.Context) (chunk, error) {
			rows, cut, err := s.queryRows(ctx, c, text, args...)
			return chunk{rows, cut}, err
		})
		if err != nil {
			return nil, false, fmt.Errorf("sqlite search: %w", err)
		}
		return got.rows, got.cut, nil
	}
	var probe func(*Filter, int) (*Key, error)
	if d.residual(&f) {
		probe = func(q *Filter, offset int) (*Key, error) {
			text, args, err := searchProbe(q, d, offset)
			if err != nil {
				return nil, err
			}
			k, err := withDeadline(ctx, func(ctx context.Context) (*Key, error) { return s.probeKey(ctx, text, args...) })
			if err != nil {
				return nil, fmt.Errorf("sqlite search: %w", err)
			}
			return k, nil
		}
	}
	return searchEach(f, c, fn, read, probe)
}

// dialect is the SQL of the store: which of the query indexes of user
// and session it has (QueryIndexes). A store opened to write has those
// of its options; one opened read-only is looked at, since the sidecar
// writing it may be configured otherwise.
func (s *SQLite) dialect(ctx context.Context) (dialect, error) {
	if !s.readOnly {
		return s.indexed, nil
	}
	db, release, err := s.acquireReader()
	if err != nil {
		return dialect{}, err
	}
	defer release()
	var user, session, traces bool
	if err := db.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'audit_records_user'),
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'audit_records_session'),
		EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_trace_indexed')`).Scan(&user, &session, &traces); err != nil {
		return dialect{}, err
	}
	d := sqliteDialectIndexed(user, session)
	d.traceTable = traces // a store of schema 3 or older: its trace index, or none
	return d, nil
}

// SQLiteSearchSQL returns the SQL text and arguments of Search's query
// for f in a store of the current schema, up to the position upto when
// it is set (the end of a window), so that its plan can be shown.
func SQLiteSearchSQL(f Filter, upto *Key) (string, []any, error) {
	return searchSQL(&f, sqliteDialect, upto)
}

// SQLiteSearchProbeSQL returns the SQL text and arguments of the probe
// that finds the end of Search's first window for f (see searchEach), and
// false when Search reads f without windows (an index serves every
// filter of f).
func SQLiteSearchProbeSQL(f Filter) (string, []any, bool, error) {
	if !sqliteDialect.residual(&f) {
		return "", nil, false, nil
	}
	q, args, err := searchProbe(&f, sqliteDialect, searchWindow-1)
	return q, args, true, err
}

// probeKey runs a searchProbe query: the position it names, or nil when
// it names none.
func (s *SQLite) probeKey(ctx context.Context, q string, args ...any) (*Key, error) {
	db, release, err := s.acquireReader()
	if err != nil {
		return nil, err
	}
	defer release()
	var ts, chain string
	var seq int64
	switch err := db.QueryRowContext(ctx, q, args...).Scan(&ts, &chain, &seq); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return parseKey(ts, chain, seq)
}

// collect returns the rows each yields, copied.
func collect(each func(fn func(*Row) error) error) ([]Row, error) {
	var out []Row
	err := each(func(r *Row) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Chains returns the distinct chain ids in byte order.
func (s *SQLite) Chains(ctx context.Context) ([]string, error) {
	// A skip-scan of the UNIQUE (chain, seq) index: one index seek per
	// chain, where SELECT DISTINCT would read every entry.
	const q = `WITH RECURSIVE c(chain) AS (
		SELECT min(chain) FROM audit_records
		UNION ALL
		SELECT (SELECT min(chain) FROM audit_records WHERE chain > c.chain)
		FROM c WHERE c.chain IS NOT NULL
	)
	SELECT chain FROM c WHERE chain IS NOT NULL`
	db, release, err := s.acquireReader()
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite chains: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("sqlite chains: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite chains: %w", err)
	}
	return out, nil
}

// Scan calls fn for every stored record of chain in seq order and stops at
// the first error, which it returns as is. It reads in chunks (1000 rows,
// fewer past 4 MiB) and holds no connection or read snapshot while fn
// runs, so memory stays constant, a long scan does not keep the WAL from
// being checkpointed, and fn may call other methods. Records appended
// during the scan are included if their seq is beyond the current chunk.
func (s *SQLite) Scan(ctx context.Context, chain string, fn func(Row) error) error {
	return scanChunks(fn, func(after int64) ([]Row, bool, error) {
		rows, cut, err := s.queryRows(ctx, scanChunk, sqliteScanSQL, chain, after, scanChunk.rows)
		if err != nil {
			return nil, false, fmt.Errorf("sqlite scan chain %q after seq %d: %w", chain, after, err)
		}
		return rows, cut, nil
	})
}

// sqliteScanSQL selects a chunk of a chain's rows for Scan.
var sqliteScanSQL = `SELECT ` + rowColumns + ` FROM audit_records
		WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?`

// scanChunks calls fn for each row next returns, chunk after chunk: next
// returns up to scanChunk.rows rows after seq after, in seq order, and
// whether it stopped early for scanChunk.bytes. It stops at the first
// error of either, returned as is.
func scanChunks(fn func(Row) error, next func(after int64) ([]Row, bool, error)) error {
	var after int64
	for {
		rows, cut, err := next(after)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(rows) == 0 || !cut && len(rows) < scanChunk.rows {
			return nil
		}
		after = int64(rows[len(rows)-1].Seq)
	}
}

// queryRows runs q, which returns at most c.rows rows, and reads them
// until c.bytes are held (see readChunk), on the queries' pool.
func (s *SQLite) queryRows(ctx context.Context, c chunkSize, q string, args ...any) ([]Row, bool, error) {
	db, release, err := s.acquireReader()
	if err != nil {
		return nil, false, err
	}
	defer release()
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out, cut, err := readChunk(c, rows.Next, func(r *Row) (err error) {
		*r, err = scanRow(rows)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return out, cut, nil
}

// scanRow reads one row selected with rowColumns. database/sql copies
// []byte destinations, so the Row owns its slices.
func scanRow(rows *sql.Rows) (Row, error) {
	var r Row
	var seq int64
	if err := rows.Scan(rowDest(&r, &seq)...); err != nil {
		return Row{}, err
	}
	r.Seq = uint64(seq)
	return r, nil
}

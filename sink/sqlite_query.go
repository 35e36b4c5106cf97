package sink

import (
	"context"
	"database/sql"
	"fmt"
)

const (
	// maxSearchLimit is the largest page Search returns.
	maxSearchLimit = 1000
	// scanChunk is how many rows Scan reads per query.
	scanChunk = 1000
)

// rowColumns are read in the order of the Row fields; see scanRow.
const rowColumns = `chain, seq, ts, ingested_at, action, "user", tenant, agent,
	session, trace, model, tool, outcome, approver, kid, prev, mac, payload`

// Search returns up to f.Limit records matching f in the order
// (ts, chain, seq). Paging is by keyset (f.After), never by offset, so a
// page costs the same wherever it starts and records appended meanwhile do
// not shift later pages.
func (s *SQLite) Search(ctx context.Context, f Filter) ([]Row, error) {
	q, args, err := searchQuery(&f, sqliteDialect)
	if err != nil {
		return nil, err
	}
	rows, err := s.queryRows(ctx, f.Limit, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite search: %w", err)
	}
	return rows, nil
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
	db, release, err := s.acquire()
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
// the first error, which it returns as is. It reads scanChunk rows per
// query and holds no connection or read snapshot while fn runs, so memory
// stays constant, a long scan does not keep the WAL from being
// checkpointed, and fn may call other methods. Records appended during the
// scan are included if their seq is beyond the current chunk.
func (s *SQLite) Scan(ctx context.Context, chain string, fn func(Row) error) error {
	const q = `SELECT ` + rowColumns + ` FROM audit_records
		WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?`
	return scanChunks(fn, func(after int64) ([]Row, error) {
		rows, err := s.queryRows(ctx, scanChunk, q, chain, after, scanChunk)
		if err != nil {
			return nil, fmt.Errorf("sqlite scan chain %q after seq %d: %w", chain, after, err)
		}
		return rows, nil
	})
}

// scanChunks calls fn for each row next returns, chunk after chunk: next
// returns up to scanChunk rows after seq after, in seq order. It stops at
// the first error of either, returned as is.
func scanChunks(fn func(Row) error, next func(after int64) ([]Row, error)) error {
	var after int64
	for {
		rows, err := next(after)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(rows) < scanChunk {
			return nil
		}
		after = int64(rows[len(rows)-1].Seq)
	}
}

// queryRows runs q and reads every result row; sizeHint, the most rows q
// can return, presizes the slice up to a point.
func (s *SQLite) queryRows(ctx context.Context, sizeHint int, q string, args ...any) ([]Row, error) {
	db, release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Row, 0, min(sizeHint, 128))
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// scanRow reads one row selected with rowColumns. database/sql copies
// []byte destinations, so the Row owns its slices.
func scanRow(rows *sql.Rows) (Row, error) {
	var r Row
	var seq int64
	err := rows.Scan(&r.Chain, &seq, &r.TS, &r.IngestedAt, &r.Action, &r.User,
		&r.Tenant, &r.Agent, &r.Session, &r.Trace, &r.Model, &r.Tool,
		&r.Outcome, &r.Approver, &r.Kid, &r.Prev, &r.MAC, &r.Payload)
	if err != nil {
		return Row{}, err
	}
	r.Seq = uint64(seq)
	return r, nil
}

package sink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fips-agents/audit-sidecar/record"
)

// Tail is where a chain stands in a sink: its newest stored record, and
// the source position of the newest record that came from the source.
type Tail struct {
	Seq uint64
	MAC [32]byte
	// Kid is the kid of the key that sealed the newest record ("" if its
	// payload does not decode).
	Kid string
	// Epoch is the forward-secure epoch of the record that follows the
	// newest: its epoch, plus one if it is a seal (0: epochs off).
	Epoch uint64
	// Source is the newest stored record's source line (file generation
	// and the offset of the line's first byte); nil if none of the last
	// tailSourceWindow records has one.
	Source *record.Source
}

// TailReader is a sink that can say where a chain stands, so that a chain
// whose spool was lost continues from what the sink holds.
type TailReader interface {
	ChainTail(ctx context.Context, chain string) (Tail, bool, error)
}

// tailSourceWindow is how many of the newest records are searched for
// one with a source position.
const tailSourceWindow = 1000

// chainTail reads the tail with head, which returns the newest (seq, mac)
// of the chain (sql.ErrNoRows or pgx.ErrNoRows when it has none: noRows
// reports which), and newest, which returns up to n payloads of the chain
// newest first.
func chainTail(head func() (int64, []byte, error), noRows func(error) bool, newest func(n int) ([][]byte, error)) (Tail, bool, error) {
	seq, mac, err := head()
	if noRows(err) {
		return Tail{}, false, nil
	}
	if err != nil {
		return Tail{}, false, err
	}
	if len(mac) != 32 {
		return Tail{}, false, fmt.Errorf("stored mac of seq %d is %d bytes", seq, len(mac))
	}
	t := Tail{Seq: uint64(seq)}
	copy(t.MAC[:], mac)
	payloads, err := newest(tailSourceWindow)
	if err != nil {
		return Tail{}, false, err
	}
	for i, p := range payloads {
		r, err := record.Parse(p)
		if r == nil || (err != nil && !errors.Is(err, record.ErrNotCanonical)) {
			continue
		}
		if i == 0 && r.Seq == t.Seq {
			t.Kid, t.Epoch = r.Kid, r.Epoch
			if r.Action == record.ActionSeal && r.Epoch > 0 {
				t.Epoch++
			}
		}
		if r.Source != nil {
			t.Source = r.Source
			break
		}
	}
	return t, true, nil
}

// ChainTail returns where chain stands in the database; false if it holds
// no record of it.
func (s *SQLite) ChainTail(ctx context.Context, chain string) (Tail, bool, error) {
	db, release, err := s.acquire()
	if err != nil {
		return Tail{}, false, err
	}
	defer release()
	t, ok, err := chainTail(
		func() (int64, []byte, error) {
			var seq int64
			var mac []byte
			err := db.QueryRowContext(ctx, `SELECT seq, mac FROM audit_records WHERE chain = ? ORDER BY seq DESC LIMIT 1`, chain).Scan(&seq, &mac)
			return seq, mac, err
		},
		func(err error) bool { return errors.Is(err, sql.ErrNoRows) },
		func(n int) ([][]byte, error) {
			rows, err := db.QueryContext(ctx, `SELECT payload FROM audit_records WHERE chain = ? ORDER BY seq DESC LIMIT ?`, chain, n)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out [][]byte
			for rows.Next() {
				var p []byte
				if err := rows.Scan(&p); err != nil {
					return nil, err
				}
				out = append(out, p)
			}
			return out, rows.Err()
		})
	if err != nil {
		return Tail{}, false, fmt.Errorf("sqlite chain tail %q: %w", chain, err)
	}
	return t, ok, nil
}

// ChainTail returns where chain stands in the database, quarantined
// records included; false if it holds no record of it.
func (p *Postgres) ChainTail(ctx context.Context, chain string) (Tail, bool, error) {
	if err := p.setup(ctx); err != nil {
		return Tail{}, false, err
	}
	t, ok, err := chainTail(
		func() (int64, []byte, error) {
			var seq int64
			var mac []byte
			err := p.pool.QueryRow(ctx, `SELECT seq, mac FROM (
				(SELECT seq, mac FROM audit_records WHERE chain = $1 ORDER BY seq DESC LIMIT 1)
				UNION ALL
				(SELECT seq, mac FROM audit_quarantine WHERE chain = $1 ORDER BY seq DESC LIMIT 1)
			) t ORDER BY seq DESC LIMIT 1`, chain).Scan(&seq, &mac)
			return seq, mac, err
		},
		func(err error) bool { return errors.Is(err, pgx.ErrNoRows) },
		func(n int) ([][]byte, error) {
			rows, err := p.pool.Query(ctx, `SELECT payload FROM audit_records WHERE chain = $1 ORDER BY seq DESC LIMIT $2`, chain, n)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, pgx.RowTo[[]byte])
		})
	if err != nil {
		return Tail{}, false, fmt.Errorf("postgres chain tail %q: %w", chain, pgSafeErr(err))
	}
	return t, ok, nil
}

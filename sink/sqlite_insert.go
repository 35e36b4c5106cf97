package sink

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
)

// The write path talks to the driver's connection directly (sql.Conn.Raw)
// instead of through database/sql, which for every statement allocates a
// slice of its arguments (40 bytes per bound value, 18 values per row) and
// checks each one. What database/sql would do here, insert does: one
// transaction, rolled back on any error, statements closed.

// insertState is the memory one Write reuses from the last: the bound
// values, and boxes.
type insertState struct {
	args []driver.NamedValue
	// boxes holds column values already made interface values: a string
	// converted to an interface is copied into a new allocation each
	// time, and most columns (chain, action, user, tenant, agent, session,
	// model, tool, outcome, kid) repeat from row to row.
	boxes map[string]any
}

// maxBoxes bounds insertState.boxes; past it the map starts over.
const maxBoxes = 4096

var insertStates = sync.Pool{New: func() any { return &insertState{boxes: map[string]any{}} }}

// box returns v as an interface value, reusing an earlier conversion of
// the same string.
func (st *insertState) box(v string) any {
	if v == "" {
		return "" // a constant: no allocation
	}
	if b, ok := st.boxes[v]; ok {
		return b
	}
	if len(st.boxes) >= maxBoxes {
		clear(st.boxes)
	}
	v = strings.Clone(v) // the key must not keep a larger string alive
	var b any = v
	st.boxes[v] = b
	return b
}

// add appends r's values in the order of pgColumns (as rowArgs does).
func (st *insertState) add(r *Row) {
	put := func(v any) {
		st.args = append(st.args, driver.NamedValue{Ordinal: len(st.args) + 1, Value: v})
	}
	put(st.box(r.Chain))
	put(int64(r.Seq))
	for i := range record.IndexColumns {
		c := &record.IndexColumns[i]
		if v := *c.In(&r.Columns); c.Time {
			put(v) // times hardly repeat: boxing them would only fill boxes
		} else {
			put(st.box(v))
		}
	}
	put(r.Prev)
	put(r.MAC)
	put(r.Payload)
}

// insert writes rows in one transaction on dc, the driver's connection.
func (s *SQLite) insert(ctx context.Context, dc any, rows []Row) (err error) {
	begin, ok1 := dc.(driver.ConnBeginTx)
	prep, ok2 := dc.(driver.ConnPrepareContext)
	if !ok1 || !ok2 {
		return fmt.Errorf("sqlite write: the driver's connection (%T) lacks transactions or contexts", dc)
	}
	tx, err := begin.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return fmt.Errorf("sqlite write: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback() //nolint:errcheck // the error that made us roll back is the one to report
		}
	}()
	st := insertStates.Get().(*insertState)
	defer func() {
		clear(st.args) // let the payloads go
		st.args = st.args[:0]
		insertStates.Put(st)
	}()
	stmt, err := prep.PrepareContext(ctx, insertSQL)
	if err != nil {
		return fmt.Errorf("sqlite write: prepare: %w", err)
	}
	defer stmt.Close()
	exec, ok := stmt.(driver.StmtExecContext)
	if !ok {
		return fmt.Errorf("sqlite write: the driver's statement (%T) lacks contexts", stmt)
	}
	// The rows run under a context that is never done: given one that
	// can be, the driver starts a goroutine per call to watch it, which
	// cost more than the row. The transaction is short; ctx is looked at
	// every cancelCheck rows, and an error rolls it all back.
	bg := context.WithoutCancel(ctx)
	for i := range rows {
		if i%cancelCheck == cancelCheck-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r := &rows[i]
		st.args = st.args[:0]
		st.add(r)
		res, err := exec.ExecContext(bg, st.args)
		if err != nil {
			return fmt.Errorf("sqlite write: chain %q seq %d: %w", r.Chain, r.Seq, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite write: chain %q seq %d: %w", r.Chain, r.Seq, err)
		}
		if n == 1 {
			continue
		}
		// Skipped: its position is taken. Only replays get here.
		if err := sameAsStored(ctx, dc, r); err != nil {
			if errors.Is(err, ErrConflict) {
				s.logger.Error("sqlite conflicting record", zap.String("chain", r.Chain), zap.Uint64("seq", r.Seq))
			}
			return err
		}
	}
	if err := indexTraces(ctx, dc); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite write: commit: %w", err)
	}
	return nil
}

// traceIndexEvery is how many rows a store takes between two batches of
// audit_trace_index (see traceSQL): each batch inserts its rows' positions
// sorted by trace, so that a page of the table is written once per batch
// and not once per row, and a trace query reads at most this many rows
// past the watermark by rowid. A variable for tests.
var traceIndexEvery int64 = 16384

// indexTraces adds the positions of the rows with a trace past
// audit_trace_indexed.through to audit_trace_index, in the write
// transaction on dc, once traceIndexEvery rows are past it. Rows are
// appended with growing rowids (a rowid table gives a new row the largest
// rowid plus one; only a purge deletes, and when it deletes the newest
// rows, a chain's records stored after its retention_purge record, it
// brings the watermark down to the newest row kept: see purgeChunk).
func indexTraces(ctx context.Context, dc any) error {
	q, ok1 := dc.(driver.QueryerContext)
	e, ok2 := dc.(driver.ExecerContext)
	if !ok1 || !ok2 {
		return fmt.Errorf("sqlite write: the driver's connection (%T) lacks queries", dc)
	}
	rows, err := q.QueryContext(ctx, `SELECT (SELECT through FROM audit_trace_indexed), (SELECT coalesce(max(rowid), 0) FROM audit_records)`, nil)
	if err != nil {
		return fmt.Errorf("sqlite write: trace index: %w", err)
	}
	got := make([]driver.Value, 2)
	err = rows.Next(got)
	rows.Close()
	if err != nil {
		return fmt.Errorf("sqlite write: trace index: %w", err)
	}
	through, _ := got[0].(int64)
	top, _ := got[1].(int64)
	if top-through < traceIndexEvery {
		return nil
	}
	if _, err := e.ExecContext(ctx, `INSERT OR IGNORE INTO audit_trace_index SELECT trace, ts, chain, seq FROM audit_records
		WHERE rowid > ? AND rowid <= ? AND trace <> '' ORDER BY trace, ts, chain, seq`,
		[]driver.NamedValue{{Ordinal: 1, Value: through}, {Ordinal: 2, Value: top}}); err != nil {
		return fmt.Errorf("sqlite write: trace index: %w", err)
	}
	if _, err := e.ExecContext(ctx, `UPDATE audit_trace_indexed SET through = ?`,
		[]driver.NamedValue{{Ordinal: 1, Value: top}}); err != nil {
		return fmt.Errorf("sqlite write: trace index: %w", err)
	}
	return nil
}

// sameAsStored checks that the stored record at r's position has r's MAC
// and payload.
func sameAsStored(ctx context.Context, dc any, r *Row) error {
	q, ok := dc.(driver.QueryerContext)
	if !ok {
		return fmt.Errorf("sqlite write: the driver's connection (%T) lacks queries", dc)
	}
	rows, err := q.QueryContext(ctx, `SELECT mac, payload FROM audit_records WHERE chain = ? AND seq = ?`,
		[]driver.NamedValue{{Ordinal: 1, Value: r.Chain}, {Ordinal: 2, Value: int64(r.Seq)}})
	if err != nil {
		return fmt.Errorf("sqlite write: chain %q seq %d: read stored: %w", r.Chain, r.Seq, err)
	}
	defer rows.Close()
	got := make([]driver.Value, 2)
	switch err := rows.Next(got); {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("sqlite write: chain %q seq %d: insert skipped but no row stored", r.Chain, r.Seq)
	case err != nil:
		return fmt.Errorf("sqlite write: chain %q seq %d: read stored: %w", r.Chain, r.Seq, err)
	}
	mac, _ := got[0].([]byte)
	payload, _ := got[1].([]byte)
	if !bytes.Equal(mac, r.MAC) || !bytes.Equal(payload, r.Payload) {
		return &RecordError{Chain: r.Chain, Seq: r.Seq, Err: ErrConflict}
	}
	return nil
}

package sink

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// dialect is what differs between the SQL of the sinks' Search.
type dialect struct {
	// placeholder returns the text of the n-th parameter (1-based).
	placeholder func(n int) string
	// chainEq is the condition on the chain column, with %s for the
	// parameter.
	chainEq string
	// callIDEq is the condition on the payload's detail.call_id, as text.
	callIDEq string
}

var (
	sqliteDialect = dialect{
		placeholder: func(int) string { return "?" },
		// The unary + keeps the planner off the UNIQUE (chain, seq) index,
		// which would return a chain in seq order and make SQLite sort the
		// whole chain by ts. A chain is a large share of the table, so
		// walking the ts index and filtering is the fast plan.
		chainEq:  `+chain = %s`,
		callIDEq: `CAST(json_extract(CAST(payload AS TEXT), '$.detail.call_id') AS TEXT) = %s`,
	}
	postgresDialect = dialect{
		placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		chainEq:     `chain = %s`,
		callIDEq:    `(convert_from(payload, 'UTF8')::jsonb #>> '{detail,call_id}') = %s`,
	}
)

// searchQuery builds the SQL for f in dialect d. Values are always
// parameters; only fixed column names are written into the text. Both
// sinks store times as record.TimeLayout text in byte order, so times
// compare as strings: the layout is fixed-width UTC.
func searchQuery(f *Filter, d dialect) (string, []any, error) {
	if f.Limit < 1 || f.Limit > maxSearchLimit {
		return "", nil, fmt.Errorf("%w: limit %d not in 1..%d", ErrInvalidFilter, f.Limit, maxSearchLimit)
	}
	if f.After != nil && f.After.Seq > math.MaxInt64 {
		return "", nil, fmt.Errorf("%w: after seq out of range", ErrInvalidFilter)
	}
	var where []string
	var args []any
	add := func(cond string, v ...any) {
		ph := make([]any, len(v))
		for i := range v {
			ph[i] = d.placeholder(len(args) + i + 1)
		}
		where = append(where, fmt.Sprintf(cond, ph...))
		args = append(args, v...)
	}
	// From and After are both lower bounds, and the planner seeks the index
	// with one of them and filters by the other: with From as the seek,
	// every page would re-read all rows from From up to After, as OFFSET
	// does. So only the later of the two is written; it implies the other.
	from, after := "", ""
	if !f.From.IsZero() {
		from = record.FormatTime(f.From)
	}
	if f.After != nil {
		after = record.FormatTime(f.After.TS)
	}
	if from != "" && (f.After == nil || from > after) {
		add(`ts >= %s`, from)
	}
	if !f.To.IsZero() {
		add(`ts < %s`, record.FormatTime(f.To))
	}
	for _, c := range []struct{ col, v string }{
		{"tenant", f.Tenant}, {`"user"`, f.User}, {"action", f.Action},
		{"tool", f.Tool}, {"outcome", f.Outcome}, {"model", f.Model},
		{"session", f.Session},
	} {
		if c.v != "" {
			add(c.col+` = %s`, c.v)
		}
	}
	if f.Chain != "" {
		add(d.chainEq, f.Chain)
	}
	if f.CallID != "" {
		add(d.callIDEq, f.CallID)
	}
	if f.After != nil && (from == "" || after >= from) {
		add(`(ts, chain, seq) > (%s, %s, %s)`, after, f.After.Chain, int64(f.After.Seq))
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + rowColumns + ` FROM audit_records`)
	if len(where) > 0 {
		b.WriteString(` WHERE ` + strings.Join(where, ` AND `))
	}
	args = append(args, f.Limit)
	b.WriteString(` ORDER BY ts, chain, seq LIMIT ` + d.placeholder(len(args)))
	return b.String(), args, nil
}

// chunkSize bounds what one query of a chunked read holds in memory: at
// most rows rows, and no row more once bytes of them are held (a single
// row larger than bytes is still read whole).
type chunkSize struct{ rows, bytes int }

var (
	// searchChunk is SearchEach's chunk: a page of 1000 is read in ten
	// queries or more, so that a page costs about 1 MiB of rows whatever
	// its size (records can be megabytes: source.max_line_bytes).
	searchChunk = chunkSize{rows: 100, bytes: SearchChunkBytes}
	// scanChunk is Scan's chunk (verify, export): larger, since one reader
	// walks a whole chain.
	scanChunk = chunkSize{rows: 1000, bytes: 4 << 20}
)

// SearchChunkBytes is about the most row bytes SearchEach holds at once
// (one row more when a row alone is larger).
const SearchChunkBytes = 1 << 20

// rowBytes is what a read row holds, for the chunk budget: its byte
// slices and about as much again for its strings and headers.
func rowBytes(r *Row) int { return len(r.Payload) + len(r.MAC) + len(r.Prev) + 256 }

// readChunk reads the rows of rs into a new slice until c.rows rows or
// c.bytes bytes are held; cut reports that it stopped for the bytes, so
// that more rows may follow although fewer than the query's LIMIT came.
func readChunk(c chunkSize, next func() bool, scan func(*Row) error) (out []Row, cut bool, err error) {
	out = make([]Row, 0, min(c.rows, 128))
	held := 0
	for next() {
		if held >= c.bytes {
			return out, true, nil
		}
		var r Row
		if err := scan(&r); err != nil {
			return nil, false, err
		}
		held += rowBytes(&r)
		out = append(out, r)
	}
	return out, false, nil
}

// searchEach calls fn for each of up to f.Limit rows matching f, in the
// order (ts, chain, seq), reading them in chunks of size c: read runs one
// query for a filter (f with the chunk's Limit and position) and returns
// its rows, and cut as readChunk does. No query is open while fn runs. It
// stops at the first error of read or fn, returned as is.
func searchEach(f Filter, c chunkSize, fn func(*Row) error, read func(*Filter) ([]Row, bool, error)) error {
	if f.Limit < 1 || f.Limit > maxSearchLimit {
		return fmt.Errorf("%w: limit %d not in 1..%d", ErrInvalidFilter, f.Limit, maxSearchLimit)
	}
	for left := f.Limit; left > 0; {
		q := f
		q.Limit = min(left, c.rows)
		rows, cut, err := read(&q)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		last := rows[len(rows)-1]
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
			rows[i] = Row{} // served: its memory may go
		}
		left -= len(rows)
		if !cut && len(rows) < q.Limit {
			return nil
		}
		ts, err := time.Parse(time.RFC3339Nano, last.TS)
		if err != nil {
			return fmt.Errorf("row %s/%d: stored ts is not a time: %w", last.Chain, last.Seq, err)
		}
		f.After = &Key{TS: ts, Chain: last.Chain, Seq: last.Seq}
	}
	return nil
}

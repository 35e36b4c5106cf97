package sink

import (
	"context"
	"errors"
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
	// leads are the columns whose own index (led by the column, ending
	// in the query order) a search walks when the filter names one, most
	// selective first; tenant is always the last. A search walks the
	// index of the first column named, or the time index.
	leads []string
	// leadEq is the condition, with %s for the parameter, on the column
	// whose index is walked (see leads).
	leadEq func(col string) string
	// alsoEq is the condition on another of leads when the filter names
	// it too: checked on each row of the walked index.
	alsoEq func(col string) string
	// overviewPayload is the columns ts and p (the payload as JSON, NULL
	// where it is not) of an overview's rows; redactionSums sums their
	// redactions by type (see redactionsSQL).
	overviewPayload, redactionSums string
	// residual reports whether f has a filter that no index of the store
	// serves for the query order, so that the rows are found by walking
	// the time index (or the tenant's) and checking each: such a search is
	// read window by window (see searchEach).
	residual func(f *Filter) bool
	// traceTable: the store keeps the positions of the records of each
	// trace in a table of its own, filled in sorted batches, instead of
	// an index of audit_records (SQLite, schema 4: see traceSQL).
	traceTable bool
}

var (
	sqliteDialect = dialect{
		placeholder: func(int) string { return "?" },
		// The unary + keeps the planner off the UNIQUE (chain, seq) index,
		// which would return a chain in seq order and make SQLite sort the
		// whole chain by ts. A chain is a large share of the table, so
		// walking the ts index and filtering is the fast plan.
		chainEq: `+chain = %s`,
		// A string's value; any other JSON (1e3, 1.50, true) as its text
		// in the payload (->), not as SQLite's number (1000.0, 1.5, 1).
		callIDEq: `(CASE json_type(CAST(payload AS TEXT), '$.detail.call_id') WHEN 'text' THEN json_extract(CAST(payload AS TEXT), '$.detail.call_id') ELSE CAST(payload AS TEXT) -> '$.detail.call_id' END) = %s`,
		// With the query indexes of session and user (QueryIndexes; a
		// store without them: sqliteDialectIndexed): a trace or a session
		// holds few records, a user more, a tenant many.
		leads: []string{"trace", "session", "user", "tenant"},
		// SQLite uses a partial index (trace, session, user: rows that
		// have one) only when the query's WHERE holds the index's own
		// condition as written: a bound parameter does not prove it.
		leadEq: func(col string) string {
			if col == "tenant" {
				return `tenant = %s`
			}
			return column(col) + ` = %s AND ` + column(col) + ` <> ''`
		},
		// The unary + keeps the planner off the column's own index, which
		// would read every row of that value (a whole tenant) or leave
		// the choice between two indexes to chance.
		alsoEq:          func(col string) string { return `+` + column(col) + ` = %s` },
		overviewPayload: `ts, CASE WHEN json_valid(CAST(payload AS TEXT)) THEN CAST(payload AS TEXT) END AS p`,
		redactionSums:   sqliteRedactions,
		// ts and the leads are indexed (see the schema): every other
		// filter is checked row by row.
		residual: func(f *Filter) bool {
			return f.Action != "" || f.Tool != "" || f.Outcome != "" || f.Model != "" ||
				f.Chain != "" || f.CallID != ""
		},
		traceTable: true,
	}
	postgresDialect = dialect{
		placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		chainEq:     `chain = %s`,
		// json, not jsonb: #>> gives a number as written in the payload
		// (jsonb would give 1e3 as 1000).
		callIDEq: `(convert_from(payload, 'UTF8')::json #>> '{detail,call_id}') = %s`,
		// user and session are indexed too, but checked with the
		// residual filters: every query is planned for its values
		// (force_custom_plan), and the planner picks the index.
		leads: []string{"trace", "tenant"},
		// The planner sees that the value is not '' itself.
		leadEq: func(col string) string { return col + ` = %s` },
		alsoEq: func(col string) string { return col + ` = %s` },
		// A payload that is not UTF-8 JSON fails the statement: the
		// figure is then not shown (verify names the record).
		overviewPayload: `ts, convert_from(payload, 'UTF8')::jsonb AS p`,
		redactionSums:   pgRedactions,
		// user, session, tool and trace have indexes, and so do the rare actions
		// and outcomes (partial indexes, see the schema); model, call_id
		// and the bulk actions and outcomes have none.
		residual: func(f *Filter) bool {
			return f.Model != "" || f.CallID != "" || pgBulkAction[f.Action] || f.Outcome == "success"
		},
	}
)

// pgBulkAction are the actions the partial indexes of PostgreSQL leave out.
var pgBulkAction = map[string]bool{"decision": true, "model_call": true, "tool_call": true, "tool_result": true}

// A search with a filter no index serves (dialect.residual) reads its
// rows window by window: each chunk query examines at most searchWindow
// rows of the index it walks, found first by a probe of that index
// (searchProbe), and one SearchEach examines at most searchBudget rows
// in windows that yield less than a chunk; past it, it stops with a
// *SearchBoundError saying where to resume. So a query whose filter
// matches few or no rows (a call_id, a user that does not exist) costs
// the store a bounded amount of work per statement and per call, however
// large the table, instead of one statement reading the whole of it.
var (
	searchWindow = 10_000
	searchBudget = 100_000
	// searchChunkTimeout bounds each statement of a search: past it the
	// statement is interrupted (SQLite: sqlite3_interrupt; PostgreSQL: a
	// cancel request) and the search fails with ErrSearchTimeout.
	searchChunkTimeout = 10 * time.Second
)

// ErrSearchTimeout is a search statement that ran past its deadline.
var ErrSearchTimeout = errors.New("a search statement ran past its deadline")

// SearchBoundError ends a SearchEach that examined the most rows one call
// may (a filter that no index serves, and matches few rows) before it
// yielded f.Limit rows: the rows yielded before are valid, and a search
// with After set to Resume goes on from where it stopped. Resume is the
// position of the last row examined (a row the walked index holds, within
// the tenant's rows when the filter names a tenant), not of a row that
// matched.
type SearchBoundError struct {
	Resume   Key
	Examined int
}

func (e *SearchBoundError) Error() string {
	return fmt.Sprintf("search stopped after examining %d rows without filling the page", e.Examined)
}

// withDeadline runs one statement of a search under searchChunkTimeout;
// an interrupted statement is ErrSearchTimeout, unless ctx itself ended.
func withDeadline[T any](ctx context.Context, run func(context.Context) (T, error)) (T, error) {
	sctx, cancel := context.WithTimeout(ctx, searchChunkTimeout)
	defer cancel()
	v, err := run(sctx)
	if err != nil && ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		var zero T
		return zero, fmt.Errorf("%w (%s)", ErrSearchTimeout, searchChunkTimeout)
	}
	return v, err
}

// searchQuery builds the SQL for f in dialect d. Values are always
// parameters; only fixed column names are written into the text. Both
// sinks store times as record.TimeLayout text in byte order, so times
// compare as strings: the layout is fixed-width UTC.
func searchQuery(f *Filter, d dialect) (string, []any, error) {
	return searchSQL(f, d, nil)
}

// searchSQL is searchQuery for rows up to upto (inclusive) when it is
// set: the end of a window (see searchEach).
func searchSQL(f *Filter, d dialect, upto *Key) (string, []any, error) {
	w, err := searchWhere(f, d, true)
	if err != nil {
		return "", nil, err
	}
	if upto != nil {
		w.add(`(ts, chain, seq) <= (%s, %s, %s)`, record.FormatTime(upto.TS), upto.Chain, int64(upto.Seq))
	}
	if d.traceTable && f.Trace != "" {
		return traceSQL(f, w, upto, rowColumns, 0)
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + rowColumns + ` FROM audit_records`)
	w.writeTo(&b)
	w.args = append(w.args, f.Limit)
	b.WriteString(` ORDER BY ts, chain, seq LIMIT ` + d.placeholder(len(w.args)))
	return b.String(), w.args, nil
}

// searchProbe builds the query of the position of the row offset rows
// past the first row of f's walk: the rows f's time bounds, position and
// leads (dialect.leads: tenant, trace, and in SQLite user and session)
// select, in the query order, with no other filter. Every column it
// reads is in the index it walks (ts, chain, seq; or the lead, ts,
// chain, seq), so it reads the index only when f names one lead at
// most; with more it walks the first one's index and reads the table
// for the others.
func searchProbe(f *Filter, d dialect, offset int) (string, []any, error) {
	w, err := searchWhere(f, d, false)
	if err != nil {
		return "", nil, err
	}
	if d.traceTable && f.Trace != "" {
		return traceSQL(f, w, nil, `ts, chain, seq`, offset)
	}
	var b strings.Builder
	b.WriteString(`SELECT ts, chain, seq FROM audit_records`)
	w.writeTo(&b)
	w.args = append(w.args, offset)
	b.WriteString(` ORDER BY ts, chain, seq LIMIT 1 OFFSET ` + d.placeholder(len(w.args)))
	return b.String(), w.args, nil
}

// where is the WHERE clause of a search being built.
type where struct {
	d     dialect
	conds []string
	args  []any
}

func (w *where) add(cond string, v ...any) {
	ph := make([]any, len(v))
	for i := range v {
		ph[i] = w.d.placeholder(len(w.args) + i + 1)
	}
	w.conds = append(w.conds, fmt.Sprintf(cond, ph...))
	w.args = append(w.args, v...)
}

func (w *where) writeTo(b *strings.Builder) {
	if len(w.conds) > 0 {
		b.WriteString(` WHERE ` + strings.Join(w.conds, ` AND `))
	}
}

// searchWhere is the WHERE clause of f: its time bounds, position and
// leads (the indexes a probe walks), and with residual its other filters
// too.
func searchWhere(f *Filter, d dialect, residual bool) (*where, error) {
	if f.Limit < 1 || f.Limit > maxSearchLimit {
		return nil, fmt.Errorf("%w: limit %d not in 1..%d", ErrInvalidFilter, f.Limit, maxSearchLimit)
	}
	if f.After != nil && f.After.Seq > math.MaxInt64 {
		return nil, fmt.Errorf("%w: after seq out of range", ErrInvalidFilter)
	}
	w := &where{d: d}
	w.addBounds(f, nil, "ts", "(ts, chain, seq)")
	// The leads' conditions, written in the order tenant, trace, user,
	// session: the index walked is that of the first of d.leads that f
	// names.
	lead := ""
	for _, col := range d.leads {
		if filterValue(f, col) != "" {
			lead = col
			break
		}
	}
	isLead := map[string]bool{}
	for _, col := range d.leads {
		isLead[col] = true
	}
	for _, col := range []string{"tenant", "trace", "user", "session"} {
		switch v := filterValue(f, col); {
		case v == "" || !isLead[col]:
		case col == lead:
			w.add(d.leadEq(col), v)
		default:
			w.add(d.alsoEq(col), v)
		}
	}
	if residual {
		for _, c := range []struct{ col, v string }{
			{"user", f.User}, {"action", f.Action},
			{"tool", f.Tool}, {"outcome", f.Outcome}, {"model", f.Model},
			{"session", f.Session},
		} {
			if c.v != "" && !isLead[c.col] {
				w.add(column(c.col)+` = %s`, c.v)
			}
		}
		if f.Chain != "" {
			w.add(d.chainEq, f.Chain)
		}
		if f.CallID != "" {
			w.add(d.callIDEq, f.CallID)
		}
	}
	return w, nil
}

// addBounds adds f's time bounds and position (and upto, when set) as
// conditions on the time column ts and the position pos (its ts, chain
// and seq as a row value): those of audit_records, or of the trace table.
// From and After are both lower bounds, and the planner seeks the index
// with one of them and filters by the other: with From as the seek, every
// page would re-read all rows from From up to After, as OFFSET does. So
// only the later of the two is written; it implies the other.
func (w *where) addBounds(f *Filter, upto *Key, ts, pos string) {
	from, after := "", ""
	if !f.From.IsZero() {
		from = record.FormatTime(f.From)
	}
	if f.After != nil {
		after = record.FormatTime(f.After.TS)
	}
	if from != "" && (f.After == nil || from > after) {
		w.add(ts+` >= %s`, from)
	}
	if !f.To.IsZero() {
		w.add(ts+` < %s`, record.FormatTime(f.To))
	}
	if f.After != nil && (from == "" || after >= from) {
		w.add(pos+` > (%s, %s, %s)`, after, f.After.Chain, int64(f.After.Seq))
	}
	if upto != nil {
		w.add(pos+` <= (%s, %s, %s)`, record.FormatTime(upto.TS), upto.Chain, int64(upto.Seq))
	}
}

// filterValue is f's value of a lead column (see dialect.leads).
func filterValue(f *Filter, col string) string {
	switch col {
	case "tenant":
		return f.Tenant
	case "trace":
		return f.Trace
	case "user":
		return f.User
	case "session":
		return f.Session
	}
	panic("sink: no lead column " + col)
}

// column is col as written in SQL: user is a keyword.
func column(col string) string {
	if col == "user" {
		return `"user"`
	}
	return col
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
// query for a filter (f with the chunk's Limit and position), up to the
// position upto when it is set, and returns its rows, and cut as
// readChunk does. No query is open while fn runs. It stops at the first
// error of read, probe or fn, returned as is.
//
// With probe set (a filter no index serves: dialect.residual), each chunk
// is read within a window: probe returns the position offset rows past
// the first row the walked index holds after the chunk's position (nil
// when fewer rows are left), and read stops there. A window that yields
// less than a chunk was examined whole, and the next chunk starts after
// it; once searchBudget rows were examined in such windows, searchEach
// returns a *SearchBoundError. (Chunks that fill are bounded by f.Limit.)
func searchEach(f Filter, c chunkSize, fn func(*Row) error, read func(q *Filter, upto *Key) ([]Row, bool, error), probe func(q *Filter, offset int) (*Key, error)) error {
	if f.Limit < 1 || f.Limit > maxSearchLimit {
		return fmt.Errorf("%w: limit %d not in 1..%d", ErrInvalidFilter, f.Limit, maxSearchLimit)
	}
	examined := 0
	for left := f.Limit; left > 0; {
		q := f
		q.Limit = min(left, c.rows)
		var upto *Key
		if probe != nil {
			if examined >= searchBudget && f.After != nil {
				return &SearchBoundError{Resume: *f.After, Examined: examined}
			}
			var err error
			if upto, err = probe(&q, searchWindow-1); err != nil {
				return err
			}
		}
		rows, cut, err := read(&q, upto)
		if err != nil {
			return err
		}
		var last Row
		if len(rows) > 0 {
			last = rows[len(rows)-1]
		}
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
			rows[i] = Row{} // served: its memory may go
		}
		left -= len(rows)
		if !cut && len(rows) < q.Limit {
			if upto == nil {
				return nil // nothing matches past these
			}
			examined += searchWindow
			after := *upto
			f.After = &after
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, last.TS)
		if err != nil {
			return fmt.Errorf("row %s/%d: stored ts is not a time: %w", last.Chain, last.Seq, err)
		}
		f.After = &Key{TS: ts, Chain: last.Chain, Seq: last.Seq}
	}
	return nil
}

// parseKey is the position of a row read by a probe.
func parseKey(ts, chain string, seq int64) (*Key, error) {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, fmt.Errorf("row %s/%d: stored ts is not a time: %w", chain, seq, err)
	}
	if seq < 1 {
		return nil, fmt.Errorf("row %s/%d: stored seq out of range", chain, seq)
	}
	return &Key{TS: t.UTC(), Chain: chain, Seq: uint64(seq)}, nil
}

// sqliteDialectIndexed is the SQL of a SQLite store with the query
// indexes (QueryIndexes) of user and session that it has: a user or
// session without its index is searched window by window on the time
// index (searchEach), never by one statement that could read the whole
// table. sqliteDialect is that of a store with both.
func sqliteDialectIndexed(user, session bool) dialect {
	d := sqliteDialect
	d.leads = []string{"trace"}
	if session {
		d.leads = append(d.leads, "session")
	}
	if user {
		d.leads = append(d.leads, "user")
	}
	d.leads = append(d.leads, "tenant")
	d.residual = func(f *Filter) bool {
		return (!user && f.User != "") || (!session && f.Session != "") || sqliteDialect.residual(f)
	}
	return d
}

// traceSQL is the query of f, whose trace is set, in a store that keeps
// the positions of each trace's records in audit_trace_index (SQLite,
// schema 4) instead of an index of audit_records, whose inserts land all
// over it: trace ids are random, and each batch dirtied a page of that
// index per trace it held, most of them not in SQLite's cache (a third of
// the end-to-end rate). The table is filled in sorted batches of the rows
// past audit_trace_indexed.through (see SQLite.indexTraces), so a trace's
// records are those it lists and those past the watermark:
//
//   - the first, walked in the query order from the position f asks
//     (its ts, chain and seq are audit_records', so the bounds seek it),
//     joined to their rows, which w's conditions check, and cut at the
//     page's size (offset+1 for a probe);
//   - the others, found by rowid (at most a batch of the table's newest
//     rows), which w's conditions check.
//
// The rows of both, at most a page and a batch, are sorted and cut to
// the page: no query reads more of a trace than its page. w is f's
// search condition; cols are the columns returned; offset, for a probe,
// the position of the row returned (its LIMIT 1).
func traceSQL(f *Filter, w *where, upto *Key, cols string, offset int) (string, []any, error) {
	x := &where{d: w.d}
	x.add(`t_trace = %s`, f.Trace)
	x.addBounds(f, upto, "t_ts", "(t_ts, t_chain, t_seq)")
	cut := f.Limit
	if cols != rowColumns {
		cut = offset + 1
	}
	var b strings.Builder
	var args []any
	b.WriteString(`SELECT ` + cols + ` FROM audit_records WHERE rowid IN (SELECT rid FROM (` +
		`SELECT audit_records.rowid AS rid FROM audit_trace_index CROSS JOIN audit_records ` +
		`ON chain = t_chain AND seq = t_seq WHERE ` + strings.Join(x.conds, ` AND `))
	args = append(args, x.args...)
	for _, c := range w.conds {
		b.WriteString(` AND ` + c)
	}
	args = append(args, w.args...)
	b.WriteString(` ORDER BY t_ts, t_chain, t_seq LIMIT ?) UNION ALL ` +
		`SELECT rowid FROM audit_records NOT INDEXED WHERE rowid > (SELECT through FROM audit_trace_indexed)`)
	args = append(args, cut)
	for _, c := range w.conds {
		b.WriteString(` AND ` + c)
	}
	args = append(args, w.args...)
	b.WriteString(`) ORDER BY ts, chain, seq LIMIT ?`)
	if cols != rowColumns {
		b.WriteString(` OFFSET ?`)
		args = append(args, 1, offset)
	} else {
		args = append(args, f.Limit)
	}
	return b.String(), args, nil
}

package sink

import (
	"fmt"
	"math"
	"strconv"
	"strings"

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

package record

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/fips-agents/audit-sidecar/internal/jsonscan"
)

// Columns are the indexed columns of a payload: the top-level strings that
// sinks store beside it for queries, and that verification compares with
// the payload. IndexColumns lists them.
type Columns struct {
	// TS and IngestedAt are the payload's strings, in TimeLayout.
	TS, IngestedAt                                                    string
	Action, User, Tenant, Agent, Session, Trace, Model, Tool, Outcome string
	Approver, Kid                                                     string
}

// Column is one of the indexed columns.
type Column struct {
	// Name is the column's name in the sinks' tables, and the payload's
	// key it is taken from.
	Name string
	// Time says the value is a time, in TimeLayout.
	Time bool
	// In returns where c holds the column's value.
	In func(c *Columns) *string
	// Of is the column's value for r, as r's payload holds it.
	Of func(r *Record) string
}

// IndexColumns are the indexed columns in the order sinks store them,
// after chain and seq and before prev, mac and payload. This list is the
// one definition of them: Index, ColumnsOf, the sinks' statements and
// verification's comparison of the stored columns with the payload are
// all made from it. (The tables' DDL is written out in the schemas; the
// sinks' tests check it against this list.)
var IndexColumns = []Column{
	{"ts", true, func(c *Columns) *string { return &c.TS }, func(r *Record) string { return FormatTime(r.TS) }},
	{"ingested_at", true, func(c *Columns) *string { return &c.IngestedAt }, func(r *Record) string { return FormatTime(r.IngestedAt) }},
	{"action", false, func(c *Columns) *string { return &c.Action }, func(r *Record) string { return r.Action }},
	{"user", false, func(c *Columns) *string { return &c.User }, func(r *Record) string { return r.User }},
	{"tenant", false, func(c *Columns) *string { return &c.Tenant }, func(r *Record) string { return r.Tenant }},
	{"agent", false, func(c *Columns) *string { return &c.Agent }, func(r *Record) string { return r.Agent }},
	{"session", false, func(c *Columns) *string { return &c.Session }, func(r *Record) string { return r.Session }},
	{"trace", false, func(c *Columns) *string { return &c.Trace }, func(r *Record) string { return r.Trace }},
	{"model", false, func(c *Columns) *string { return &c.Model }, func(r *Record) string { return r.Model }},
	{"tool", false, func(c *Columns) *string { return &c.Tool }, func(r *Record) string { return r.Tool }},
	{"outcome", false, func(c *Columns) *string { return &c.Outcome }, func(r *Record) string { return r.Outcome }},
	{"approver", false, func(c *Columns) *string { return &c.Approver }, func(r *Record) string { return r.Approver }},
	{"kid", false, func(c *Columns) *string { return &c.Kid }, func(r *Record) string { return r.Kid }},
}

// columnByKey finds an entry of IndexColumns by its payload key, quoted
// as it is written in the payload.
var columnByKey = func() map[string]*Column {
	m := make(map[string]*Column, len(IndexColumns))
	for i := range IndexColumns {
		m[strconv.Quote(IndexColumns[i].Name)] = &IndexColumns[i]
	}
	return m
}()

// SetFrom sets c to r's indexed columns, as r's payload holds them.
func (c *Columns) SetFrom(r *Record) {
	for i := range IndexColumns {
		col := &IndexColumns[i]
		*col.In(c) = col.Of(r)
	}
}

// SetFromTimes is SetFrom with r's TS and IngestedAt given as already
// formatted (FormatTime): the sealer formats them once for the payload
// and the columns.
func (c *Columns) SetFromTimes(r *Record, ts, ingestedAt string) {
	for i := range IndexColumns {
		col := &IndexColumns[i]
		switch {
		case !col.Time:
			*col.In(c) = col.Of(r)
		case col.Name == "ts":
			*col.In(c) = ts
		default:
			*col.In(c) = ingestedAt
		}
	}
}

// ColumnsOf returns r's indexed columns, as its payload holds them.
func ColumnsOf(r *Record) Columns {
	var c Columns
	c.SetFrom(r)
	return c
}

// Indexed is what Index decodes of a payload: its chain position, its
// indexed columns and its prev (hex), the columns a sink stores beside
// the payload and its MAC.
type Indexed struct {
	Chain string
	Seq   uint64
	Columns
	Prev string
	// PrevMAC is Prev decoded, when HasPrevMAC: the sealer sets it, so
	// that sinks need not decode Prev again. Index does not.
	PrevMAC    [32]byte
	HasPrevMAC bool
}

// indexInterners hold the values Index decoded before: the chain, the
// action, user, tenant, session, model, tool... repeat from record to
// record, and a sink decodes thousands a second (one string allocated per
// field before).
var indexInterners = sync.Pool{New: func() any { return new(jsonscan.Interner) }}

// Index decodes the top-level scalar fields of a payload (chain, seq,
// the indexed columns, prev) in one pass, for sinks that extract index
// columns on the write path. Times must be in TimeLayout, the only form
// the sealer writes, and are returned as written. It does not check that
// the rest of the payload is canonical: verification uses Parse.
func Index(payload []byte) (Indexed, error) {
	var c Indexed
	in := indexInterners.Get().(*jsonscan.Interner)
	defer indexInterners.Put(in)
	err := jsonscan.Object(payload, func(rawKey, val []byte) error {
		var dst *string
		isTime := false
		switch string(rawKey) {
		case `"seq"`:
			n, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil {
				return fmt.Errorf("%s: not an unsigned integer", rawKey)
			}
			c.Seq = n
			return nil
		case `"chain"`:
			dst = &c.Chain
		case `"prev"`:
			dst = &c.Prev
		default:
			col, ok := columnByKey[string(rawKey)]
			if !ok {
				return nil
			}
			dst, isTime = col.In(&c.Columns), col.Time
		}
		var s string
		var err error
		if isTime || dst == &c.Prev {
			s, err = jsonscan.Unquote(val) // one of a kind: not worth keeping
		} else {
			s, err = jsonscan.UnquoteIn(val, in)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", rawKey, err)
		}
		if isTime {
			if _, ok := layoutTime(s); !ok {
				return fmt.Errorf("%s: not an RFC 3339 time in the payload layout (UTC, 9 fraction digits)", rawKey)
			}
		}
		*dst = s
		return nil
	})
	if err != nil {
		return Indexed{}, fmt.Errorf("decode payload: %w", err)
	}
	if c.Chain == "" || c.Seq == 0 || c.Action == "" || c.TS == "" {
		return Indexed{}, errors.New("decode payload: chain, seq, ts or action missing")
	}
	return c, nil
}

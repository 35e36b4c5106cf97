package sink

import (
	"encoding/hex"
	"math"
	"strings"

	"github.com/fips-agents/audit-sidecar/record"
)

// rowsOf is rowOf for each record of batch, stopping at the first error.
func rowsOf(batch []record.Sealed) ([]Row, error) {
	rows := make([]Row, len(batch))
	for i := range batch {
		r, err := rowOf(&batch[i])
		if err != nil {
			return nil, err
		}
		rows[i] = r
	}
	return rows, nil
}

// rowOf extracts the query columns of s from its payload, which is the
// authority: nothing is taken from s but the payload, the MAC and the
// sealer's Columns (which are the payload's), and the payload must name
// the same chain position as s. Payload and MAC of the returned Row alias
// s.
//
// Errors are *RecordError wrapping ErrBadRecord, with a reason that never
// quotes the payload.
func rowOf(s *record.Sealed) (Row, error) {
	bad := func(reason string) (Row, error) {
		return Row{}, &RecordError{Chain: s.Chain, Seq: s.Seq, Reason: reason, Err: ErrBadRecord}
	}
	if s.Seq == 0 || s.Seq > math.MaxInt64 {
		// SQLite and PostgreSQL integers are signed 64-bit.
		return bad("seq out of range")
	}
	// Index decodes the top-level fields in one pass; whether the payload
	// is canonical is verification's question (record.Parse), not the
	// write path's: the sealer only produces canonical payloads, and
	// verify checks every stored column against the payload.
	var r record.Indexed
	if s.Indexed != nil {
		r = *s.Indexed
	} else {
		var err error
		if r, err = record.Index(s.Payload); err != nil {
			return bad(parseReason(err))
		}
	}
	if r.Chain != s.Chain || r.Seq != s.Seq {
		return bad("payload names another chain position")
	}
	var prev []byte
	if s.Indexed != nil && s.Indexed.HasPrevMAC && prevIsHexOf(r.Prev, &s.Indexed.PrevMAC) {
		prev = s.Indexed.PrevMAC[:] // the sealer's; Prev is its hex
	} else if p, err := hex.DecodeString(r.Prev); err == nil && len(p) == 32 {
		prev = p
	} else {
		return bad("payload prev is not 32 hex-encoded bytes")
	}
	return Row{Chain: r.Chain, Seq: r.Seq, Columns: r.Columns, Prev: prev, MAC: s.MAC[:], Payload: s.Payload}, nil
}

// prevIsHexOf reports whether prev is mac in lower-case hex, as the
// payload writes it: the prev column stored is the payload's, whatever
// an Indexed says it decodes to. (Encoding 32 bytes costs no allocation.)
func prevIsHexOf(prev string, mac *[32]byte) bool {
	if len(prev) != 2*len(mac) {
		return false
	}
	var h [64]byte
	hex.Encode(h[:], mac[:])
	return string(h[:]) == prev
}

// The columns of audit_records that Write stores and Scan and Search
// read, in this order: chain, seq, the indexed columns
// (record.IndexColumns), prev, mac, payload. Every statement that names
// them all is built from this list: rowColumns, insertSQL and rowArgs,
// rowDest, and the PostgreSQL sink's COPY, staging table and quarantine
// scan.
var (
	// pgColumns are the names, unquoted (pgx quotes them for COPY).
	pgColumns = func() []string {
		out := []string{"chain", "seq"}
		for _, c := range record.IndexColumns {
			out = append(out, c.Name)
		}
		return append(out, "prev", "mac", "payload")
	}()
	// rowColumns are the names as a select list, in SQL.
	rowColumns = func() string {
		q := make([]string, len(pgColumns))
		for i, c := range pgColumns {
			q[i] = sqlIdent(c)
		}
		return strings.Join(q, ", ")
	}()
)

// sqlIdent is column name c as SQL text: "user", a reserved word in
// PostgreSQL, is quoted (SQLite takes the same quotes); the other names
// need none.
func sqlIdent(c string) string {
	if c == "user" {
		return `"user"`
	}
	return c
}

// rowArgs appends r's values in the order of pgColumns.
func rowArgs(dst []any, r *Row) []any {
	dst = append(dst, r.Chain, int64(r.Seq))
	for i := range record.IndexColumns {
		dst = append(dst, *record.IndexColumns[i].In(&r.Columns))
	}
	return append(dst, r.Prev, r.MAC, r.Payload)
}

// rowDest is where a row selected with rowColumns is scanned to: r's
// fields, the seq to *seq (SQL integers are signed).
func rowDest(r *Row, seq *int64) []any {
	dst := make([]any, 0, len(pgColumns)+1)
	dst = append(dst, &r.Chain, seq)
	for i := range record.IndexColumns {
		dst = append(dst, record.IndexColumns[i].In(&r.Columns))
	}
	return append(dst, &r.Prev, &r.MAC, &r.Payload)
}

// parseReason describes a record.Index error. Its messages name the field
// and the byte offset, never payload text.
func parseReason(err error) string {
	return strings.TrimPrefix(err.Error(), "decode payload: ")
}

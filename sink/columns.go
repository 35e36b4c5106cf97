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
	var r record.Columns
	if s.Columns != nil {
		r = *s.Columns
	} else {
		var err error
		if r, err = record.Index(s.Payload); err != nil {
			return bad(parseReason(err))
		}
	}
	if r.Chain != s.Chain || r.Seq != s.Seq {
		return bad("payload names another chain position")
	}
	prev, err := hex.DecodeString(r.Prev)
	if err != nil || len(prev) != 32 {
		return bad("payload prev is not 32 hex-encoded bytes")
	}
	return Row{
		Chain:      r.Chain,
		Seq:        r.Seq,
		TS:         r.TS,
		IngestedAt: r.IngestedAt,
		Action:     r.Action,
		User:       r.User,
		Tenant:     r.Tenant,
		Agent:      r.Agent,
		Session:    r.Session,
		Trace:      r.Trace,
		Model:      r.Model,
		Tool:       r.Tool,
		Outcome:    r.Outcome,
		Approver:   r.Approver,
		Kid:        r.Kid,
		Prev:       prev,
		MAC:        s.MAC[:],
		Payload:    s.Payload,
	}, nil
}

// parseReason describes a record.Index error. Its messages name the field
// and the byte offset, never payload text.
func parseReason(err error) string {
	return strings.TrimPrefix(err.Error(), "decode payload: ")
}

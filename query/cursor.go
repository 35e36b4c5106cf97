package query

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// cursorVersion is written in every cursor so that the encoding can change
// without misreading old cursors.
const cursorVersion = 1

// bindingSize is the length of the filter binding: half a SHA-256.
const bindingSize = sha256.Size / 2

// maxCursorLen bounds the work done on a cursor parameter.
const maxCursorLen = 4096

var errBadCursor = errors.New("malformed")

// cursor is the decoded form of next_cursor: the position of the last
// record served and a binding to the filters of the query that served it.
type cursor struct {
	V      int    `json:"v"`
	TS     string `json:"ts"` // record.TimeLayout
	Chain  string `json:"chain"`
	Seq    uint64 `json:"seq"`
	Filter string `json:"f"` // hex of filterBinding
}

// encodeCursor returns the opaque cursor for the position of row under
// filter f: base64url (no padding) of a small JSON object.
func encodeCursor(row *sink.Row, f *sink.Filter) (string, error) {
	ts, err := time.Parse(time.RFC3339Nano, row.TS)
	if err != nil {
		return "", err
	}
	b := filterBinding(f)
	data, err := json.Marshal(cursor{
		V: cursorVersion, TS: record.FormatTime(ts), Chain: row.Chain, Seq: row.Seq,
		Filter: hex.EncodeToString(b[:]),
	})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(data), nil
}

// decodeCursor parses a cursor without checking its filter binding, which
// depends on the effective filter (after tenant scoping).
func decodeCursor(s string) (*cursor, error) {
	if len(s) > maxCursorLen {
		return nil, errBadCursor
	}
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c cursor
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, errBadCursor
	}
	// The stores keep seq as a signed 64-bit integer: a larger seq names
	// no record, and no store can take it as a position.
	if c.V != cursorVersion || c.Chain == "" || c.Seq == 0 || c.Seq > math.MaxInt64 ||
		len(c.Filter) != hex.EncodedLen(bindingSize) {
		return nil, errBadCursor
	}
	if _, err := hex.DecodeString(c.Filter); err != nil {
		return nil, errBadCursor
	}
	// A year outside 0001..9999 in UTC would compare wrongly with the
	// stored times (see ParseTime); encodeCursor never writes one.
	if _, err := ParseTime(c.TS); err != nil {
		return nil, errBadCursor
	}
	return &c, nil
}

// key returns the keyset position the cursor points at.
func (c *cursor) key() *sink.Key {
	ts, _ := ParseTime(c.TS) // checked by decodeCursor
	return &sink.Key{TS: ts, Chain: c.Chain, Seq: c.Seq}
}

// matches reports whether the cursor was issued for filter f.
func (c *cursor) matches(f *sink.Filter) bool {
	b := filterBinding(f)
	return c.Filter == hex.EncodeToString(b[:])
}

// filterBinding is a hash of every filter of a query except the page
// position and size, so that a cursor cannot be replayed with other
// filters. It is not a secret: the cursor carries no authority, the token
// and its tenant scope are checked on every request.
func filterBinding(f *sink.Filter) [bindingSize]byte {
	h := sha256.New()
	field := func(name, v string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(name)))
		h.Write(n[:])
		h.Write([]byte(name))
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	field("cursor", "v1")
	field("from", formatBound(f.From))
	field("to", formatBound(f.To))
	field("tenant", f.Tenant)
	field("user", f.User)
	field("action", f.Action)
	field("tool", f.Tool)
	field("outcome", f.Outcome)
	field("model", f.Model)
	field("session", f.Session)
	field("chain", f.Chain)
	if f.CallID != "" { // bound only when set: older cursors stay valid
		field("call_id", f.CallID)
	}
	if f.Trace != "" { // the same: added after cursors were issued
		field("trace", f.Trace)
	}
	var out [bindingSize]byte
	copy(out[:], h.Sum(nil))
	return out
}

func formatBound(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return record.FormatTime(t)
}

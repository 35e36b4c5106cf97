package parse

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/internal/jsonscan"
	"github.com/fips-agents/audit-sidecar/record"
)

// fields collects the members of a detail object; object() encodes them
// sorted by key, so that a parse is deterministic.
type fields []member

// str adds a string member; an empty string is left out.
func (f *fields) str(k, v string) {
	if v != "" {
		*f = append(*f, member{k, quote(v)})
	}
}

// raw adds a JSON value, compacted; empty and null values are left out,
// and a value that is not JSON is kept as a string.
func (f *fields) raw(k string, v []byte) {
	if c := compact(v); c != nil {
		*f = append(*f, member{k, c})
	}
}

// val adds any Go value, encoded as JSON; nil is left out.
func (f *fields) val(k string, v any) {
	if v == nil {
		return
	}
	b, err := marshal(v)
	if err != nil || string(b) == "null" {
		return
	}
	*f = append(*f, member{k, b})
}

// object encodes the members sorted by key (the last of equal keys wins),
// or nil when there are none.
func (f fields) object() json.RawMessage {
	if len(f) == 0 {
		return nil
	}
	ms := slices.Clone([]member(f))
	slices.SortStableFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out := ms[:0]
	for _, m := range ms {
		if n := len(out); n > 0 && out[n-1].key == m.key {
			out[n-1] = m
			continue
		}
		out = append(out, m)
	}
	return object(out)
}

// compact returns v compacted, nil for an empty or null value, and v as a
// JSON string when it is not valid JSON.
func compact(v []byte) json.RawMessage {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return quote(string(v))
	}
	return b.Bytes()
}

// marshal encodes v without HTML escaping.
func marshal(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// jsonString returns s itself when it holds a JSON object or array (as a
// tool's arguments often do), else s as a JSON string; nil for "".
func jsonString(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil
	}
	if (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
		return compact([]byte(t))
	}
	return quote(s)
}

// unquoteOr returns the string a JSON string value holds, or the value's
// text for numbers and booleans, or "" for anything else.
func unquoteOr(v json.RawMessage) string {
	s, err := scalar(bytes.TrimSpace(v))
	if err != nil {
		return ""
	}
	return s
}

// newRecord starts a record of action at ts (zero: the ingestion time).
func newRecord(action string, ts time.Time) *record.Record {
	if !ts.IsZero() {
		ts = ts.UTC()
	}
	return &record.Record{Action: action, TS: ts}
}

// detailGet returns the raw value of key in a detail object, or nil.
func detailGet(d json.RawMessage, key string) json.RawMessage {
	var out json.RawMessage
	if d == nil {
		return nil
	}
	jsonscan.Object(d, func(k, v []byte) error { //nolint:errcheck // a bad detail has no such key
		if s, err := jsonscan.Unquote(k); err == nil && s == key {
			out = v
		}
		return nil
	})
	return out
}

// addDetail sets key to val in r's detail object, keeping keys sorted.
func addDetail(r *record.Record, key string, val json.RawMessage) {
	var f fields
	if r.Detail != nil {
		err := jsonscan.Object(r.Detail, func(k, v []byte) error {
			s, err := jsonscan.Unquote(k)
			if err != nil {
				return err
			}
			f = append(f, member{s, v})
			return nil
		})
		if err != nil {
			f = fields{{"detail", r.Detail}}
		}
	}
	f = append(f, member{key, val})
	r.Detail = f.object()
}

// unixNano parses a decimal count of nanoseconds since the epoch.
func unixNano(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' || n > (1<<63-1)/10-10 {
			return time.Time{}, false
		}
		n = n*10 + int64(c-'0')
	}
	return time.Unix(0, n).UTC(), true
}

// parseTime reads an RFC 3339 time, with or without a zone (Python's
// isoformat() of a naive time, taken as UTC).
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

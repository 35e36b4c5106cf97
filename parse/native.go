package parse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fips-agents/audit-sidecar/internal/jsonscan"
	"github.com/fips-agents/audit-sidecar/record"
)

// MaxRawBytes caps the raw text kept in a parse_error record.
const MaxRawBytes = 4096

// Line is one line of input with what is known about where it came from.
type Line struct {
	Text []byte
	// FullLen and FullSHA256 describe the whole line when Text holds only
	// its first bytes (the tailer caps huge lines); FullLen 0 means Text is
	// the whole line.
	FullLen    int64
	FullSHA256 [32]byte
	Source     record.Source
}

// Native parses a native-dialect line. It always returns a record: the
// event, or a parse_error record describing why the line is not one.
// IngestedAt is set to now; TS falls back to now when the event has none.
func Native(l Line, now time.Time) *record.Record {
	if l.FullLen > int64(len(l.Text)) { // not read: its members would cost memory for nothing
		return ParseError(l, now, fmt.Errorf("line of %d bytes exceeds the line limit", l.FullLen))
	}
	r, err := native(l.Text, now)
	if err != nil {
		r = ParseError(l, now, err)
	}
	src := l.Source
	r.Source = &src
	return r
}

// keySet is a set of keys that lives on the stack while it is small: a
// line's first keys are compared in a list (lines have a few dozen), and
// only a line with more moves to a map, so that a hostile line of many
// keys costs linear time.
type keySet struct {
	n    int
	list [32]string
	m    map[string]struct{}
}

// add adds k and reports whether it was new.
func (s *keySet) add(k string) bool {
	if s.m == nil {
		if slices.Contains(s.list[:s.n], k) {
			return false
		}
		if s.n < len(s.list) {
			s.list[s.n] = k
			s.n++
			return true
		}
		s.m = make(map[string]struct{}, 2*len(s.list))
		for _, x := range s.list {
			s.m[x] = struct{}{}
		}
	}
	if _, dup := s.m[k]; dup {
		return false
	}
	s.m[k] = struct{}{}
	return true
}

// member is one top-level key (decoded) and its raw value.
type member struct {
	key string
	val []byte
}

// nativeState is what parsing one line reuses from the last: the strings
// of keys and field values that repeat from line to line (see
// jsonscan.Interner) and the detail's members. One is taken from
// nativeStates per line parsed.
type nativeState struct {
	in     jsonscan.Interner
	detail []member
}

var nativeStates = sync.Pool{New: func() any { return new(nativeState) }}

func native(text []byte, now time.Time) (*record.Record, error) {
	st := nativeStates.Get().(*nativeState)
	in := &st.in
	detail := st.detail[:0]
	defer func() {
		clear(detail) // the members point into the line
		if cap(detail) <= 256 {
			st.detail = detail[:0]
		} else {
			st.detail = nil // a big one is not kept (nor what it pointed at)
		}
		nativeStates.Put(st)
	}()
	text = bytes.TrimRight(text, "\r")
	r := &record.Record{IngestedAt: now, TS: now}
	var (
		seen        keySet
		action, ts  []byte
		actionField string
	)
	err := jsonscan.Object(text, func(rawKey, val []byte) error {
		k, err := scalarIn(rawKey, in)
		if err != nil {
			return err
		}
		if !seen.add(k) {
			return fmt.Errorf("duplicate key %q", k)
		}
		var dst *string
		switch k {
		case "action", "type", "event":
			if action == nil {
				action, actionField = val, k
			} else {
				detail = append(detail, member{k, val})
			}
			return nil
		case "ts":
			ts = val
			return nil
		case "arguments":
			if string(val) != "null" {
				r.Arguments = val
			}
			return nil
		case "user":
			dst = &r.User
		case "tenant":
			dst = &r.Tenant
		case "agent":
			dst = &r.Agent
		case "session", "session_id":
			dst = &r.Session
		case "trace", "trace_id":
			dst = &r.Trace
		case "model":
			dst = &r.Model
		case "tool":
			dst = &r.Tool
		case "outcome":
			dst = &r.Outcome
		case "approver":
			dst = &r.Approver
		default:
			detail = append(detail, member{k, val})
			return nil
		}
		if *dst != "" { // session and session_id both given: keep the second in detail
			detail = append(detail, member{k, val})
			return nil
		}
		s, err := scalarIn(val, in)
		if err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
		*dst = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	a, err := scalarIn(action, in)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", actionField, err)
	}
	if a == "" {
		return nil, errors.New("no action (or type, event) field")
	}
	r.Action = a
	if !record.IsAction(a) || isSidecarAction(a) {
		r.Action = record.ActionOther
		detail = append(detail, member{"action", quote(a)})
	}
	if r.Outcome != "" && !record.IsOutcome(r.Outcome) {
		detail = append(detail, member{"outcome", quote(r.Outcome)})
		r.Outcome = "unknown"
	}
	if ts != nil {
		s, err := scalar(ts)
		if err != nil {
			return nil, fmt.Errorf("field \"ts\": %w", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, errors.New("field \"ts\": not an RFC 3339 time")
		}
		r.TS = t.UTC()
	}
	if len(detail) > 0 {
		slices.SortFunc(detail, func(a, b member) int { return strings.Compare(a.key, b.key) })
		r.Detail = object(detail)
	}
	return r, nil
}

// isSidecarAction reports the actions only the sidecar may write: an agent
// cannot forge a sidecar_stop or retention_purge record.
func isSidecarAction(a string) bool {
	switch a {
	case record.ActionChainStart, record.ActionParseError, record.ActionCheckpoint,
		record.ActionKeyRotation, record.ActionRetentionPurge, record.ActionSidecarStart,
		record.ActionSidecarStop, record.ActionGap:
		return true
	}
	return false
}

// scalar returns a JSON string's value, or a number's or boolean's text.
func scalar(v json.RawMessage) (string, error) { return scalarIn(v, nil) }

// scalarIn is scalar with strings without escapes taken from in, when not
// nil.
func scalarIn(v json.RawMessage, in *jsonscan.Interner) (string, error) {
	if len(v) == 0 {
		return "", nil
	}
	switch v[0] {
	case '"':
		if in != nil {
			return jsonscan.UnquoteIn(v, in)
		}
		return jsonscan.Unquote(v)
	case '{', '[':
		return "", errors.New("must be a string")
	case 'n':
		return "", nil
	default:
		return string(v), nil
	}
}

func quote(s string) json.RawMessage { return record.AppendString(nil, s) }

// object encodes members as a JSON object, in the given order.
func object(ms []member) json.RawMessage {
	n := 2
	for _, m := range ms {
		n += len(m.key) + len(m.val) + 4
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = record.AppendString(out, m.key)
		out = append(out, ':')
		out = append(out, m.val...)
	}
	return append(out, '}')
}

// ParseError builds the parse_error record for a line that could not be
// parsed. The raw text it keeps is unredacted: redaction must run on the
// record's detail like on any other.
func ParseError(l Line, now time.Time, cause error) *record.Record {
	full := int64(len(l.Text))
	sum := sha256.Sum256(l.Text)
	if l.FullLen > full {
		full, sum = l.FullLen, l.FullSHA256
	}
	raw := strings.ToValidUTF8(string(capRaw(l.Text)), "\uFFFD")
	ms := []member{
		{"error", quote(cause.Error())},
		{"raw", quote(raw)},
		{"raw_bytes", []byte(strconv.FormatInt(full, 10))},
		{"raw_sha256", quote(hex.EncodeToString(sum[:]))},
	}
	if int64(len(raw)) < full {
		ms = append(ms, member{"raw_truncated", []byte("true")})
	}
	src := l.Source
	return &record.Record{
		TS: now, IngestedAt: now, Action: record.ActionParseError,
		Detail: object(ms), Source: &src,
	}
}

// capRaw cuts text to MaxRawBytes, then back to the last separator in the
// last 256 bytes, so that a PII literal straddling the cut does not survive
// as a prefix too short to be recognised.
func capRaw(text []byte) []byte {
	if len(text) <= MaxRawBytes {
		return text
	}
	cut := text[:MaxRawBytes]
	for i := len(cut) - 1; i >= MaxRawBytes-256; i-- {
		switch cut[i] {
		case ' ', '"', ',', '{', '}', '[', ']', '\t', ';':
			return cut[:i+1]
		}
	}
	return cut[:MaxRawBytes-256]
}

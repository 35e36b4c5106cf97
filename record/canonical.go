package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fips-agents/audit-sidecar/internal/jsonscan"
)

// TimeLayout is the payload's time format: RFC 3339, UTC, nine fractional
// digits, so that times compare correctly as strings.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// Fields lists the payload's top-level keys in their canonical order.
var Fields = []string{
	"v", "chain", "seq", "ts", "ingested_at", "action", "user", "tenant",
	"agent", "session", "trace", "model", "tool", "arguments", "outcome",
	"approver", "detail", "redactions", "source", "kid", "epoch", "prev",
}

// isSHA256Hex reports whether s is 64 lower-case hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ErrNotCanonical reports a payload that parses but is not the canonical
// encoding of what it contains.
var ErrNotCanonical = errors.New("payload is not canonical")

// parseTime reads a time in TimeLayout without the generic parser (the
// payload's times are fixed-width); anything else goes to time.Parse, so
// that a non-canonical time still decodes (and fails the canonical check).
func parseTime(s string) (time.Time, error) {
	if t, ok := layoutTime(s); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

// layoutTime reads s if it is a time written in TimeLayout, exactly as
// FormatTime writes it.
func layoutTime(s string) (time.Time, bool) {
	if len(s) != len(TimeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[29] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, j int) int {
		n := 0
		for ; i < j; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec, ns := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19), num(20, 29)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h >= 24 || mi < 0 || mi >= 60 || sec < 0 || sec >= 60 || ns < 0 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	return t, t.Day() == d // not normalised from an impossible date
}

// FormatTime formats t in TimeLayout.
func FormatTime(t time.Time) string {
	var b [len(TimeLayout)]byte
	return string(AppendTime(b[:0], t))
}

// AppendTime appends t in TimeLayout, as t.UTC().AppendFormat(dst,
// TimeLayout) does, without interpreting the layout: every record's two
// times go through it.
func AppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, TimeLayout)
	}
	h, mi, sec := t.Clock()
	digits := func(dst []byte, v, n int) []byte {
		for i := n - 1; i >= 0; i-- {
			dst[i] = byte('0' + v%10)
			v /= 10
		}
		return dst[n:]
	}
	k := len(dst)
	dst = append(dst, "0000-00-00T00:00:00.000000000Z"...)
	b := dst[k:]
	b = digits(b, y, 4)[1:]
	b = digits(b, int(mo), 2)[1:]
	b = digits(b, d, 2)[1:]
	b = digits(b, h, 2)[1:]
	b = digits(b, mi, 2)[1:]
	b = digits(b, sec, 2)[1:]
	digits(b, t.Nanosecond(), 9)
	return dst
}

// AppendCanonical appends the canonical payload of r to dst.
func AppendCanonical(dst []byte, r *Record) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(r.V), 10)
	dst = appendStringField(dst, "chain", r.Chain, true)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"ts":"`...)
	dst = AppendTime(dst, r.TS)
	dst = append(dst, `","ingested_at":"`...)
	dst = AppendTime(dst, r.IngestedAt)
	dst = append(dst, '"')
	dst = appendStringField(dst, "action", r.Action, true)
	dst = appendStringField(dst, "user", r.User, false)
	dst = appendStringField(dst, "tenant", r.Tenant, false)
	dst = appendStringField(dst, "agent", r.Agent, false)
	dst = appendStringField(dst, "session", r.Session, false)
	dst = appendStringField(dst, "trace", r.Trace, false)
	dst = appendStringField(dst, "model", r.Model, false)
	dst = appendStringField(dst, "tool", r.Tool, false)
	if len(r.Arguments) > 0 {
		dst = append(dst, `,"arguments":`...)
		dst = append(dst, r.Arguments...)
	}
	dst = appendStringField(dst, "outcome", r.Outcome, false)
	dst = appendStringField(dst, "approver", r.Approver, false)
	if len(r.Detail) > 0 {
		dst = append(dst, `,"detail":`...)
		dst = append(dst, r.Detail...)
	}
	if r.V >= 2 {
		dst = appendManifest(dst, r.Manifest)
	} else if len(r.Redactions) > 0 {
		dst = append(dst, `,"redactions":{`...)
		keys := make([]string, 0, len(r.Redactions))
		for k := range r.Redactions {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, k)
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, int64(r.Redactions[k]), 10)
		}
		dst = append(dst, '}')
	}
	if s := r.Source; s != nil {
		dst = append(dst, `,"source":{"file":`...)
		dst = AppendString(dst, s.File)
		dst = append(dst, `,"dev":`...)
		dst = strconv.AppendUint(dst, s.Dev, 10)
		dst = append(dst, `,"ino":`...)
		dst = strconv.AppendUint(dst, s.Ino, 10)
		dst = append(dst, `,"offset":`...)
		dst = strconv.AppendInt(dst, s.Offset, 10)
		if s.RawSHA256 != "" {
			dst = append(dst, `,"raw_sha256":`...)
			dst = AppendString(dst, s.RawSHA256)
		}
		dst = append(dst, '}')
	}
	dst = appendStringField(dst, "kid", r.Kid, true)
	if r.Epoch > 0 {
		dst = append(dst, `,"epoch":`...)
		dst = strconv.AppendUint(dst, r.Epoch, 10)
	}
	dst = appendStringField(dst, "prev", r.Prev, true)
	return append(dst, '}')
}

// appendManifest appends the version 2 "redactions" member:
// {"policy":s,"rules":[{"rule":s,"type":s,"count":n,"paths":[s...],"more":n}...]}
// with "paths" omitted when empty and "more" when 0.
func appendManifest(dst []byte, m *Manifest) []byte {
	if m == nil || len(m.Rules) == 0 {
		return dst
	}
	dst = append(dst, `,"redactions":{"policy":`...)
	dst = AppendString(dst, m.Policy)
	dst = append(dst, `,"rules":[`...)
	for i, rh := range m.Rules {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"rule":`...)
		dst = AppendString(dst, rh.Rule)
		dst = append(dst, `,"type":`...)
		dst = AppendString(dst, rh.Type)
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, int64(rh.Count), 10)
		if len(rh.Paths) > 0 {
			dst = append(dst, `,"paths":[`...)
			for j, p := range rh.Paths {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = AppendString(dst, p)
			}
			dst = append(dst, ']')
		}
		if rh.More > 0 {
			dst = append(dst, `,"more":`...)
			dst = strconv.AppendInt(dst, int64(rh.More), 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func appendStringField(dst []byte, name, v string, always bool) []byte {
	if v == "" && !always {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return AppendString(dst, v)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string: '"' and '\' are escaped with a
// backslash; \n, \r and \t by their short forms; every other byte below 0x20
// as \u00XX (lower-case hex); invalid UTF-8 becomes U+FFFD; everything else,
// including '<', '>', '&', U+2028 and U+2029, is written as is.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendEscaped(dst, s)
	return append(dst, '"')
}

// plain marks the ASCII bytes written as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendEscaped appends the body of AppendString's JSON string (no quotes).
func AppendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// wireManifest mirrors a version 2 redactions member for decoding.
type wireManifest struct {
	Policy string `json:"policy"`
	Rules  []struct {
		Rule  string   `json:"rule"`
		Type  string   `json:"type"`
		Count int      `json:"count"`
		Paths []string `json:"paths"`
		More  int      `json:"more"`
	} `json:"rules"`
}

// Parse decodes a payload and checks that it is canonical: re-encoding the
// decoded record must give back exactly the same bytes. A payload that is
// not canonical returns the decoded record and an error wrapping
// ErrNotCanonical.
func Parse(payload []byte) (*Record, error) {
	r := &Record{}
	var ts, ing string
	var redactions []byte
	err := jsonscan.Object(payload, func(key, val []byte) error {
		k := string(key[1 : len(key)-1]) // member names need no unescaping to match
		var err error
		switch k {
		case "v":
			var v int64
			v, err = strconv.ParseInt(string(val), 10, 32)
			r.V = int(v)
		case "seq":
			r.Seq, err = strconv.ParseUint(string(val), 10, 64)
		case "epoch":
			r.Epoch, err = strconv.ParseUint(string(val), 10, 64)
		case "chain":
			r.Chain, err = jsonscan.Unquote(val)
		case "ts":
			ts, err = jsonscan.Unquote(val)
		case "ingested_at":
			ing, err = jsonscan.Unquote(val)
		case "action":
			r.Action, err = jsonscan.Unquote(val)
		case "user":
			r.User, err = jsonscan.Unquote(val)
		case "tenant":
			r.Tenant, err = jsonscan.Unquote(val)
		case "agent":
			r.Agent, err = jsonscan.Unquote(val)
		case "session":
			r.Session, err = jsonscan.Unquote(val)
		case "trace":
			r.Trace, err = jsonscan.Unquote(val)
		case "model":
			r.Model, err = jsonscan.Unquote(val)
		case "tool":
			r.Tool, err = jsonscan.Unquote(val)
		case "outcome":
			r.Outcome, err = jsonscan.Unquote(val)
		case "approver":
			r.Approver, err = jsonscan.Unquote(val)
		case "kid":
			r.Kid, err = jsonscan.Unquote(val)
		case "prev":
			r.Prev, err = jsonscan.Unquote(val)
		case "arguments":
			r.Arguments = json.RawMessage(val)
		case "detail":
			r.Detail = json.RawMessage(val)
		case "redactions":
			redactions = val // decoded below: its shape depends on v
		case "source":
			r.Source = &Source{}
			err = jsonscan.Object(val, func(k, v []byte) error {
				var err error
				switch string(k) {
				case `"file"`:
					r.Source.File, err = jsonscan.Unquote(v)
				case `"dev"`:
					r.Source.Dev, err = strconv.ParseUint(string(v), 10, 64)
				case `"ino"`:
					r.Source.Ino, err = strconv.ParseUint(string(v), 10, 64)
				case `"offset"`:
					r.Source.Offset, err = strconv.ParseInt(string(v), 10, 64)
				case `"raw_sha256"`:
					if r.Source.RawSHA256, err = jsonscan.Unquote(v); err == nil && !isSHA256Hex(r.Source.RawSHA256) {
						err = errors.New("raw_sha256 is not 64 lower-case hex digits")
					}
				}
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	t, err := parseTime(ts)
	if err != nil {
		return nil, fmt.Errorf("decode payload: ts: %w", err)
	}
	r.TS = t
	if t, err = parseTime(ing); err != nil {
		return nil, fmt.Errorf("decode payload: ingested_at: %w", err)
	}
	r.IngestedAt = t
	if len(redactions) > 0 && string(redactions) != "null" {
		if r.V >= 2 {
			var m wireManifest
			if err := json.Unmarshal(redactions, &m); err != nil {
				return nil, fmt.Errorf("decode payload: redactions: %w", err)
			}
			r.Manifest = &Manifest{Policy: m.Policy}
			for _, rh := range m.Rules {
				r.Manifest.Rules = append(r.Manifest.Rules, RuleHits(rh))
			}
		} else if err := json.Unmarshal(redactions, &r.Redactions); err != nil {
			return nil, fmt.Errorf("decode payload: redactions: %w", err)
		}
	}
	if !bytes.Equal(AppendCanonical(make([]byte, 0, len(payload)), r), payload) {
		return r, ErrNotCanonical
	}
	return r, nil
}

// AppendJSON appends the record as served to readers and exported: the
// payload with a final "mac" key (hex) added.
func AppendJSON(dst []byte, payload []byte, mac [32]byte) []byte {
	if len(payload) < 2 {
		return append(dst, "null"...)
	}
	dst = append(dst, payload[:len(payload)-1]...)
	dst = append(dst, `,"mac":"`...)
	for _, b := range mac {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return append(dst, '"', '}')
}

package record

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fips-agents/audit-sidecar/internal/jsonscan"
)

// Index decodes the top-level scalar fields of a payload (chain, seq,
// times, action, identity fields, kid, prev) in one pass, for sinks that
// extract index columns on the write path. Arguments and Detail are left
// raw; Redactions and Source are not decoded. It does not check that the
// payload is canonical: verification uses Parse.
func Index(payload []byte) (*Record, error) {
	r := &Record{}
	err := jsonscan.Object(payload, func(rawKey, val []byte) error {
		var dst *string
		switch string(rawKey) {
		case `"v"`, `"seq"`:
			n, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil {
				return fmt.Errorf("%s: not an unsigned integer", rawKey)
			}
			if rawKey[1] == 'v' {
				r.V = int(n)
			} else {
				r.Seq = n
			}
			return nil
		case `"ts"`, `"ingested_at"`:
			s, err := jsonscan.Unquote(val)
			if err != nil {
				return fmt.Errorf("%s: %w", rawKey, err)
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return fmt.Errorf("%s: not an RFC 3339 time", rawKey)
			}
			if rawKey[1] == 't' {
				r.TS = t.UTC()
			} else {
				r.IngestedAt = t.UTC()
			}
			return nil
		case `"arguments"`:
			r.Arguments = val
			return nil
		case `"detail"`:
			r.Detail = val
			return nil
		case `"chain"`:
			dst = &r.Chain
		case `"action"`:
			dst = &r.Action
		case `"user"`:
			dst = &r.User
		case `"tenant"`:
			dst = &r.Tenant
		case `"agent"`:
			dst = &r.Agent
		case `"session"`:
			dst = &r.Session
		case `"trace"`:
			dst = &r.Trace
		case `"model"`:
			dst = &r.Model
		case `"tool"`:
			dst = &r.Tool
		case `"outcome"`:
			dst = &r.Outcome
		case `"approver"`:
			dst = &r.Approver
		case `"kid"`:
			dst = &r.Kid
		case `"prev"`:
			dst = &r.Prev
		default:
			return nil
		}
		s, err := jsonscan.Unquote(val)
		if err != nil {
			return fmt.Errorf("%s: %w", rawKey, err)
		}
		*dst = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	if r.Chain == "" || r.Seq == 0 || r.Action == "" || r.TS.IsZero() {
		return nil, errors.New("decode payload: chain, seq, ts or action missing")
	}
	return r, nil
}

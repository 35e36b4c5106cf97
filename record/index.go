package record

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/fips-agents/audit-sidecar/internal/jsonscan"
)

// Columns are the query columns of a payload, as sinks store them.
type Columns struct {
	Chain string
	Seq   uint64
	// TS and IngestedAt are the payload's strings, in TimeLayout.
	TS, IngestedAt                                                    string
	Action, User, Tenant, Agent, Session, Trace, Model, Tool, Outcome string
	Approver, Kid, Prev                                               string
}

// Index decodes the top-level scalar fields of a payload (chain, seq,
// times, action, identity fields, kid, prev) in one pass, for sinks that
// extract index columns on the write path. Times must be in TimeLayout,
// the only form the sealer writes, and are returned as written. It does
// not check that the rest of the payload is canonical: verification uses
// Parse.
func Index(payload []byte) (Columns, error) {
	var c Columns
	err := jsonscan.Object(payload, func(rawKey, val []byte) error {
		var dst *string
		switch string(rawKey) {
		case `"seq"`:
			n, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil {
				return fmt.Errorf("%s: not an unsigned integer", rawKey)
			}
			c.Seq = n
			return nil
		case `"ts"`:
			dst = &c.TS
		case `"ingested_at"`:
			dst = &c.IngestedAt
		case `"chain"`:
			dst = &c.Chain
		case `"action"`:
			dst = &c.Action
		case `"user"`:
			dst = &c.User
		case `"tenant"`:
			dst = &c.Tenant
		case `"agent"`:
			dst = &c.Agent
		case `"session"`:
			dst = &c.Session
		case `"trace"`:
			dst = &c.Trace
		case `"model"`:
			dst = &c.Model
		case `"tool"`:
			dst = &c.Tool
		case `"outcome"`:
			dst = &c.Outcome
		case `"approver"`:
			dst = &c.Approver
		case `"kid"`:
			dst = &c.Kid
		case `"prev"`:
			dst = &c.Prev
		default:
			return nil
		}
		s, err := jsonscan.Unquote(val)
		if err != nil {
			return fmt.Errorf("%s: %w", rawKey, err)
		}
		if dst == &c.TS || dst == &c.IngestedAt {
			if _, ok := layoutTime(s); !ok {
				return fmt.Errorf("%s: not an RFC 3339 time in the payload layout (UTC, 9 fraction digits)", rawKey)
			}
		}
		*dst = s
		return nil
	})
	if err != nil {
		return Columns{}, fmt.Errorf("decode payload: %w", err)
	}
	if c.Chain == "" || c.Seq == 0 || c.Action == "" || c.TS == "" {
		return Columns{}, errors.New("decode payload: chain, seq, ts or action missing")
	}
	return c, nil
}

package query

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// Page sizes of GET /v1/audit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// maxParamNameLen bounds how much of an unknown parameter's name is echoed.
const maxParamNameLen = 64

// ParamError is a bad parameter of a /v1/audit query (a 400): the
// parameter and what is wrong with it. It never carries the parameter's
// value, so that its text may be shown to the reader.
type ParamError struct {
	Param, Reason string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Reason }

// request is a parsed /v1/audit query before tenant scoping.
type request struct {
	filter sink.Filter // Limit and After unset
	limit  int
	cursor *cursor // nil on the first page
	// nothing is set when to is 0001-01-01T00:00:00Z, the first instant
	// a query can name: nothing is before it, and a zero Filter.To would
	// mean no bound at all.
	nothing bool
}

// stringParams maps the plain equality filters to their Filter field.
var stringParams = map[string]func(*sink.Filter) *string{
	"tenant":  func(f *sink.Filter) *string { return &f.Tenant },
	"user":    func(f *sink.Filter) *string { return &f.User },
	"action":  func(f *sink.Filter) *string { return &f.Action },
	"tool":    func(f *sink.Filter) *string { return &f.Tool },
	"outcome": func(f *sink.Filter) *string { return &f.Outcome },
	"model":   func(f *sink.Filter) *string { return &f.Model },
	"session": func(f *sink.Filter) *string { return &f.Session },
	"chain":   func(f *sink.Filter) *string { return &f.Chain },
	"call_id": func(f *sink.Filter) *string { return &f.CallID },
	"trace":   func(f *sink.Filter) *string { return &f.Trace },
}

// parseRequest parses the raw query string. Parameters are checked in
// name order so that the error for a bad query is deterministic.
func parseRequest(rawQuery string) (*request, *ParamError) {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, &ParamError{"query", "malformed query string"}
	}
	req := &request{limit: DefaultLimit}
	names := make([]string, 0, len(vals))
	for name := range vals {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if perr := req.set(name, vals[name]); perr != nil {
			return nil, perr
		}
	}
	f := &req.filter
	if vals.Has("from") && vals.Has("to") && !f.From.Before(f.To) {
		return nil, &ParamError{"from", "must be before to"}
	}
	return req, nil
}

func (req *request) set(name string, vs []string) *ParamError {
	if !known(name) {
		if len(name) > maxParamNameLen {
			name = name[:maxParamNameLen] + "..."
		}
		return &ParamError{name, "unknown parameter"}
	}
	if len(vs) != 1 {
		return &ParamError{name, "repeated parameter"}
	}
	v := vs[0]
	if v == "" {
		// An empty value would silently drop a filter the caller meant.
		return &ParamError{name, "must not be empty"}
	}
	switch name {
	case "from", "to":
		t, err := ParseTime(v)
		if err != nil {
			return &ParamError{name, err.Error()}
		}
		if name == "from" {
			req.filter.From = t
		} else {
			req.filter.To = t
			req.nothing = t.IsZero()
		}
	case "limit":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return &ParamError{name, fmt.Sprintf("must be an integer from 1 to %d", MaxLimit)}
		}
		req.limit = n
	case "cursor":
		c, err := decodeCursor(v)
		if err != nil {
			return &ParamError{name, "malformed"}
		}
		req.cursor = c
	case "action":
		if !record.IsAction(v) {
			return &ParamError{name, "must be one of " + strings.Join(record.Actions, ", ")}
		}
	case "outcome":
		if !record.IsOutcome(v) {
			return &ParamError{name, "must be one of " + strings.Join(record.Outcomes, ", ")}
		}
	}
	if field, ok := stringParams[name]; ok {
		*field(&req.filter) = v
	}
	return nil
}

func known(name string) bool {
	switch name {
	case "from", "to", "limit", "cursor":
		return true
	}
	_, ok := stringParams[name]
	return ok
}

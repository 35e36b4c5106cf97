package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// Mapping maps record fields (ts, action, user, tenant, agent, session,
// trace, model, tool, arguments, outcome, approver, call_id) to where
// they are in a team's own JSON lines.
type Mapping map[string]MapField

// MapField says where one record field is: Path, dotted (a.b.0.c; a
// number indexes an array); Map translates values (for action and
// outcome, to the record's vocabulary); Default is used when the path is
// absent; Layout (ts only) is rfc3339 (default), unix, unix_ms or unix_ns.
type MapField struct {
	Path    string
	Map     map[string]string
	Default string
	Layout  string
}

// mappingFields are the fields a Mapping may set, in record order.
var mappingFields = []string{"ts", "action", "user", "tenant", "agent", "session", "trace", "model", "tool", "arguments", "outcome", "approver", "call_id"}

type compiledField struct {
	MapField
	path []string
}

type compiledMapping map[string]compiledField

func compileMapping(m Mapping) (compiledMapping, error) {
	out := compiledMapping{}
	var errs []error
	if _, ok := m["action"]; !ok {
		errs = append(errs, errors.New("mapping: action is required"))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := m[k]
		if !slices.Contains(mappingFields, k) {
			errs = append(errs, fmt.Errorf("mapping: %q is not a record field", k))
			continue
		}
		var path []string
		if f.Path != "" {
			path = strings.Split(f.Path, ".")
			if slices.Contains(path, "") {
				errs = append(errs, fmt.Errorf("mapping: %s: %q is not a dotted path", k, f.Path))
			}
		} else if f.Default == "" {
			errs = append(errs, fmt.Errorf("mapping: %s: a path or a default is required", k))
		}
		switch f.Layout {
		case "", "rfc3339", "unix", "unix_ms", "unix_ns":
		default:
			errs = append(errs, fmt.Errorf("mapping: %s: unknown layout %q", k, f.Layout))
		}
		out[k] = compiledField{f, path}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// mappingDialect reads JSON lines by a Mapping. It is stateless. The
// mapped values are taken out of the object (objects left empty too) and
// what remains lands in detail, as in the native dialect.
type mappingDialect struct{ m compiledMapping }

func (d *mappingDialect) Parse(l Line, now time.Time, emit func(*record.Record)) {
	parseWith(l, now, emit, d.parse)
}

func (d *mappingDialect) parse(text []byte, _ time.Time) ([]*record.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
		return nil, errors.New("not a JSON object")
	}
	r := newRecord("", time.Time{})
	var f fields
	str := func(k string) (string, bool, error) {
		c, ok := d.m[k]
		if !ok {
			return "", false, nil
		}
		v, found := lookup(obj, c.path)
		if !found || v == nil {
			return c.Default, c.Default != "", nil
		}
		switch v := v.(type) {
		case string:
			return v, true, nil
		case json.Number:
			return v.String(), true, nil
		case bool:
			return strconv.FormatBool(v), true, nil
		}
		return "", false, fmt.Errorf("mapping: %s: the value at %s is not a string, number or boolean", k, c.Path)
	}
	for _, k := range []struct {
		name string
		dst  *string
	}{{"user", &r.User}, {"tenant", &r.Tenant}, {"agent", &r.Agent}, {"session", &r.Session}, {"trace", &r.Trace}, {"model", &r.Model}, {"tool", &r.Tool}, {"approver", &r.Approver}} {
		v, _, err := str(k.name)
		if err != nil {
			return nil, err
		}
		*k.dst = v
	}
	id, _, err := str("call_id")
	if err != nil {
		return nil, err
	}
	f.str("call_id", id)

	action, ok, err := str("action")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("mapping: no action at %s", d.m["action"].Path)
	}
	if to, ok := d.m["action"].Map[action]; ok {
		r.Action = to
	} else if record.IsAction(action) && !isSidecarAction(action) {
		r.Action = action
	} else {
		r.Action = record.ActionOther
		f.str("action", action)
	}
	if c, ok := d.m["outcome"]; ok {
		o, _, err := str("outcome")
		if err != nil {
			return nil, err
		}
		if to, ok := c.Map[o]; ok {
			r.Outcome = to
		} else if o == "" || record.IsOutcome(o) {
			r.Outcome = o
		} else {
			r.Outcome = "unknown"
			f.str("outcome", o)
		}
	}
	if c, ok := d.m["arguments"]; ok {
		if v, found := lookup(obj, c.path); found {
			if s, isStr := v.(string); isStr {
				r.Arguments = jsonString(s)
			} else if v != nil {
				r.Arguments, _ = marshal(v)
			}
		}
	}
	if c, ok := d.m["ts"]; ok {
		v, found := lookup(obj, c.path)
		if found && v != nil {
			t, err := mapTime(v, c.Layout)
			if err != nil {
				return nil, fmt.Errorf("mapping: ts: %w", err)
			}
			r.TS = t
		}
	}
	for _, c := range d.m {
		remove(obj, c.path)
	}
	for k, v := range obj {
		f.val(k, v)
	}
	r.Detail = f.object()
	return []*record.Record{r}, nil
}

// lookup follows path through objects and arrays.
func lookup(v any, path []string) (any, bool) {
	if len(path) == 0 {
		return nil, false
	}
	for _, seg := range path {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// remove deletes the member at path (through objects only), and the
// objects on the way that it leaves empty.
func remove(v any, path []string) bool {
	m, ok := v.(map[string]any)
	if !ok || len(path) == 0 {
		return false
	}
	if len(path) == 1 {
		delete(m, path[0])
	} else if remove(m[path[0]], path[1:]) {
		delete(m, path[0])
	}
	return len(m) == 0
}

func mapTime(v any, layout string) (time.Time, error) {
	s := fmt.Sprint(v)
	if n, isNum := v.(json.Number); isNum {
		s = n.String()
	}
	if layout == "" || layout == "rfc3339" {
		if t, ok := parseTime(s); ok {
			return t, nil
		}
		return time.Time{}, errors.New("not an RFC 3339 time")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e19 {
		return time.Time{}, errors.New("not a number")
	}
	if layout == "unix_ns" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(0, n).UTC(), nil
		}
	}
	scale := map[string]float64{"unix": 1e9, "unix_ms": 1e6, "unix_ns": 1}[layout]
	ns := f * scale
	if math.Abs(ns) > math.MaxInt64/2 {
		return time.Time{}, errors.New("out of range")
	}
	return time.Unix(0, int64(math.Round(ns/1e3))*1e3).UTC(), nil
}

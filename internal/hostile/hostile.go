// Package hostile writes the lines a hostile agent can put in its log to
// make one line cost the sidecar as much memory as possible: for each
// dialect, a line of a given size holding as many JSON values as a value
// budget lets through, in the shapes that cost most per byte or per
// value. Tests and benchmarks of the memory one line takes use it.
package hostile

import (
	"fmt"
	"strconv"
	"strings"
)

// Shapes are the shapes Line writes. Every one but "over" holds at most
// the values given to Line (counted like parse.Values).
var Shapes = []string{
	"keys",    // object members with long keys: a map entry or struct each
	"strings", // strings of one e-mail address each: a redaction at a new path each
	"numbers", // numbers
	"objects", // objects of one member
	"nested",  // arrays nested 900 deep (less under a small budget), over and over
	"emails",  // strings of e-mail addresses under 1 MiB: a redaction per 7 bytes, 2.4 times longer masked
	"escapes", // strings of \u0000 escapes under 1 MiB
	"string",  // plain strings under 1 MiB (longer ones are replaced whole by redaction)
	"over",    // short members, far over the budget
}

// Formats are the dialects Line writes for (source.format).
var Formats = []string{"native", "mapping", "langchain", "openai-agents", "otlp", "fipsagents"}

// Line returns a line (without "\n") of format in shape, at most size bytes
// long and, except for shape "over", holding at most values values. The
// mapping format expects the mapping {action: {path: action}}.
func Line(format, shape string, size, values int) []byte {
	if format == "auto" {
		format = "native"
	}
	// Items as many as the budget allows (what each costs is measured on
	// lines of one and two), then the padding that fills size: the line
	// grows by about one byte per item with it.
	depth := maxDepth // of shape "nested": shallower when one item is over the budget
	for shape == "nested" && depth > 1 && Values(build(format, shape, size, 1, 0, depth)) > values {
		depth /= 2
	}
	n := 1
	if one, two := Values(build(format, shape, size, 1, 0, depth)), Values(build(format, shape, size, 2, 0, depth)); two > one {
		n = max((values-one)/(two-one)+1, 1)
	}
	pad := 0
	if line := build(format, shape, size, n, 0, depth); len(line) < size {
		pad = (size - len(line)) / n
	}
	for ; ; pad -= max(pad/64, 1) {
		line := build(format, shape, size, n, pad, depth)
		if len(line) <= size || pad <= 0 {
			return line
		}
	}
}

// maxDepth is how deep shape "nested" nests: below the 1000 levels the
// native dialect reads.
const maxDepth = 900

// Values counts like parse.Values: one plus the '{', '[', ',' and ':'
// bytes.
func Values(b []byte) int {
	n := 1
	for _, c := range b {
		switch c {
		case '{', '[', ',', ':':
			n++
		}
	}
	return n
}

func build(format, shape string, size, n, pad, depth int) []byte {
	e := &enc{otlp: format == "otlp", depth: depth}
	var b strings.Builder
	members := func() string {
		shapeMembers(e, shape, size, pad, n)
		return e.b.String()
	}
	switch format {
	case "native", "mapping":
		b.WriteString(`{"action":"tool_call","ts":"2026-11-26T10:00:00Z",`)
		b.WriteString(members())
		b.WriteString(`}`)
	case "langchain":
		b.WriteString(`{"event":"on_tool_start","run_id":"r1","name":"t","data":{"input":{`)
		b.WriteString(members())
		b.WriteString(`}}}`)
	case "openai-agents":
		b.WriteString(`{"object":"trace.span","id":"s1","trace_id":"t1","span_data":{"type":"function","name":"t","input":"{}",`)
		b.WriteString(members())
		b.WriteString(`}}`)
	case "otlp":
		b.WriteString(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331",` +
			`"name":"execute_tool t","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},`)
		b.WriteString(members())
		b.WriteString(`]}]}]}]}`)
	case "fipsagents":
		b.WriteString(`DEBUG:fipsagents.tracing:trace t1: {"trace_id":"t1","started_at":"2026-11-26T10:00:00Z",` +
			`"spans":[{"name":"model_call","span_id":"s1","start_time":1,"end_time":2,"status":"ok","attributes":{`)
		b.WriteString(members())
		b.WriteString(`}}]}`)
	default:
		panic("hostile: unknown format " + format)
	}
	return []byte(b.String())
}

// shapeMembers writes the members of an object (or, for OTLP, the
// attributes) in shape: n items padded by pad bytes each.
func shapeMembers(e *enc, shape string, size, pad, n int) {
	room := max(size-400, 0)
	switch shape {
	case "keys":
		for i := range n {
			e.member("k"+padded(i, pad), func() { e.num("0") })
		}
	case "over":
		for i := 0; e.b.Len() < room; i++ {
			e.member("k"+strconv.Itoa(i), func() { e.num("0") })
		}
	case "strings":
		e.member("x", func() {
			e.array(n, func(int) { e.str("a@b.co " + strings.Repeat("x", pad)) })
		})
	case "numbers":
		e.member("x", func() {
			e.array(n, func(int) { e.num("1." + strings.Repeat("0", max(pad, 1))) })
		})
	case "objects":
		e.member("x", func() {
			e.array(n, func(i int) { e.object(func() { e.member("a"+padded(i, pad), func() { e.num("0") }) }) })
		})
	case "nested":
		e.member("x", func() {
			e.array(n, func(int) { e.nest(e.depth) })
		})
		e.member("pad", func() { e.str(strings.Repeat("p", max(room-e.b.Len(), 0))) })
	case "emails":
		longStrings(e, room, "a@b.co ")
	case "escapes":
		longStrings(e, room, `\u0000`)
	case "string":
		longStrings(e, room, "a")
	default:
		panic("hostile: unknown shape " + shape)
	}
}

// longStrings writes, under key "x", an array of strings of unit
// repeated, each (but the last) just under the longest string redaction
// scans (1 MiB), filling room bytes.
func longStrings(e *enc, room int, unit string) {
	per := ((1 << 20) - 64) / len(unit) * len(unit)
	n := max((room+per-1)/per, 1)
	room -= 64 * n // each string's quotes, comma and OTLP wrapping
	e.member("x", func() {
		e.array(n, func(i int) {
			e.raw(`"` + strings.Repeat(unit, max(min(per, room-i*per), 0)/len(unit)) + `"`)
		})
	})
}

func padded(i, pad int) string { return fmt.Sprintf("%0*d", max(pad, 1), i) }

// enc writes JSON values, or with otlp OTLP/JSON AnyValues and
// attributes.
type enc struct {
	b     strings.Builder
	otlp  bool
	depth int    // of shape "nested"
	first []bool // per open container: nothing written in it yet
}

func (e *enc) sep() {
	if n := len(e.first); n > 0 {
		if !e.first[n-1] {
			e.b.WriteByte(',')
		}
		e.first[n-1] = false
	} else if e.b.Len() > 0 {
		e.b.WriteByte(',')
	}
}

func (e *enc) member(key string, val func()) {
	e.sep()
	if e.otlp {
		e.b.WriteString(`{"key":` + strconv.Quote(key) + `,"value":`)
		e.first = append(e.first, true)
		val()
		e.first = e.first[:len(e.first)-1]
		e.b.WriteString(`}`)
		return
	}
	e.b.WriteString(strconv.Quote(key) + `:`)
	e.first = append(e.first, true)
	val()
	e.first = e.first[:len(e.first)-1]
}

func (e *enc) raw(s string) {
	e.sep()
	if e.otlp {
		s = `{"stringValue":` + s + `}`
	}
	e.b.WriteString(s)
}

func (e *enc) str(s string) { e.raw(strconv.Quote(s)) }

func (e *enc) num(s string) {
	e.sep()
	if e.otlp {
		s = `{"doubleValue":` + s + `}`
	}
	e.b.WriteString(s)
}

func (e *enc) array(n int, item func(int)) {
	e.sep()
	if e.otlp {
		e.b.WriteString(`{"arrayValue":{"values":[`)
	} else {
		e.b.WriteString(`[`)
	}
	e.first = append(e.first, true)
	for i := range n {
		item(i)
	}
	e.first = e.first[:len(e.first)-1]
	if e.otlp {
		e.b.WriteString(`]}}`)
	} else {
		e.b.WriteString(`]`)
	}
}

func (e *enc) object(members func()) {
	e.sep()
	if e.otlp {
		e.b.WriteString(`{"kvlistValue":{"values":[`)
	} else {
		e.b.WriteString(`{`)
	}
	e.first = append(e.first, true)
	members()
	e.first = e.first[:len(e.first)-1]
	if e.otlp {
		e.b.WriteString(`]}}`)
	} else {
		e.b.WriteString(`}`)
	}
}

// nest writes depth arrays, each holding the next.
func (e *enc) nest(depth int) {
	e.sep()
	open, close := "[", "]"
	if e.otlp {
		open, close = `{"arrayValue":{"values":[`, `]}}`
	}
	e.b.WriteString(strings.Repeat(open, depth) + strings.Repeat(close, depth))
}

package parse

import (
	"bytes"
	"fmt"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// What a line costs to turn into a record grows with its bytes and with
// how many values it holds: decoding builds a map entry or a struct per
// object member, redaction notes the path of each value it replaces. The
// bytes of a line are bounded by the tailer; its values by a budget,
// checked before any dialect sees the line.

// Values returns an upper bound on the JSON values and object keys in
// text, counted at every level, JSON held in strings and Python literals
// included: one plus the number of '{', '[', ',' and ':' bytes (every
// value but a document's first follows a ',' or opens a container; every
// key is followed by a ':'). Bytes inside strings count too, so prose
// with many commas counts more than it holds.
func Values(text []byte) int {
	return 1 + bytes.Count(text, []byte{'{'}) + bytes.Count(text, []byte{'['}) +
		bytes.Count(text, []byte{','}) + bytes.Count(text, []byte{':'})
}

// budgeted gives a line whose Values exceed max to no dialect: it becomes
// a parse_error record (length, SHA-256 and the capped raw text, like a
// line cut by the line limit).
// A line cut by the line limit is left to the dialect, which records it
// as such without reading it.
type budgeted struct {
	d     Dialect
	limit int
}

func (b budgeted) Parse(l Line, now time.Time, emit func(*record.Record)) {
	if l.FullLen <= int64(len(l.Text)) {
		if n := Values(l.Text); n > b.limit {
			emit(ParseError(l, now, fmt.Errorf("line holds up to %d JSON values and keys, more than the limit of %d", n, b.limit)))
			return
		}
	}
	b.d.Parse(l, now, emit)
}

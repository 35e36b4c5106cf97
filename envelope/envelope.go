// Package envelope unwraps container-runtime log lines, so that the
// sidecar can tail /var/log/pods/... (or a docker json-file) as well as a
// file the agent writes itself. The runtimes split long output into
// fragments; the Decoder joins them back into the agent's original line.
//
// Formats:
//
//   - CRI (containerd, CRI-O; what the kubelet keeps under /var/log/pods):
//     `<RFC3339Nano> <stdout|stderr> <P|F>[:<more tags>] <text>`, where P
//     marks a partial line continued by the next line of the same stream
//     and F the final piece.
//   - docker json-file: `{"log":"<text>","stream":"stdout","time":"..."}`,
//     where a log value ending in "\n" completes a line and one without it
//     (docker splits at 16 KiB) is continued by the next object of the same
//     stream.
//
// A line that is neither (with Auto), or that does not parse as the
// configured format, is passed through whole as its own message: nothing
// is dropped, and the parser downstream turns it into a parse_error record
// if it is not an event.
package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"time"
)

// Kind is the envelope format.
type Kind int

const (
	None   Kind = iota // lines are the agent's own
	CRI                // kubelet / containerd / CRI-O
	Docker             // docker json-file
	Auto               // CRI or docker, recognised per line; anything else as is
)

// ParseKind maps the config value to a Kind.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "", "none":
		return None, nil
	case "cri":
		return CRI, nil
	case "docker":
		return Docker, nil
	case "auto":
		return Auto, nil
	}
	return None, fmt.Errorf("envelope %q is not one of [none cri docker auto]", s)
}

// Message is one of the agent's lines, unwrapped and joined.
type Message struct {
	Text   []byte // at most the Decoder's max bytes; the caller owns it
	Stream string // "stdout", "stderr", or "" when the line had no envelope
	// Time is the runtime's timestamp of the first fragment (zero without
	// an envelope).
	Time time.Time
	// First is the caller's tag of the line that held the first fragment
	// (for the source offset of the record).
	First any
	// Truncated says Text holds only the first max bytes; FullLen and
	// FullSHA256 then describe the whole joined text.
	Truncated  bool
	FullLen    int64
	FullSHA256 [32]byte
}

// Decoder joins fragments. It keeps one pending message per stream. Not
// safe for concurrent use.
type Decoder struct {
	kind    Kind
	max     int
	pending map[string]*partial
}

type partial struct {
	msg  Message
	hash hash.Hash // of the whole text, once it exceeds max
	full []byte    // the whole text while it fits in max
}

// NewDecoder returns a decoder for kind that keeps at most max bytes of a
// joined message (the rest is counted and hashed, not kept).
func NewDecoder(kind Kind, max int) *Decoder {
	return &Decoder{kind: kind, max: max, pending: map[string]*partial{}}
}

// Pending reports whether a message is incomplete: the position after the
// current line must not be committed as the end of a message.
func (d *Decoder) Pending() bool { return len(d.pending) > 0 }

// Feed decodes one physical line (without its "\n"). tag is kept with the
// first fragment and returned in Message.First. truncated says the line
// itself was cut by the tailer (its envelope then ends early; the message
// is marked truncated). It returns the completed message and true, or
// false while the line's message continues on a later line.
func (d *Decoder) Feed(line []byte, tag any, truncated bool) (Message, bool) {
	kind := d.kind
	if kind == Auto {
		kind = sniff(line)
	}
	var stream, text []byte
	var final, ok bool
	var ts time.Time
	switch kind {
	case CRI:
		ts, stream, final, text, ok = parseCRI(line)
	case Docker:
		ts, stream, final, text, ok = parseDocker(line)
	}
	if !ok {
		// No envelope, or one that does not parse: the line as it is.
		m := Message{Text: append([]byte(nil), line...), First: tag, FullLen: int64(len(line)), Truncated: truncated}
		return m, true
	}
	if truncated {
		// The tailer kept only a prefix of this physical line: whatever
		// came after is gone, so the message ends here, marked.
		final = true
	}
	p := d.pending[string(stream)]
	if p == nil {
		p = &partial{msg: Message{Stream: string(stream), Time: ts, First: tag}}
	}
	d.add(p, text)
	if truncated {
		p.msg.Truncated = true
	}
	if !final {
		d.pending[string(stream)] = p
		return Message{}, false
	}
	delete(d.pending, string(stream))
	m := p.msg
	if p.hash != nil {
		m.Truncated = true
		copy(m.FullSHA256[:], p.hash.Sum(nil))
	} else if m.Truncated {
		m.FullSHA256 = sha256.Sum256(p.full)
	}
	return m, true
}

// add appends text to p, keeping at most max bytes and hashing the whole
// once it no longer fits.
func (d *Decoder) add(p *partial, text []byte) {
	p.msg.FullLen += int64(len(text))
	if p.hash == nil && len(p.full)+len(text) <= d.max {
		p.full = append(p.full, text...)
		p.msg.Text = p.full
		return
	}
	if p.hash == nil {
		p.hash = sha256.New()
		p.hash.Write(p.full)
		room := d.max - len(p.full)
		p.msg.Text = append(p.full, text[:room]...)
	}
	p.hash.Write(text)
}

// sniff guesses the envelope of one line.
func sniff(line []byte) Kind {
	if bytes.HasPrefix(line, []byte(`{"log":`)) {
		return Docker
	}
	if _, _, _, _, ok := parseCRI(line); ok {
		return CRI
	}
	return None
}

// parseCRI splits `<time> <stream> <tags> <text>`. The text may be empty
// (an empty line) and the separator before it is then optional.
func parseCRI(line []byte) (ts time.Time, stream []byte, final bool, text []byte, ok bool) {
	f1 := bytes.IndexByte(line, ' ')
	if f1 < 0 {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, string(line[:f1]))
	if err != nil {
		return
	}
	rest := line[f1+1:]
	f2 := bytes.IndexByte(rest, ' ')
	if f2 < 0 {
		return
	}
	stream = rest[:f2]
	if string(stream) != "stdout" && string(stream) != "stderr" {
		return
	}
	rest = rest[f2+1:]
	tags := rest
	if f3 := bytes.IndexByte(rest, ' '); f3 >= 0 {
		tags, text = rest[:f3], rest[f3+1:]
	} else {
		text = nil
	}
	// The first tag is P or F; later ones (after ':') are reserved.
	if i := bytes.IndexByte(tags, ':'); i >= 0 {
		tags = tags[:i]
	}
	switch string(tags) {
	case "F":
		final = true
	case "P":
	default:
		return
	}
	return t, stream, final, text, true
}

// parseDocker decodes one json-file object.
func parseDocker(line []byte) (ts time.Time, stream []byte, final bool, text []byte, ok bool) {
	var o struct {
		Log    *string `json:"log"`
		Stream string  `json:"stream"`
		Time   string  `json:"time"`
	}
	if json.Unmarshal(line, &o) != nil || o.Log == nil {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, o.Time)
	if err != nil {
		return
	}
	s := *o.Log
	final = len(s) > 0 && s[len(s)-1] == '\n'
	if final {
		s = s[:len(s)-1]
	}
	return t, []byte(o.Stream), final, []byte(s), true
}

// Flush returns every pending message as it is, incomplete, and forgets
// them: for a stream whose final fragment never comes (the container died
// mid-line). The messages keep the text received so far.
func (d *Decoder) Flush() []Message {
	var out []Message
	for s, p := range d.pending {
		m := p.msg
		if p.hash != nil {
			m.Truncated = true
			copy(m.FullSHA256[:], p.hash.Sum(nil))
		}
		out = append(out, m)
		delete(d.pending, s)
	}
	return out
}

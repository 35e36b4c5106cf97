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
	"unicode/utf8"
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
	// Substitutes says that decoding the message's lines replaces some
	// of what the agent wrote with U+FFFD (Substitutes of a line); RawSHA256
	// is then the SHA-256 of those physical lines as they are in the file,
	// joined by "\n" (one line: its bytes without the "\n").
	Substitutes bool
	RawSHA256   [32]byte
}

// Substitutes reports whether decoding line may replace some of what the
// agent wrote with U+FFFD: bytes that are not valid UTF-8, or a \u escape
// of a UTF-16 surrogate (D800-DFFF) that is not half of an escaped pair.
// Escapes are found without regard to the backslashes before them, so an
// escape inside an escaped string (\\ud800, as in a docker envelope) is
// reported too: a false positive only adds a digest, while a miss would let
// a U+FFFD hide what the agent wrote.
func Substitutes(line []byte) bool {
	if !utf8.Valid(line) {
		return true
	}
	for i := 0; ; {
		j := bytes.Index(line[i:], []byte(`\u`))
		if j < 0 {
			return false
		}
		i += j
		switch surrogate(line[i:]) {
		case 'h':
			if surrogate(line[i+6:]) != 'l' {
				return true
			}
			i += 12 // the pair
		case 'l':
			return true // a low half with no high half before it
		default:
			i += 2
		}
	}
}

// surrogate says what the \u escape at the start of b stands for: 'h' a
// high surrogate (D800-DBFF), 'l' a low one (DC00-DFFF), 0 anything else.
func surrogate(b []byte) byte {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' || b[2]|0x20 != 'd' || !isHex(b[4]) || !isHex(b[5]) {
		return 0
	}
	switch c := b[3] | 0x20; {
	case c == '8' || c == '9' || c == 'a' || c == 'b':
		return 'h'
	case c >= 'c' && c <= 'f':
		return 'l'
	}
	return 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
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
	raw  hash.Hash // of the physical lines, once the message spans two
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
		if !truncated && Substitutes(line) {
			m.Substitutes, m.RawSHA256 = true, sha256.Sum256(line)
		}
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
		if !final {
			p.raw = sha256.New()
		}
	} else {
		p.raw.Write([]byte{'\n'})
	}
	if p.raw != nil {
		p.raw.Write(line)
	}
	if !truncated && Substitutes(line) {
		p.msg.Substitutes = true
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
	if m.Substitutes {
		m.RawSHA256 = p.rawSum(line)
	}
	if p.hash != nil {
		m.Truncated = true
		copy(m.FullSHA256[:], p.hash.Sum(nil))
	} else if m.Truncated {
		m.FullSHA256 = sha256.Sum256(p.full)
	}
	return m, true
}

// rawSum is the digest of p's physical lines; line is the last one (the
// only one when the message did not span lines).
func (p *partial) rawSum(line []byte) (sum [32]byte) {
	if p.raw == nil {
		return sha256.Sum256(line)
	}
	p.raw.Sum(sum[:0])
	return sum
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
		if m.Substitutes {
			m.RawSHA256 = p.rawSum(nil)
		}
		if p.hash != nil {
			m.Truncated = true
			copy(m.FullSHA256[:], p.hash.Sum(nil))
		}
		out = append(out, m)
		delete(d.pending, s)
	}
	return out
}

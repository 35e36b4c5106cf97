package pipeline

import (
	"crypto/sha256"
	"encoding/hex"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/envelope"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// fileState is the state of one source file: its dialect (a dialect may
// pair lines, so each file has its own), the envelope decoder, the
// messages completed while another stream's message is still pending
// (held so that the committed position never passes a pending fragment),
// and how many lines have been read since a message became pending.
type fileState struct {
	dialect  parse.Dialect
	env      *envelope.Decoder
	held     []heldLine
	heldRead int
}

// heldLine is a message waiting for the position to be committable.
type heldLine struct {
	msg envelope.Message
	src tailer.Line // the line of the message's first fragment (no Text)
}

// maxHeldLines bounds how long a message may stay incomplete: once this
// many lines, its first fragment's included, have been read, its fragments
// are recorded as they are (a container that died mid-line never writes
// the final fragment).
const maxHeldLines = 1024

// handle turns one line into a sealed record in the open batch; with an
// envelope, it joins fragments first and advances the committed position
// only when no message is left incomplete.
func (in *Ingester) handle(l tailer.Line) {
	if l.Gap != nil {
		in.gap(l)
		return
	}
	if l.Advance {
		in.moveOn(l)
		return
	}
	in.lines++
	in.cfg.Metrics.Lines.Inc()
	if l.Truncated {
		in.cfg.Metrics.SourceBytes.Add(float64(l.FullLen + 1))
	} else {
		in.cfg.Metrics.SourceBytes.Add(float64(len(l.Text) + 1))
	}
	fs := in.file(l.Watch)
	if in.cfg.Envelope == envelope.None {
		var raw *[32]byte
		if !l.Truncated && envelope.Substitutes(l.Text) {
			sum := sha256.Sum256(l.Text)
			raw = &sum
		}
		in.record(fs, l, l.Text, l.Truncated, l.FullLen, l.FullSHA256, raw)
		in.pos.advance(l.Watch, l.Next)
		return
	}
	src := l
	src.Text = nil
	if m, ok := fs.env.Feed(l.Text, src, l.Truncated); ok {
		if m.Stream == "" && l.Truncated { // passed through: the tailer's own account
			m.FullLen, m.FullSHA256 = l.FullLen, l.FullSHA256
		}
		fs.held = append(fs.held, heldLine{m, m.First.(tailer.Line)})
	}
	if fs.env.Pending() {
		if fs.heldRead++; fs.heldRead <= maxHeldLines {
			return
		}
		for _, m := range fs.env.Flush() {
			in.log.Warn("container log message never completed; recorded as received",
				zap.String("stream", m.Stream), zap.Int64("bytes", m.FullLen))
			fs.held = append(fs.held, heldLine{m, m.First.(tailer.Line)})
		}
	}
	for _, h := range fs.held {
		var raw *[32]byte
		if h.msg.Substitutes {
			raw = &h.msg.RawSHA256
		}
		in.record(fs, h.src, h.msg.Text, h.msg.Truncated, h.msg.FullLen, h.msg.FullSHA256, raw)
	}
	fs.held, fs.heldRead = fs.held[:0], 0
	in.pos.advance(l.Watch, l.Next)
}

// file returns the state of the file watch (single file: ""), made on
// first use.
func (in *Ingester) file(watch string) *fileState {
	fs := in.files[watch]
	if fs == nil {
		fs = &fileState{dialect: in.cfg.Dialect()}
		if in.cfg.Envelope != envelope.None {
			fs.env = envelope.NewDecoder(in.cfg.Envelope, in.cfg.MaxMessageBytes)
		}
		in.files[watch] = fs
	}
	return fs
}

// record parses one message (from the line src starts at) with the file's
// dialect into sealed records in the open batch (a dialect may make
// several records of one line, or none when it holds state for later).
// raw, when not nil, is the digest of the lines the message was read from,
// whose decoding replaces some of what the agent wrote with U+FFFD
// (envelope.Substitutes): the records carry it as source.raw_sha256.
func (in *Ingester) record(fs *fileState, src tailer.Line, text []byte, truncated bool, fullLen int64, sum [32]byte, raw *[32]byte) {
	pl := parse.Line{Text: text, Source: record.Source{File: src.Path, Dev: src.Dev, Ino: src.Ino, Offset: src.Offset}}
	if truncated {
		pl.FullLen, pl.FullSHA256 = fullLen, sum
	}
	if raw != nil {
		pl.Source.RawSHA256 = hex.EncodeToString(raw[:])
		in.cfg.Metrics.InvalidUTF8.Inc()
	}
	fs.dialect.Parse(pl, in.cfg.Now(), in.parsed)
}

// addParsed adds a record a dialect made. Ingester.parsed is this method
// as a value, made once: a closure per line would be an allocation per
// line.
func (in *Ingester) addParsed(r *record.Record) {
	if r.Action == record.ActionParseError {
		in.cfg.Metrics.ParseErrors.Inc()
	}
	in.add(r)
}

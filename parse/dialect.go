package parse

import (
	"errors"
	"fmt"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// Dialect turns the lines of one source file into records.
//
// Parse is called once per line, in file order, and calls emit once or
// more, in order, before it returns: every line is accounted for by at
// least one record. State carried between lines (a pending approval) only
// shapes the records of later lines. Every record has IngestedAt = now and the
// line's Source. Parse never fails: a line it cannot read becomes one
// parse_error record. The records and their raw Arguments and Detail are
// owned by the caller and are not yet redacted.
//
// A Dialect may keep state between lines (approval pairing, partial tool
// calls): it must be used for one source file only, by one goroutine, and
// its state is bounded (see MaxPending). The state is in memory only: a
// restart forgets it, so a request and its decision split across a
// restart stay unpaired (both are still recorded).
type Dialect interface {
	Parse(l Line, now time.Time, emit func(*record.Record))
}

// Formats lists the values of Config.Format.
var Formats = []string{"auto", "native", "fipsagents", "otlp", "openai-agents", "langchain", "mapping"}

// MaxPending bounds each table of per-file state (pending approvals,
// denied calls, trace identities, partial calls). When a table is full,
// its oldest entry is forgotten: every line is still recorded; what the
// entry would have added (a pairing, a call id, an inferred approval) is
// lost.
const MaxPending = 1024

// Config selects and tunes a dialect.
type Config struct {
	Format       string // one of Formats; "" means auto
	OTLP         OTLPConfig
	OpenAIAgents OpenAIAgentsConfig
	LangChain    LangChainConfig
	Mapping      Mapping // required for Format "mapping"
	// Identities, when not nil, fills in the user and tenant of records
	// with a detail.request_id (joined).
	Identities *Identities
	// MaxValues, when positive, bounds the JSON values and keys of a line
	// (see Values): a line holding more becomes a parse_error record, so
	// that what one line costs in memory stays bounded by its bytes.
	MaxValues int
}

// ErrUnknownFormat is returned by New for a format not in Formats.
var ErrUnknownFormat = errors.New("unknown format")

// New checks cfg and returns a constructor of dialects, to be called once
// per source file. Every dialect is wrapped by approval pairing (see
// Paired) and, with MaxValues, by the value budget.
func New(cfg Config) (func() Dialect, error) {
	var mk func() Dialect
	switch cfg.Format {
	case "native":
		mk = func() Dialect { return nativeDialect{} }
	case "otlp":
		c := cfg.OTLP.withDefaults()
		mk = func() Dialect { return newOTLP(c) }
	case "openai-agents":
		c := cfg.OpenAIAgents.withDefaults()
		mk = func() Dialect { return newOpenAIAgents(c) }
	case "langchain":
		c := cfg.LangChain.withDefaults()
		mk = func() Dialect { return newLangChain(c) }
	case "fipsagents":
		mk = func() Dialect { return newFipsAgents() }
	case "mapping":
		m, err := compileMapping(cfg.Mapping)
		if err != nil {
			return nil, err
		}
		mk = func() Dialect { return &mappingDialect{m: m} }
	case "auto", "":
		c := cfg
		c.OTLP, c.OpenAIAgents, c.LangChain = cfg.OTLP.withDefaults(), cfg.OpenAIAgents.withDefaults(), cfg.LangChain.withDefaults()
		mk = func() Dialect { return newAuto(c) }
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownFormat, cfg.Format)
	}
	if ids := cfg.Identities; ids != nil {
		inner := mk
		mk = func() Dialect { return joined{inner(), ids} }
	}
	if cfg.MaxValues > 0 {
		limit := cfg.MaxValues
		return func() Dialect { return budgeted{Paired(mk()), limit} }, nil
	}
	return func() Dialect { return Paired(mk()) }, nil
}

// nativeDialect is Native behind the Dialect interface.
type nativeDialect struct{}

func (nativeDialect) Parse(l Line, now time.Time, emit func(*record.Record)) {
	emit(Native(l, now))
}

// textFunc parses a whole line into records; it returns an error (and its
// records are discarded) when the line is not of its dialect.
type textFunc func(text []byte, now time.Time) ([]*record.Record, error)

// parseWith runs f on l and emits its records with l's source, or one
// parse_error record when l was cut by the line limit or f fails.
func parseWith(l Line, now time.Time, emit func(*record.Record), f textFunc) {
	if l.FullLen > int64(len(l.Text)) {
		emit(ParseError(l, now, fmt.Errorf("line of %d bytes exceeds the line limit", l.FullLen)))
		return
	}
	rs, err := f(trimCR(l.Text), now)
	if err == nil && len(rs) == 0 {
		err = errors.New("no event in line")
	}
	if err != nil {
		emit(ParseError(l, now, err))
		return
	}
	for _, r := range rs {
		src := l.Source
		r.Source = &src
		r.IngestedAt = now
		if r.TS.IsZero() {
			r.TS = now
		}
		emit(r)
	}
}

func trimCR(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// NativeDialect returns the native dialect (stateless; see Native).
func NativeDialect() Dialect { return nativeDialect{} }

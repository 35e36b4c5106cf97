// Package parse turns lines of an agent's log into audit records (package
// record), before redaction and chaining.
//
// Each input format is a Dialect (one file each): native, fipsagents,
// otlp, openai-agents, langchain, mapping, and auto, which picks one per
// line from its shape (see Detect). New returns a constructor of the
// configured dialect, wrapped by approval pairing (Paired); the pipeline
// makes one per source file, because a dialect may keep state between
// lines: pending approvals, denied calls, tool call ids, interrupts, and
// the user and tenant of traces and root runs (carried to their records
// that lack them). That state is in memory, per file, bounded by
// MaxPending per table, and lost on restart; losing it loses what it
// would add (pairings, call ids, inferred approvals, carried identities),
// never a line. Field mappings and what each framework must emit:
// docs/dialects.md.
//
// Every line yields at least one record, all with the line's Source; a
// parse depends only on the line, the dialect's state and the ingestion
// time given to it (golden tests: testdata/<dialect>/*.in -> *.golden,
// -update rewrites them).
//
// The native dialect is one JSON object per line with the record's field
// names: ts, action (aliases type, event), user, tenant, agent, session
// (alias session_id), trace (alias trace_id), model, tool, arguments,
// outcome, approver. Every other key lands in detail. Values are kept as
// the agent wrote them; Arguments and Detail are raw, unredacted JSON and
// must go through redaction before anything is written.
//
// A line that is not a JSON object, has no action, has a ts that is not
// RFC 3339, or has an identity field that is an object or array becomes a
// parse_error record: never a silent skip. Its detail holds the reason, the
// raw text capped at MaxRawBytes (as a string, invalid UTF-8 replaced; the
// cut is moved back to a separator so that no PII literal is split into an
// unrecognisable prefix), the line's full length and the SHA-256 of the
// whole line, so an auditor can match it against the source. Other
// dialects make parse_error records the same way. With Config.MaxValues, a
// line holding more JSON values and keys than that (see Values: its '{',
// '[', ',' and ':' bytes) becomes a parse_error record before any dialect
// reads it, so that the memory a line takes is bounded by its bytes
// whatever its shape.
//
// An action outside the record's vocabulary becomes "other" with the
// original in detail.action; an outcome outside it becomes "unknown" with
// the original in detail.outcome.
package parse

// Package record defines the audit record: the one data type that every
// pipeline step after parsing hands to the next, and its canonical byte
// encoding (the payload).
//
// The payload is the authority. Chain MACs are computed over it, every sink
// stores it verbatim, and columns extracted for indexing are checked against
// it by verification. The encoding is specified in docs/chain-format.md so
// that a third party can verify records with independent code:
//
//   - one JSON object, UTF-8, no insignificant whitespace, no HTML escaping;
//   - top-level keys in the fixed order of [Fields]; a string field that is
//     empty, an absent object, or an empty manifest is omitted;
//   - times as RFC 3339 UTC with exactly nine fractional digits;
//   - "arguments" and "detail" hold compact JSON as produced by redaction;
//   - "redactions" is, in version 2, the [Manifest] (policy, then one entry
//     per rule in byte order of the rule id, each with its sorted paths);
//     in version 1 payloads, which still parse, it held type counts with
//     keys in byte order.
//
// Encoding is deterministic: the same Record always yields the same bytes.
// A verifier must MAC the stored bytes and never re-encode them.
package record

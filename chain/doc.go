// Package chain seals audit records into an HMAC-SHA256 hash chain and
// verifies such chains.
//
// Each record of a chain has a gapless 1-based seq. Record 1 is a
// chain_start record whose prev is 32 zero bytes. For every record
//
//	mac = HMAC-SHA256(key[kid], prev || payload)
//
// where prev is the 32-byte MAC of record seq-1 and payload is the record's
// canonical encoding (package record), which itself names the chain, seq,
// kid and prev (hex). docs/chain-format.md specifies the bytes, and
// testdata/vectors.json holds test vectors for independent verifiers.
//
// Keys are read from files (Kubernetes Secret mounts), must be at least 32
// bytes, and are never formatted: Key prints as its key id only. Only the
// standard library's crypto/hmac and crypto/sha256 are used, so the package
// works unchanged in Go's FIPS 140-3 mode.
//
// What a plain HMAC chain does not protect against is written down in the
// verifier's report: truncation of the newest records, and rewriting by
// someone who holds the key.
package chain

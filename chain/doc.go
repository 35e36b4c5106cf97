// Package chain seals audit records into an HMAC-SHA256 hash chain, signs
// checkpoints of it, and verifies both.
//
// # Records
//
// Each record of a chain has a gapless 1-based seq. Record 1 is a
// chain_start record whose prev is 32 zero bytes. For every record
//
//	mac = HMAC-SHA256(key[kid] at the record's epoch, prev || payload)
//
// where prev is the 32-byte MAC of record seq-1 and payload is the record's
// canonical encoding (package record), which itself names the chain, seq,
// kid, epoch and prev (hex). docs/chain-format.md specifies the bytes, and
// testdata/ holds test vectors for independent verifiers.
//
// # Epochs
//
// With forward-secure epochs (Sealer.SetEpoch), the key of epoch e+1 is
// HMAC-SHA256(K(e), "ratchet" || uint64be(e)) (Key.Ratchet) and the old key
// is erased (Sealer.Ratchet); a seal record closes each epoch. EpochFile
// keeps the current key beside the spool: replaced whole at each epoch,
// the previous key erased, and checksummed so that a damaged file is
// refused rather than read as a wrong key.
//
// # Checkpoints
//
// Every record is also a leaf of an RFC 6962 Merkle tree (LeafHash, Tree:
// the compact state, O(log n)). A Checkpoint states a chain's size, root
// and head MAC; Sign makes it a C2SP signed note with a NoteSigner
// (Ed25519 or ECDSA P-256 from a PKCS#8 PEM file), and OpenCheckpoint
// checks one against trusted keys (Verifiers).
//
// # Verification
//
// A Verifier takes one chain's records in seq order, in constant memory,
// and reports every problem (VerifyError): MACs, links, gaps, key
// rotations, retention purges, epochs and seals, checkpoint signatures and
// roots, witnessed checkpoints. Prepare does the part that depends on no
// other record, so callers may run it in parallel (package verify does).
//
// Keys are read from files (Kubernetes Secret mounts), must be at least 32
// bytes, and are never formatted: Key prints as its key id only. Only the
// standard library's crypto/hmac, crypto/sha256, crypto/ed25519 and
// crypto/ecdsa are used, so the package works unchanged in Go's FIPS 140-3
// mode (its tests run again under GODEBUG=fips140=only).
package chain

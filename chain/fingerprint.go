package chain

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
)

// KeyFingerprintLabel is the fixed prefix hashed before an HMAC key in
// its fingerprint (see Key.Fingerprint). It ends in a zero byte, so that
// no key id or other labelled hash of the key can share its input.
const KeyFingerprintLabel = "audit-sidecar hmac key fingerprint v1\x00"

// Fingerprint identifies the key's secret so that an auditor can tell
// which key a verification used and compare it with the key the operator
// keeps, without seeing it: the first 16 bytes, in lower-case hex, of
// SHA-256(KeyFingerprintLabel || key). SHA-256 is one-way and the label
// separates this hash from every other use of the key (the HMACs of
// records and key ids), so the fingerprint reveals nothing usable about
// the key; like any hash of a secret, it lets a guessed key be confirmed,
// which a key of 32 random bytes makes hopeless. docs/chain-format.md
// states the same computation.
func (k Key) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte(KeyFingerprintLabel))
	h.Write(k.secret)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Fingerprint is the lower-case hex SHA-256 of v's public key as PKIX
// (SubjectPublicKeyInfo) DER, as `openssl pkey -pubin -outform DER |
// sha256sum` prints it for the PEM file ("" if the key cannot be
// encoded).
func (v *NoteVerifier) Fingerprint() string {
	der, err := x509.MarshalPKIXPublicKey(v.pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Algorithm names v's signature algorithm: "Ed25519" or "ECDSA P-256".
func (v *NoteVerifier) Algorithm() string {
	switch v.pub.(type) {
	case ed25519.PublicKey:
		return "Ed25519"
	case *ecdsa.PublicKey:
		return "ECDSA P-256"
	}
	return "unknown"
}

// KeyHashHex is v's signed-note key hash (KeyHash) as 8 lower-case hex
// digits: the 4 bytes that every signature line of its checkpoints
// starts with.
func (v *NoteVerifier) KeyHashHex() string { return fmt.Sprintf("%08x", v.hash) }

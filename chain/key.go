package chain

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
)

// MinKeyBytes is the shortest HMAC key accepted: HMAC-SHA256 keys shorter
// than the hash output weaken it.
const MinKeyBytes = 32

// Key is an HMAC key with its key id. Its secret is unexported and Key's
// String and GoString print the id only, so a Key cannot leak through %v.
type Key struct {
	ID     string
	secret []byte
}

// NewKey makes a Key. An empty id is derived from the secret (see KeyID).
func NewKey(id string, secret []byte) (Key, error) {
	if len(secret) < MinKeyBytes {
		return Key{}, fmt.Errorf("key is %d bytes, need at least %d", len(secret), MinKeyBytes)
	}
	if id == "" {
		id = KeyID(secret)
	}
	return Key{ID: id, secret: bytes.Clone(secret)}, nil
}

// LoadKeyFile reads a key file. The file's bytes are the key, except that
// a text key (printable ASCII) loses one trailing "\n" or "\r\n", so that
// `echo`-made files work; a binary key (`head -c 32 /dev/urandom`) is used
// whole, whatever its last byte. Errors name the file, never its content.
func LoadKeyFile(path, id string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("read key file %q: %w", path, err)
	}
	k, err := NewKey(id, keyBytes(b))
	if err != nil {
		return Key{}, fmt.Errorf("key file %q: %w", path, err)
	}
	return k, nil
}

// keyBytes is the key in the bytes of a key file: see LoadKeyFile.
func keyBytes(b []byte) []byte {
	t, ok := bytes.CutSuffix(b, []byte("\n"))
	if !ok {
		return b
	}
	t = bytes.TrimSuffix(t, []byte("\r"))
	for _, c := range t {
		if c < 0x20 || c > 0x7e {
			return b
		}
	}
	return t
}

// KeyID derives a public key id from a secret: "hk-" and the first 16 hex
// digits of HMAC-SHA256(secret, "audit-sidecar key id"). It identifies the
// key without revealing anything usable about it.
func KeyID(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("audit-sidecar key id"))
	return "hk-" + hex.EncodeToString(m.Sum(nil))[:16]
}

// Secret returns a copy of the key bytes, for a consumer that keys its own
// HMAC (redaction's hash action). Never log it.
func (k Key) Secret() []byte { return bytes.Clone(k.secret) }

// String returns the key id only: a Key formatted by mistake (%v, %s,
// a zap.Any field) never shows its bytes.
func (k Key) String() string { return "Key(" + k.ID + ")" }

// GoString returns the key id only, for %#v (see String).
func (k Key) GoString() string { return k.String() }

// Keyring maps key ids to keys for verification.
type Keyring map[string]Key

// Add puts k in the ring.
func (r Keyring) Add(k Key) { r[k.ID] = k }

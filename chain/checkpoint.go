package chain

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/fips-agents/audit-sidecar/record"
)

// Checkpoint is a signed statement of a chain's state: its first Size
// records have the RFC 6962 Merkle root Root, and record Size has the MAC
// HeadMAC. Its text is a C2SP tlog-checkpoint; signed, it is a C2SP
// signed note (see docs/chain-format.md).
type Checkpoint struct {
	Chain   string
	Size    uint64
	Root    [32]byte
	HeadMAC [32]byte
	Time    time.Time
}

// OriginPrefix starts every checkpoint's origin line; the chain id follows.
const OriginPrefix = "audit-sidecar/"

// DefaultSignerName is the key name written in signature lines when none
// is configured.
const DefaultSignerName = "audit-sidecar"

// Text is the checkpoint body: origin, size, base64 root, then the
// extension lines "head <hex mac>" and "time <RFC 3339 UTC>".
func (c Checkpoint) Text() string {
	return OriginPrefix + c.Chain + "\n" +
		strconv.FormatUint(c.Size, 10) + "\n" +
		base64.StdEncoding.EncodeToString(c.Root[:]) + "\n" +
		"head " + hex.EncodeToString(c.HeadMAC[:]) + "\n" +
		"time " + record.FormatTime(c.Time) + "\n"
}

// ErrBadCheckpoint says a checkpoint's text is malformed.
var ErrBadCheckpoint = errors.New("malformed checkpoint")

// ParseCheckpoint parses a checkpoint body as Text writes it.
func ParseCheckpoint(text string) (Checkpoint, error) {
	var c Checkpoint
	lines := strings.Split(text, "\n")
	if len(lines) != 6 || lines[5] != "" || !strings.HasPrefix(lines[0], OriginPrefix) {
		return c, ErrBadCheckpoint
	}
	c.Chain = strings.TrimPrefix(lines[0], OriginPrefix)
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return c, ErrBadCheckpoint
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return c, ErrBadCheckpoint
	}
	copy(c.Root[:], root)
	mac, ok := strings.CutPrefix(lines[3], "head ")
	if b, err := hex.DecodeString(mac); !ok || err != nil || len(b) != 32 {
		return c, ErrBadCheckpoint
	} else {
		copy(c.HeadMAC[:], b)
	}
	ts, ok := strings.CutPrefix(lines[4], "time ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil {
		return c, ErrBadCheckpoint
	}
	c.Time = t.UTC()
	return c, nil
}

// Signature algorithm bytes of the signed-note key hash.
const (
	algEd25519   = 0x01
	algECDSAP256 = 0x02
)

// NoteSigner signs checkpoints with an Ed25519 or ECDSA P-256 private key
// (crypto/ed25519 and crypto/ecdsa only). It implements note.Signer.
type NoteSigner struct {
	name string
	hash uint32
	key  crypto.Signer
	alg  byte
}

// NoteVerifier checks signatures of one public key. It implements
// note.Verifier.
type NoteVerifier struct {
	name string
	hash uint32
	pub  crypto.PublicKey
	alg  byte
}

func (s *NoteSigner) Name() string    { return s.name }
func (s *NoteSigner) KeyHash() uint32 { return s.hash }

// Sign signs msg: Ed25519 over msg, or ECDSA P-256 (ASN.1 DER) over
// SHA-256(msg).
func (s *NoteSigner) Sign(msg []byte) ([]byte, error) {
	if s.alg == algEd25519 {
		return s.key.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	d := sha256.Sum256(msg)
	return s.key.Sign(rand.Reader, d[:], crypto.SHA256)
}

// Verifier returns the verifier of s's public key.
func (s *NoteSigner) Verifier() *NoteVerifier {
	return &NoteVerifier{name: s.name, hash: s.hash, pub: s.key.Public(), alg: s.alg}
}

// String never shows the key.
func (s *NoteSigner) String() string { return "NoteSigner(" + s.name + ")" }

func (v *NoteVerifier) Name() string    { return v.name }
func (v *NoteVerifier) KeyHash() uint32 { return v.hash }

// Verify reports whether sig is v's key's signature of msg.
func (v *NoteVerifier) Verify(msg, sig []byte) bool {
	switch pub := v.pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, msg, sig)
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(pub, d[:], sig)
	}
	return false
}

// PublicKeyPEM is the PKIX "PUBLIC KEY" PEM of v's key.
func (v *NoteVerifier) PublicKeyPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(v.pub)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// keyHash is the C2SP signed-note key id: the first 4 bytes of
// SHA-256(name || "\n" || alg || public key), with the public key as the
// 32 raw bytes for Ed25519 and its PKIX DER for ECDSA.
func keyHash(name string, alg byte, pub crypto.PublicKey) (uint32, error) {
	var raw []byte
	switch p := pub.(type) {
	case ed25519.PublicKey:
		raw = p
	case *ecdsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return 0, err
		}
		raw = der
	}
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{alg})
	h.Write(raw)
	return binary.BigEndian.Uint32(h.Sum(nil)), nil
}

func algOf(pub crypto.PublicKey) (byte, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return algEd25519, nil
	case *ecdsa.PublicKey:
		if p.Curve == elliptic.P256() {
			return algECDSAP256, nil
		}
	}
	return 0, errors.New("key is neither Ed25519 nor ECDSA P-256")
}

// validName is a signed-note key name: non-empty, no space or '+'.
func validName(name string) bool {
	return name != "" && !strings.ContainsAny(name, " +\n\t")
}

// ParseSigner reads a PKCS#8 PEM private key ("PRIVATE KEY", as
// `openssl genpkey` writes) of type Ed25519 or ECDSA P-256. Errors never
// contain key bytes.
func ParseSigner(name string, pemBytes []byte) (*NoteSigner, error) {
	if !validName(name) {
		return nil, fmt.Errorf("signer name %q: must be non-empty without spaces or '+'", name)
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PKCS#8 PEM private key (want a \"PRIVATE KEY\" block)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("not a valid PKCS#8 private key")
	}
	var key crypto.Signer
	switch k := k.(type) {
	case ed25519.PrivateKey:
		key = k
	case *ecdsa.PrivateKey:
		key = k
	default:
		return nil, errors.New("private key is neither Ed25519 nor ECDSA P-256")
	}
	alg, err := algOf(key.Public())
	if err != nil {
		return nil, err
	}
	h, err := keyHash(name, alg, key.Public())
	if err != nil {
		return nil, err
	}
	return &NoteSigner{name: name, hash: h, key: key, alg: alg}, nil
}

// LoadSigner reads a signing key file (see ParseSigner).
func LoadSigner(name, path string) (*NoteSigner, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key file %q: %w", path, err)
	}
	s, err := ParseSigner(name, b)
	if err != nil {
		return nil, fmt.Errorf("signing key file %q: %w", path, err)
	}
	return s, nil
}

// ParseVerifier reads a PKIX PEM public key ("PUBLIC KEY"), Ed25519 or
// ECDSA P-256. A private key PEM is accepted too (its public half is used).
func ParseVerifier(name string, pemBytes []byte) (*NoteVerifier, error) {
	if s, err := ParseSigner(name, pemBytes); err == nil {
		return s.Verifier(), nil
	}
	if !validName(name) {
		return nil, fmt.Errorf("signer name %q: must be non-empty without spaces or '+'", name)
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM public key (want a \"PUBLIC KEY\" block)")
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("not a valid PKIX public key")
	}
	alg, err := algOf(pub)
	if err != nil {
		return nil, err
	}
	h, err := keyHash(name, alg, pub)
	if err != nil {
		return nil, err
	}
	return &NoteVerifier{name: name, hash: h, pub: pub, alg: alg}, nil
}

// LoadVerifier reads a public key file (see ParseVerifier).
func LoadVerifier(name, path string) (*NoteVerifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key file %q: %w", path, err)
	}
	v, err := ParseVerifier(name, b)
	if err != nil {
		return nil, fmt.Errorf("public key file %q: %w", path, err)
	}
	return v, nil
}

// Sign returns the signed note of c.
func Sign(c Checkpoint, s note.Signer) (string, error) {
	b, err := note.Sign(&note.Note{Text: c.Text()}, s)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Verifiers is a set of trusted public keys; it implements note.Verifiers.
type Verifiers []note.Verifier

// Verifier returns the trusted key with this name and hash.
func (vs Verifiers) Verifier(name string, hash uint32) (note.Verifier, error) {
	for _, v := range vs {
		if v.Name() == name && v.KeyHash() == hash {
			return v, nil
		}
	}
	return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
}

// Errors of OpenCheckpoint besides ErrBadCheckpoint.
var (
	// ErrUnknownSigner: no signature is by a trusted key (the checkpoint
	// cannot be judged).
	ErrUnknownSigner = errors.New("checkpoint is not signed by a trusted key")
	// ErrBadSignature: a trusted key's signature does not match (the
	// checkpoint was altered or forged).
	ErrBadSignature = errors.New("checkpoint signature is invalid")
)

// OpenCheckpoint checks a signed note against trusted keys and parses its
// checkpoint. With no trusted keys it parses without checking signatures
// and returns ErrUnknownSigner with the parsed checkpoint.
func OpenCheckpoint(signed string, trusted Verifiers) (Checkpoint, error) {
	n, err := note.Open([]byte(signed), trusted)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case err == nil:
		c, perr := ParseCheckpoint(n.Text)
		return c, perr
	case errors.As(err, &unverified):
		c, perr := ParseCheckpoint(unverified.Note.Text)
		if perr != nil {
			return c, perr
		}
		return c, ErrUnknownSigner
	case errors.As(err, &invalid):
		return Checkpoint{}, ErrBadSignature
	}
	// Not a well-formed note: try the text before the signatures, so
	// that the caller can still say what it claimed.
	text, _, _ := bytes.Cut([]byte(signed), []byte("\n\n"))
	c, perr := ParseCheckpoint(string(text) + "\n")
	if perr != nil {
		return c, ErrBadCheckpoint
	}
	return c, ErrBadSignature
}

// CheckpointDetail is the detail of a checkpoint record carrying the
// signed note of tree t: {"note", "size", "tree"}, members in byte order
// as every detail (docs/chain-format.md).
// CheckpointTree reads its tree back.
func CheckpointDetail(note string, t Tree) []byte {
	hashes := make([]string, len(t.Hashes))
	for i, h := range t.Hashes {
		hashes[i] = hex.EncodeToString(h[:])
	}
	b, _ := json.Marshal(struct {
		Note string   `json:"note"`
		Size uint64   `json:"size"`
		Tree []string `json:"tree"`
	}{note, t.Size, hashes})
	return b
}

// CheckpointTree returns the tree state that the detail of a checkpoint
// record at seq states (size seq-1), if it is well formed. It checks
// neither the signature nor the root: the caller does what it needs.
func CheckpointTree(detail []byte, seq uint64) (Tree, bool) {
	var d struct {
		Size uint64   `json:"size"`
		Tree []string `json:"tree"`
	}
	if json.Unmarshal(detail, &d) != nil || seq == 0 || d.Size != seq-1 || len(d.Tree) != bits.OnesCount64(d.Size) {
		return Tree{}, false
	}
	t := Tree{Size: d.Size, Hashes: make([][32]byte, len(d.Tree))}
	for i, h := range d.Tree {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return Tree{}, false
		}
		copy(t.Hashes[i][:], b)
	}
	return t, true
}

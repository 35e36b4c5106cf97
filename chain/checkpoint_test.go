package chain

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The compact tree agrees with the RFC 6962 tree hash of x/mod's tlog
// (an independent implementation) at every size, and survives encoding.
func TestTree_MatchesTlog(t *testing.T) {
	var tr Tree
	var stored []tlog.Hash
	for n := int64(0); n < 300; n++ {
		payload := []byte(fmt.Sprintf(`{"seq":%d}`, n+1))
		hs, err := tlog.StoredHashes(n, payload, hashReader(stored))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		tr.Append(LeafHash(payload))
		want, err := tlog.TreeHash(n+1, hashReader(stored))
		if err != nil {
			t.Fatal(err)
		}
		if tr.Root() != [32]byte(want) {
			t.Fatalf("size %d: root %x, tlog %x", n+1, tr.Root(), want)
		}
		b, _ := tr.MarshalBinary()
		var back Tree
		if err := back.UnmarshalBinary(b); err != nil || back.Root() != tr.Root() || back.Size != tr.Size {
			t.Fatalf("size %d: round trip failed: %v", n+1, err)
		}
	}
	if err := new(Tree).UnmarshalBinary([]byte{0, 0, 0, 0, 0, 0, 0, 3}); !errors.Is(err, ErrBadTree) {
		t.Fatalf("size 3 with no hashes: %v", err)
	}
}

type hashReader []tlog.Hash

func (h hashReader) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = h[x]
	}
	return out, nil
}

func pkcs8PEM(t testing.TB, key any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func testSigners(t testing.TB) map[string]*NoteSigner {
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	eck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	out := map[string]*NoteSigner{}
	for name, k := range map[string]any{"ed25519": edk, "ecdsa-p256": eck} {
		s, err := ParseSigner("audit-sidecar", pkcs8PEM(t, k))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = s
	}
	return out
}

func TestCheckpoint_SignOpen(t *testing.T) {
	c := Checkpoint{Chain: "demo-agent", Size: 42, Root: [32]byte{1, 2}, HeadMAC: [32]byte{3}, Time: time.Date(2026, 11, 27, 4, 0, 0, 123, time.UTC)}
	for name, s := range testSigners(t) {
		t.Run(name, func(t *testing.T) {
			signed, err := Sign(c, s)
			if err != nil {
				t.Fatal(err)
			}
			// The public key travels as PEM; the verifier made from it
			// has the same key hash.
			v, err := ParseVerifier("audit-sidecar", s.Verifier().PublicKeyPEM())
			if err != nil {
				t.Fatal(err)
			}
			got, err := OpenCheckpoint(signed, Verifiers{v})
			if err != nil || got != c {
				t.Fatalf("open: %+v, %v", got, err)
			}
			// Altered text: a trusted key's signature no longer matches.
			forged := strings.Replace(signed, "\n42\n", "\n41\n", 1)
			if _, err := OpenCheckpoint(forged, Verifiers{v}); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("altered size: %v", err)
			}
			// A key that is not trusted: unknown, not valid.
			other := testSigners(t)[name].Verifier()
			got, err = OpenCheckpoint(signed, Verifiers{other})
			if !errors.Is(err, ErrUnknownSigner) || got.Size != 42 {
				t.Fatalf("untrusted key: %+v %v", got, err)
			}
			if _, err := OpenCheckpoint(signed, nil); !errors.Is(err, ErrUnknownSigner) {
				t.Fatalf("no keys: %v", err)
			}
		})
	}
}

// Ed25519 notes are C2SP signed notes: x/mod's own verifier, built from
// the standard "name+hash+key" string, accepts them.
func TestCheckpoint_Ed25519InteropWithNote(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := ParseSigner("audit-sidecar", pkcs8PEM(t, priv))
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := note.NewEd25519VerifierKey("audit-sidecar", pub)
	if err != nil {
		t.Fatal(err)
	}
	nv, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if nv.KeyHash() != s.KeyHash() {
		t.Fatalf("key hash %08x, note's %08x", s.KeyHash(), nv.KeyHash())
	}
	signed, _ := Sign(Checkpoint{Chain: "c", Size: 1, Time: time.Unix(0, 0)}, s)
	if _, err := note.Open([]byte(signed), note.VerifierList(nv)); err != nil {
		t.Fatal(err)
	}
}

func TestParseSigner_Rejects(t *testing.T) {
	rsaLike := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")})
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, b := range map[string][]byte{"junk": rsaLike, "p384": pkcs8PEM(t, p384), "empty": nil} {
		if _, err := ParseSigner("n", b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := ParseSigner("bad name", pkcs8PEM(t, edk)); err == nil {
		t.Error("name with a space accepted")
	}
}

// A checkpoint record's detail has its members in byte order, as every
// detail, and CheckpointTree reads back the tree it carries.
func TestCheckpointDetail(t *testing.T) {
	var tr Tree
	for i := range 5 {
		tr.Append(LeafHash([]byte{byte(i)}))
	}
	d := CheckpointDetail("n", tr)
	if !strings.HasPrefix(string(d), `{"note":"n","size":5,"tree":[`) {
		t.Fatalf("detail %s", d)
	}
	back, ok := CheckpointTree(d, 6)
	if !ok || back.Root() != tr.Root() {
		t.Fatalf("tree not read back: %v", ok)
	}
}

package chain

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The HMAC key fingerprint is the documented computation (a known answer
// computed with another implementation), tells keys apart, and shows
// nothing of the key: neither its bytes nor the key id or any MAC made
// with it.
func TestKey_Fingerprint(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	k, err := NewKey("", secret)
	if err != nil {
		t.Fatal(err)
	}
	// (printf 'audit-sidecar hmac key fingerprint v1\0'; printf %s "$key") | sha256sum | cut -c1-32
	const want = "1c8e98bb8d43111ed124d6e18d6fe7c5"
	if got := k.Fingerprint(); got != want {
		t.Fatalf("fingerprint %s, want %s", got, want)
	}
	sum := sha256.Sum256(append([]byte(KeyFingerprintLabel), secret...))
	if got := k.Fingerprint(); got != hex.EncodeToString(sum[:16]) {
		t.Fatalf("fingerprint %s is not SHA-256(label || key)[:16]", got)
	}
	fp := k.Fingerprint()
	for _, leak := range []string{string(secret), hex.EncodeToString(secret), strings.TrimPrefix(k.ID, "hk-"), hex.EncodeToString(sum[16:])} {
		if strings.Contains(fp, leak) || strings.Contains(leak, fp) {
			t.Fatalf("fingerprint %s shares text with %q", fp, leak)
		}
	}
	// The explicit kid changes the id, not the fingerprint: it is of the
	// key alone.
	named, _ := NewKey("prod-2026", secret)
	if named.Fingerprint() != fp {
		t.Fatal("fingerprint depends on the key id")
	}
	other, _ := NewKey("", []byte("0123456789abcdef0123456789abcdeF"))
	if other.Fingerprint() == fp {
		t.Fatal("two keys share a fingerprint")
	}
	if s := fmt.Sprintf("%v %+v %#v", k, k, k); strings.Contains(s, string(secret)) {
		t.Fatalf("a formatted key shows its secret: %s", s)
	}
}

// A public key's fingerprint is the SHA-256 of its PKIX DER, the same for
// the public and the private PEM, with the algorithm named; KeyHashHex is
// the key hash its signatures carry.
func TestNoteVerifier_Fingerprint(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name, alg string
		priv      any
		pub       any
	}{
		{"ed25519", "Ed25519", edPriv, edPub},
		{"p256", "ECDSA P-256", ec, &ec.PublicKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pder, err := x509.MarshalPKIXPublicKey(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			kder, err := x509.MarshalPKCS8PrivateKey(tc.priv)
			if err != nil {
				t.Fatal(err)
			}
			want := sha256.Sum256(pder)
			fromPub, err := ParseVerifier("signer", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}))
			if err != nil {
				t.Fatal(err)
			}
			signer, err := ParseSigner("signer", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []*NoteVerifier{fromPub, signer.Verifier()} {
				if v.Fingerprint() != hex.EncodeToString(want[:]) {
					t.Fatalf("fingerprint %s, want %x", v.Fingerprint(), want)
				}
				if v.Algorithm() != tc.alg {
					t.Fatalf("algorithm %q, want %q", v.Algorithm(), tc.alg)
				}
			}
			note, err := Sign(Checkpoint{Chain: "c", Size: 1, Time: time.Unix(0, 0)}, signer)
			if err != nil {
				t.Fatal(err)
			}
			_, sig, _ := strings.Cut(note, "\u2014 signer ")
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
			if err != nil || len(raw) < 4 {
				t.Fatalf("signature line %q: %v", sig, err)
			}
			if got := hex.EncodeToString(raw[:4]); got != fromPub.KeyHashHex() {
				t.Fatalf("signature names key hash %s, KeyHashHex %s", got, fromPub.KeyHashHex())
			}
		})
	}
}

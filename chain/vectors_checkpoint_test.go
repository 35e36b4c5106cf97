package chain

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// checkpointVector is chain/testdata/checkpoint.json: see
// docs/chain-format.md, "Test vectors".
type checkpointVector struct {
	Comment string `json:"comment"`
	Roots   []struct {
		Size uint64   `json:"size"`
		Root string   `json:"root_base64"`
		Tree []string `json:"tree"`
	} `json:"roots"`
	EpochKeys  map[string]string `json:"epoch_keys_hex"`
	PublicKey  string            `json:"ed25519_public_key_pem"`
	SignerName string            `json:"signer_name"`
	Note       string            `json:"checkpoint_note"`
}

// TestCheckpointVectors checks the Merkle roots, tree states, epoch keys
// and the signed checkpoint of the vector file with plain SHA-256, HMAC
// and Ed25519, apart from the sealing code; -update rewrites the file.
func TestCheckpointVectors(t *testing.T) {
	path := filepath.Join("testdata", "checkpoint.json")
	var recs vector
	b, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(recs.KeyHex)
	if *update {
		seed := sha256.Sum256([]byte("audit-sidecar checkpoint test vector"))
		priv := ed25519.NewKeyFromSeed(seed[:])
		der, _ := x509.MarshalPKCS8PrivateKey(priv)
		signer, err := ParseSigner("vector-signer", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if err != nil {
			t.Fatal(err)
		}
		v := checkpointVector{Comment: "RFC 6962 roots and tree states of the payloads of vectors.json; epoch keys K(e) derived from its key; a checkpoint of size 3; see docs/chain-format.md",
			EpochKeys: map[string]string{}, SignerName: "vector-signer", PublicKey: string(signer.Verifier().PublicKeyPEM())}
		var tr Tree
		var head [32]byte
		for i, r := range recs.Records {
			tr.Append(LeafHash([]byte(r.Payload)))
			root := tr.Root()
			var hs []string
			for _, h := range tr.Hashes {
				hs = append(hs, hex.EncodeToString(h[:]))
			}
			v.Roots = append(v.Roots, struct {
				Size uint64   `json:"size"`
				Root string   `json:"root_base64"`
				Tree []string `json:"tree"`
			}{uint64(i + 1), base64.StdEncoding.EncodeToString(root[:]), hs})
			mb, _ := hex.DecodeString(r.MAC)
			copy(head[:], mb)
		}
		k, _ := NewKey("", key)
		for _, e := range []uint64{2, 3} {
			v.EpochKeys[string(rune('0'+e))] = hex.EncodeToString(k.AtEpoch(e).secret)
		}
		v.Note, err = Sign(Checkpoint{Chain: "demo-agent", Size: 3, Root: tr.Root(), HeadMAC: head,
			Time: time.Date(2026, 11, 26, 10, 0, 1, 0, time.UTC)}, signer)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v checkpointVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	// Roots, by the recursive definition of RFC 6962 (not Tree).
	leaf := func(d []byte) []byte { h := sha256.Sum256(append([]byte{0}, d...)); return h[:] }
	node := func(l, r []byte) []byte { h := sha256.Sum256(append(append([]byte{1}, l...), r...)); return h[:] }
	var mth func(d [][]byte) []byte
	mth = func(d [][]byte) []byte {
		if len(d) == 1 {
			return leaf(d[0])
		}
		k := 1
		for k*2 < len(d) {
			k *= 2
		}
		return node(mth(d[:k]), mth(d[k:]))
	}
	var payloads [][]byte
	for _, r := range recs.Records {
		payloads = append(payloads, []byte(r.Payload))
	}
	for _, r := range v.Roots {
		if got := base64.StdEncoding.EncodeToString(mth(payloads[:r.Size])); got != r.Root {
			t.Errorf("size %d: root %s, vector %s", r.Size, got, r.Root)
		}
	}
	// Epoch keys: K(e+1) = HMAC-SHA256(K(e), "ratchet" || uint64_be(e)).
	k := key
	for e := uint64(1); e < 3; e++ {
		m := hmac.New(sha256.New, k)
		var be [8]byte
		binary.BigEndian.PutUint64(be[:], e)
		m.Write(append([]byte("ratchet"), be[:]...))
		k = m.Sum(nil)
		if got := hex.EncodeToString(k); got != v.EpochKeys[string(rune('0'+e+1))] {
			t.Errorf("K(%d) = %s, vector %s", e+1, got, v.EpochKeys[string(rune('0'+e+1))])
		}
	}
	// The note opens with the public key and states size 3 and its root.
	ver, err := ParseVerifier(v.SignerName, []byte(v.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(v.Note, Verifiers{ver})
	if err != nil || c.Size != 3 || base64.StdEncoding.EncodeToString(c.Root[:]) != v.Roots[2].Root {
		t.Fatalf("checkpoint vector: %+v, %v", c, err)
	}
}

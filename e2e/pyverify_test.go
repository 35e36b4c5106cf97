package e2e

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
)

// TestE2E_PythonVerifier checks an export of a real sidecar with the
// independent verifier tools/verify_export.py, written from
// docs/chain-format.md alone: the untouched export is valid, each tampered
// copy is invalid and names the seq, a wrong key does not pass.
func TestE2E_PythonVerifier(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "tools", "verify_export.py")

	e := newEnv(t)
	e.chainExtra = "  epoch: 200ms\n" // seals and derived epoch keys too
	withCheckpoints(t, e)
	appendLines(t, e.logPath, events(0, 99))
	// PII too, so that records carry a redactions manifest.
	appendLines(t, e.logPath, event(map[string]any{"action": "tool_call", "tool": "mail", "n": 99,
		"arguments": map[string]any{"to": "dana@example.com", "card": "4111 1111 1111 1111"}}))
	// A line that is not valid UTF-8: its record carries source.raw_sha256.
	appendLines(t, e.logPath, "{\"action\":\"tool_call\",\"tool\":\"sh\xffell\",\"n\":100}\n")
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 101, p)
	if n := count(t, db, `json_extract(payload, '$.source.raw_sha256') IS NOT NULL`); n != 1 {
		t.Fatalf("%d records with source.raw_sha256, want 1", n)
	}
	waitFor(t, "two seals", func() bool { return count(t, db, `action = 'seal'`) >= 2 })
	p.stop(t)
	db.Close()
	export := filepath.Join(e.dir, "export.ndjson")
	exportTo(t, e.cfgPath, export)

	run := func(file, keyFile string) (int, string) {
		t.Helper()
		cmd := exec.Command(python, script, file, "--key-file", keyFile)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &ee):
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("python3 %s: %v\n%s", script, err, out)
		return 0, ""
	}
	if code, out := run(export, e.keyPath); code != 0 {
		t.Fatalf("untouched export: verify_export.py exited %d, want 0\n%s", code, out)
	} else {
		t.Logf("untouched export:\n%s", out)
	}

	// The export's lines and the seq and action of each.
	data, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	at := map[int]int{} // seq -> line index
	ckpts := 0
	for i, l := range lines {
		var r struct {
			Seq    int
			Action string
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("export line %d: %v", i+1, err)
		}
		at[r.Seq] = i
		if r.Action == "checkpoint" {
			ckpts++
		}
	}
	if len(at) < 100 || ckpts < 5 {
		t.Fatalf("export holds %d records, %d checkpoints; want >= 100 and >= 5", len(at), ckpts)
	}
	// A tool_call record in the middle, followed by another record.
	seq := 0
	for s := 45; s < 70 && seq == 0; s++ {
		if strings.Contains(lines[at[s]], `"action":"tool_call"`) && strings.Contains(lines[at[s+1]], `"action":"tool_call"`) {
			seq = s
		}
	}
	if seq == 0 {
		t.Fatal("no two consecutive tool_call records between seq 45 and 70")
	}
	wrongKey := filepath.Join(t.TempDir(), "wrong.key")
	writeFile(t, wrongKey, []byte("WRONG-"+randHex(t, 32)+"\n"))

	// edit returns the export with the line of seq changed by f (nil: deleted).
	edit := func(f func(l string) string) []string {
		out := append([]string(nil), lines...)
		if f == nil {
			return append(out[:at[seq]], out[at[seq]+1:]...)
		}
		out[at[seq]] = f(out[at[seq]])
		return out
	}
	// changePayload turns "search" into "seArch" in a line's payload.
	changePayload := func(l string) string {
		if !strings.Contains(l, `"tool":"search"`) {
			t.Fatalf("no tool search in %s", l)
		}
		return strings.Replace(l, `"tool":"search"`, `"tool":"seArch"`, 1)
	}
	tests := []struct {
		name  string
		lines []string
	}{
		{"one payload byte", edit(changePayload)},
		{"one line deleted", edit(nil)},
		{"two lines swapped", func() []string {
			out := append([]string(nil), lines...)
			out[at[seq]], out[at[seq+1]] = out[at[seq+1]], out[at[seq]]
			return out
		}()},
		{"payload changed, mac recomputed with a wrong key", edit(func(l string) string {
			l = changePayload(l)
			body := strings.TrimSuffix(l, "\n")
			pl := body[:len(body)-74] + "}"
			var r struct{ Prev string }
			if err := json.Unmarshal([]byte(pl), &r); err != nil {
				t.Fatal(err)
			}
			prev, err := hex.DecodeString(r.Prev)
			if err != nil {
				t.Fatal(err)
			}
			m := hmac.New(sha256.New, []byte("WRONG-"+randHex(t, 32)))
			m.Write(prev)
			m.Write([]byte(pl))
			return fmt.Sprintf(`%s,"mac":"%x"}`+"\n", pl[:len(pl)-1], m.Sum(nil))
		})},
	}
	for _, tc := range tests {
		file := filepath.Join(t.TempDir(), "tampered.ndjson")
		writeFile(t, file, []byte(strings.Join(tc.lines, "")))
		code, out := run(file, e.keyPath)
		t.Logf("%s (seq %d): exit %d\n%s", tc.name, seq, code, out)
		if want := fmt.Sprintf("seq %d:", seq); code != 1 || !strings.Contains(out, want) {
			t.Errorf("%s: verify_export.py exited %d, want 1 with %q\n%s", tc.name, code, want, out)
		}
	}
	code, out := run(export, wrongKey)
	t.Logf("wrong key: exit %d\n%s", code, out)
	if code == 0 || !strings.Contains(out, "verdict: ") {
		t.Errorf("wrong key: verify_export.py exited %d, want non-zero\n%s", code, out)
	}
}

// runPyVerify runs tools/verify_export.py on an export with verify's
// flags (it takes the same --key-file, --pubkey, --witness, --checkpoint
// and --max-age) and returns its exit code and output. Without python3 on
// PATH the test is skipped.
func runPyVerify(t *testing.T, file string, args ...string) (int, string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, append([]string{filepath.Join(root, "tools", "verify_export.py"), file}, args...)...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("python3 verify_export.py: %v\n%s", err, out)
	return 0, ""
}

// TestE2E_PythonVerifier_Signatures: checkpoint signatures by Ed25519 and
// ECDSA P-256 keys (written as openssl writes them) get the same verdict
// from verify --file and from tools/verify_export.py, which checks them
// with its own code: valid with the signer's public key, unverifiable with
// another key, invalid when a signature or the signed text was altered.
func TestE2E_PythonVerifier_Signatures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "hmac.key")
	writeFile(t, keyPath, []byte(randHex(t, 32)+"\n"))
	key, err := chain.LoadKeyFile(keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, alg := range []struct {
		name string
		key  any
	}{{"ed25519", edKey}, {"ecdsa-p256", ecKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(alg.key)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := chain.ParseSigner(chain.DefaultSignerName, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if err != nil {
			t.Fatal(err)
		}
		pub := filepath.Join(dir, alg.name+".pub")
		writeFile(t, pub, signer.Verifier().PublicKeyPEM())
		_, otherPub := signingKeys(t, t.TempDir(), "other")

		// A chain of 25 records with checkpoints at seq 11 and 21, as the
		// sidecar seals them.
		s := chain.NewSealer("sig-"+alg.name, key, chain.Head{})
		t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
		var lines []string
		for i := 1; i <= 25; i++ {
			now := t0.Add(time.Duration(i) * time.Second)
			r := &record.Record{TS: now, IngestedAt: now, Action: record.ActionToolCall, Tool: "search"}
			switch {
			case i == 1:
				r.Action = record.ActionChainStart
				r.Tool = ""
			case i%10 == 1:
				h, tr := s.Head(), s.Tree()
				note, err := chain.Sign(chain.Checkpoint{Chain: "sig-" + alg.name, Size: h.Seq, Root: tr.Root(), HeadMAC: h.MAC, Time: now}, signer)
				if err != nil {
					t.Fatal(err)
				}
				r = &record.Record{TS: now, IngestedAt: now, Action: record.ActionCheckpoint, Detail: chain.CheckpointDetail(note, tr)}
			}
			sealed := s.Seal(r)
			lines = append(lines, string(record.AppendJSON(nil, sealed.Payload, sealed.MAC))+"\n")
		}
		export := filepath.Join(dir, alg.name+".ndjson")
		writeFile(t, export, []byte(strings.Join(lines, "")))
		// The note's signature line sits in the payload as "\u2014 name base64\n".
		sigAt := strings.Index(lines[20], `\n\n— `)
		if sigAt < 0 {
			t.Fatalf("no signature line in %s", lines[20])
		}
		alter := func(i int, f func(l string) string) string {
			out := append([]string(nil), lines...)
			out[i] = f(out[i])
			p := filepath.Join(t.TempDir(), "altered.ndjson")
			writeFile(t, p, []byte(strings.Join(out, "")))
			return p
		}
		// One character of the signature's base64, past the key hash
		// (MACs are not checked here: --pubkey alone).
		badSig := alter(20, func(l string) string {
			j := sigAt + len(`\n\n— `+chain.DefaultSignerName+" ") + 12
			c := byte('A')
			if l[j] == 'A' {
				c = 'B'
			}
			return l[:j] + string(c) + l[j+1:]
		})
		cases := []struct {
			name string
			file string
			args []string
			want int
		}{
			{"signer's key", export, []string{"--pubkey", pub}, 0},
			{"signer's key and the HMAC key", export, []string{"--pubkey", pub, "--key-file", keyPath}, 0},
			{"another key", export, []string{"--pubkey", otherPub}, 3},
			{"signature altered", badSig, []string{"--pubkey", pub}, 1},
		}
		for _, tc := range cases {
			t.Run(alg.name+"/"+tc.name, func(t *testing.T) {
				code, out, errs := runVerifyFile(t, tc.file, tc.args...)
				pyCode, pyOut := runPyVerify(t, tc.file, tc.args...)
				if code != tc.want || pyCode != tc.want {
					t.Fatalf("verify --file exited %d, verify_export.py %d, want %d\ngo:\n%s%s\npython:\n%s", code, pyCode, tc.want, out, errs, pyOut)
				}
				t.Logf("both exited %d\ngo:\n%s\npython:\n%s", code, out, pyOut)
			})
		}
	}
}

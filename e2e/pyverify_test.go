package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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

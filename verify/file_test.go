package verify

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
)

// framingExport returns the lines (each with its '\n') of one chain "f"
// of 12 records sealed with key.
func framingExport(t *testing.T, key chain.Key) [][]byte {
	t.Helper()
	s := chain.NewSealer("f", key, chain.Head{})
	var lines [][]byte
	for i := range 12 {
		at := time.Date(2026, 11, 27, 0, 0, i, 0, time.UTC)
		r := &record.Record{Action: record.ActionToolCall, Tool: "search", TS: at, IngestedAt: at}
		if i == 0 {
			r.Action, r.Tool = record.ActionChainStart, ""
		}
		sealed := s.Seal(r)
		lines = append(lines, append(record.AppendJSON(nil, sealed.Payload, sealed.MAC), '\n'))
	}
	return lines
}

// exportVariants are an export of chain "f" and copies that break its
// framing (docs/chain-format.md, "Export files"), each with the verdict
// every verifier must give and, for those that break it, a word of the
// problem. The e2e parity test runs tools/verify_export.py on the same.
func exportVariants(lines [][]byte) []struct {
	name, want, problem string
	body                []byte
} {
	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }
	all := join(lines...)
	start := func(v string) []byte { return []byte(`{"export_chain":"f","from_seq":` + v + "}\n") }
	fromFive := join(append([][]byte{start("5")}, lines[4:]...)...)
	return []struct {
		name, want, problem string
		body                []byte
	}{
		{"as exported", Valid, "", all},
		{"a time range: start line, then seq 5 on", Valid, "", fromFive},
		{"CRLF line endings", Invalid, "carriage return", bytes.ReplaceAll(all, []byte("\n"), []byte("\r\n"))},
		{"a blank line in the middle", Invalid, "is empty", join(join(lines[:5]...), []byte("\n"), join(lines[5:]...))},
		{"a blank line at the end", Invalid, "is empty", join(all, []byte("\n"))},
		{"the last line without its newline", Invalid, "does not end in a newline", all[:len(all)-1]},
		{"only newlines", Invalid, "is empty", []byte("\n\n\n")},
		{"trailing spaces", Invalid, "not a record line", bytes.Replace(all, []byte("}\n"), []byte("}  \n"), 1)},
		{"a leading space", Invalid, "canonical", join([]byte(" "), all)},
		{"a garbage line", Invalid, "not a record line", join(join(lines[:3]...), []byte("garbage\n"), join(lines[3:]...))},
		{"the line of an export cut short", Invalid, "not a record line", join(all, []byte(`{"export_error":"the export failed before its end; it is incomplete"}`+"\n"))},
		{"a start line after the chain's records", Invalid, "after records", join(all, start("5"))},
		{"a start line past the first record", Invalid, "begins at seq 1", join(start("5"), all)},
		{"a start line before a later first record", Invalid, "begins at seq 7", join(append([][]byte{start("5")}, lines[6:]...)...)},
		{"a second start line", Invalid, "second start line", join(start("5"), start("5"), join(lines[4:]...))},
		{"from_seq as a string", Invalid, "malformed start line", join(start(`"5"`), join(lines[4:]...))},
		{"from_seq 1", Invalid, "malformed start line", join(start("1"), all)},
		{"from_seq with a leading zero", Invalid, "malformed start line", join(start("05"), join(lines[4:]...))},
		{"a start line with spaces", Invalid, "malformed start line", join([]byte(`{"export_chain": "f", "from_seq": 5}`+"\n"), join(lines[4:]...))},
		{"a start line with an escaped chain id", Invalid, "malformed start line", join([]byte(`{"export_chain":"\u0066","from_seq":5}`+"\n"), join(lines[4:]...))},
		{"a start line with another member", Invalid, "malformed start line", join([]byte(`{"export_chain":"f","from_seq":5,"x":1}`+"\n"), join(lines[4:]...))},
	}
}

// verify --file and tools/verify_export.py frame an export the same way:
// lines that each end in \n, each a record or a start line as export
// writes it; any other line makes the export invalid (never a usage error,
// never valid), and is named by its number.
func TestFileStore_Framing(t *testing.T) {
	key, err := chain.NewKey("", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "hmac.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	python, _ := exec.LookPath("python3")
	for _, tc := range exportVariants(framingExport(t, key)) {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "export.ndjson")
			if err := os.WriteFile(path, tc.body, 0o600); err != nil {
				t.Fatal(err)
			}
			fs, err := OpenFile(path)
			if err != nil {
				t.Fatalf("OpenFile: %v", err)
			}
			rep, err := Run(context.Background(), fs, Options{Keys: chain.Keyring{key.ID: key}}, nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if rep.Verdict != tc.want {
				t.Errorf("verdict %s, want %s\n%s", rep.Verdict, tc.want, problemsText(rep))
			}
			if tc.problem != "" && !strings.Contains(problemsText(rep), tc.problem) {
				t.Errorf("no problem saying %q:\n%s", tc.problem, problemsText(rep))
			}
			for _, p := range fs.Problems() {
				if ex := Explain(p); !ex.Known || ex.About != AboutInput {
					t.Errorf("framing problem %q: explained %+v", p.Reason, ex)
				}
			}
			if python == "" {
				return
			}
			out, err := exec.Command(python, "../tools/verify_export.py", path, "--key-file", keyFile).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if want := map[string]int{Valid: 0, Invalid: 1, Unverifiable: 3}[tc.want]; code != want {
				t.Errorf("tools/verify_export.py exited %d, want %d\n%s", code, want, out)
			}
		})
	}
}

// A framing problem per line up to a bound, then one that counts the rest:
// a file of many blank lines is reported in bounded memory.
func TestFileStore_FramingProblemsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(path, bytes.Repeat([]byte("\n"), maxFramingProblems+500), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := fs.Problems()
	if len(ps) != maxFramingProblems+1 || !strings.Contains(ps[len(ps)-1].Reason, "500 more export lines, up to line 1500") {
		t.Fatalf("%d problems, the last %q", len(ps), ps[len(ps)-1].Reason)
	}
}

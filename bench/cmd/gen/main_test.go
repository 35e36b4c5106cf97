package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The test binary runs itself as the command when this variable is set, so
// that main is tested as it is, flags and all.
const asGen = "BENCH_GEN_TEST_AS_GEN"

func TestMain(m *testing.M) {
	if os.Getenv(asGen) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runGen runs the command with args and returns the events file and the PII list.
func runGen(t *testing.T, args ...string) (events, pii []byte) {
	t.Helper()
	dir := t.TempDir()
	ev, pl := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "pii.txt")
	cmd := exec.Command(os.Args[0], append(args, "-o", ev, "-pii-list", pl)...)
	cmd.Env = append(os.Environ(), asGen+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen %v: %v\n%s", args, err, out)
	}
	events, err := os.ReadFile(ev)
	if err != nil {
		t.Fatal(err)
	}
	if pii, err = os.ReadFile(pl); err != nil {
		t.Fatal(err)
	}
	return events, pii
}

// The same -n and -seed give the same bytes, run after run and build after
// build: every figure of the benchmark is measured on this file. The digest
// is that of redact/testdata/events.jsonl (the redaction benchmarks'
// sample), written by this generator.
func TestGen_Deterministic(t *testing.T) {
	a, pa := runGen(t, "-n", "300", "-seed", "42")
	b, pb := runGen(t, "-n", "300", "-seed", "42")
	if !bytes.Equal(a, b) || !bytes.Equal(pa, pb) {
		t.Fatal("two runs with -n 300 -seed 42 differ")
	}
	if n := bytes.Count(a, []byte{'\n'}); n != 300 || a[len(a)-1] != '\n' {
		t.Fatalf("%d lines, want 300, each ending in a newline", n)
	}
	if !bytes.HasPrefix(a, []byte(`{"ts":"2025-06-02T09:00:00.`)) || !bytes.Contains(a, []byte(`"seq":300,`)) {
		t.Fatalf("unexpected first line or no seq 300: %.120s", a)
	}
	const want = "36dd11bd4479b5d67850bd879647e511a5fae94d01ae5ffac6e5f7a8ff1164e4"
	if sum := sha256.Sum256(a); hex.EncodeToString(sum[:]) != want {
		t.Fatalf("sha256 of -n 300 -seed 42 = %x, want %s", sum, want)
	}
	if len(pa) == 0 {
		t.Fatal("empty PII list")
	}
	c, _ := runGen(t, "-n", "300", "-seed", "43")
	if bytes.Equal(a, c) {
		t.Fatal("-seed 43 gives the same bytes as -seed 42")
	}
}

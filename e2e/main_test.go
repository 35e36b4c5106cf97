// Package e2e holds the process-level tests of audit-sidecar: they build the
// real binary once, start it on temp configs, feed it real files, kill it,
// tamper with its database and run verify, the way an operator would.
//
// The tests never assert on durations: the machines they run on are loaded.
// Every wait is for a condition, with a generous deadline.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bin is the path of the audit-sidecar binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	dir, err := os.MkdirTemp("", "audit-sidecar-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "audit-sidecar")
	build := exec.Command("go", "build", "-o", bin, "./cmd/audit-sidecar")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/audit-sidecar: %v\n%s", err, out)
		return 2
	}
	return m.Run()
}

// moduleRoot is the folder of the go.mod this package belongs to.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a module (GOMOD=%q)", gomod)
	}
	return filepath.Dir(gomod), nil
}

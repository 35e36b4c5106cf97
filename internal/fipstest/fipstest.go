// Package fipstest reruns a package's tests under GODEBUG=fips140=only,
// where any cryptography outside the FIPS 140-3 module fails.
package fipstest

import (
	"crypto/fips140"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const childEnv = "AUDIT_FIPS_ONLY_CHILD"

// Rerun runs the calling test binary's tests again in a child process
// with GODEBUG=fips140=only and fails if they fail. Inside that child it
// only checks that the mode is enforced.
func Rerun(t *testing.T) {
	t.Helper()
	if os.Getenv(childEnv) != "" {
		if !fips140.Enforced() {
			t.Fatal("the child does not run with fips140=only")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=only", childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("tests under GODEBUG=fips140=only: %v\n%s", err, out)
	}
}

package chain

import (
	"crypto/fips140"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestFIPSOnly runs this package's tests again in a child process with
// GODEBUG=fips140=only, where any cryptography outside the FIPS 140-3
// module fails: the chain and its verification use approved algorithms
// only (HMAC-SHA256, SHA-256, Ed25519, ECDSA P-256).
func TestFIPSOnly(t *testing.T) {
	if os.Getenv("AUDIT_FIPS_ONLY_CHILD") != "" {
		if !fips140.Enforced() {
			t.Fatal("the child does not run with fips140=only")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=only", "AUDIT_FIPS_ONLY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("tests under GODEBUG=fips140=only: %v\n%s", err, out)
	}
}

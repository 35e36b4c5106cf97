package chain

import (
	"testing"

	"github.com/fips-agents/audit-sidecar/internal/fipstest"
)

// TestFIPSOnly: this package uses approved algorithms only (HMAC-SHA256,
// SHA-256, Ed25519, ECDSA P-256): its tests pass again under
// GODEBUG=fips140=only.
func TestFIPSOnly(t *testing.T) { fipstest.Rerun(t) }

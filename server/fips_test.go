package server

import (
	"testing"

	"github.com/fips-agents/audit-sidecar/internal/fipstest"
)

// TestFIPSOnly reruns the package's tests where any cryptography outside
// the FIPS 140-3 module fails.
func TestFIPSOnly(t *testing.T) { fipstest.Rerun(t) }

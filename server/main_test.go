package server

import (
	"testing"

	"go.uber.org/goleak"
)

// Every listener a test starts is shut down, with its connections.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

package sink

import (
	"context"

	"github.com/fips-agents/audit-sidecar/record"
)

// Null is a Sink that accepts every batch and stores nothing: for dry runs
// and for keeping records in the spool only. It is safe for concurrent use.
type Null struct{}

var _ Sink = Null{}

// Write discards batch. It fails only when ctx is already done, like a
// real sink would, so that shutdown behaves the same with any sink.
func (Null) Write(ctx context.Context, batch []record.Sealed) error { return ctx.Err() }

// Close does nothing.
func (Null) Close() error { return nil }

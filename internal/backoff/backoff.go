// Package backoff spaces out retries: a wait that doubles from a minimum
// to a maximum after each failure and starts again from the minimum once
// the caller reports a success (Reset). The spool commit, the sinks'
// deliverers and the witness URL all retry with it.
package backoff

import (
	"context"
	"time"
)

// Backoff is the wait between retries of one loop. It is not safe for
// concurrent use: each retrying goroutine has its own.
type Backoff struct {
	min, max, cur time.Duration
}

// New returns a Backoff whose first wait is min, doubling up to max.
func New(min, max time.Duration) *Backoff { return &Backoff{min: min, max: max} }

// Next returns the next wait and advances: min after a Reset (or at
// first), then twice the wait before, at most max.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	return b.cur
}

// Wait sleeps for the next wait, or returns ctx's error as soon as ctx is
// done.
func (b *Backoff) Wait(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Reset makes the next wait min again: call it after a success.
func (b *Backoff) Reset() { b.cur = 0 }

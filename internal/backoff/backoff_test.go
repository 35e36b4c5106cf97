package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoff_DoublesToMaxAndResets(t *testing.T) {
	b := New(100*time.Millisecond, time.Second)
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("wait %d = %s, want %s", i, got, w*time.Millisecond)
		}
	}
	b.Reset()
	if got := b.Next(); got != 100*time.Millisecond {
		t.Fatalf("wait after Reset = %s, want the minimum", got)
	}
}

// A maximum that is not a power of two times the minimum is reached, not
// overshot.
func TestBackoff_MaxNotAMultiple(t *testing.T) {
	b := New(3*time.Second, 5*time.Second)
	for i, w := range []time.Duration{3, 5, 5} {
		if got := b.Next(); got != w*time.Second {
			t.Fatalf("wait %d = %s, want %s", i, got, w*time.Second)
		}
	}
}

func TestBackoff_WaitEndsWithContext(t *testing.T) {
	b := New(time.Hour, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context: %v, want context.Canceled", err)
	}
	if err := New(time.Nanosecond, time.Nanosecond).Wait(context.Background()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

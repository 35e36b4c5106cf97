package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/spool"
)

// TestTrimWhenIdle: the memory a burst left is returned once per quiet
// spell: not while a sink is behind, once when it has every record and
// the records have stopped, not again for a trickle of records (a quiet
// sidecar's own heartbeats), and again after the next burst.
func TestTrimWhenIdle(t *testing.T) {
	defer func(d time.Duration) { idleTrimEvery = d }(idleTrimEvery)
	idleTrimEvery = 20 * time.Millisecond
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.Register([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	s := &sidecar{spool: sp, log: zap.New(core)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.trimWhenIdle(ctx) }()
	defer func() { cancel(); <-done }()
	trims := func() int { return logs.FilterMessage("idle: memory returned").Len() }
	seq := uint64(0)
	appendOne := func() {
		seq++
		if err := sp.Append([]record.Sealed{{Chain: "c", Seq: seq, Payload: []byte(`{}`)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	quiet := func() { time.Sleep(15 * idleTrimEvery) }

	// Records keep coming: no trim.
	for range 20 {
		appendOne()
		time.Sleep(idleTrimEvery / 2)
	}
	if n := trims(); n != 0 {
		t.Fatalf("%d trims while records were sealed", n)
	}
	// Quiet, but the sink is behind: no trim.
	quiet()
	if n := trims(); n != 0 {
		t.Fatalf("%d trims while a sink was behind", n)
	}
	// Delivered: one trim, however long the quiet lasts.
	if err := sp.Ack("a", seq); err != nil {
		t.Fatal(err)
	}
	quiet()
	quiet()
	if n := trims(); n != 1 {
		t.Fatalf("%d trims in one quiet spell, want 1", n)
	}
	// A trickle of records, delivered (checkpoint heartbeats of a quiet
	// sidecar): quiet intervals, but too few records since the trim for
	// another.
	for range idleQuiet - 2 {
		appendOne()
		if err := sp.Ack("a", seq); err != nil {
			t.Fatal(err)
		}
		time.Sleep(idleTrimEvery)
	}
	quiet()
	if n := trims(); n != 1 {
		t.Fatalf("%d trims after a trickle of records, want still 1", n)
	}
	// The next burst, delivered, then quiet: one more.
	for range idleQuiet {
		appendOne()
	}
	if err := sp.Ack("a", seq); err != nil {
		t.Fatal(err)
	}
	quiet()
	if n := trims(); n != 2 {
		t.Fatalf("%d trims after a second spell, want 2", n)
	}
}

// At shutdown the spool is closed while trimWhenIdle may still be
// running (its context ends just before, and nothing waits for it): its
// calls into the closed spool do nothing, and it stops with its context.
func TestTrimWhenIdle_SpoolClosedUnderIt(t *testing.T) {
	defer func(d time.Duration) { idleTrimEvery = d }(idleTrimEvery)
	idleTrimEvery = time.Millisecond
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Register([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	burst := func(from uint64) uint64 { // a trim's worth of records, delivered
		var b []record.Sealed
		for i := range uint64(idleQuiet) {
			b = append(b, record.Sealed{Chain: "c", Seq: from + i, Payload: []byte(`{}`)})
		}
		if err := sp.Append(b, nil); err != nil {
			t.Fatal(err)
		}
		last := from + idleQuiet - 1
		if err := sp.Ack("a", last); err != nil {
			t.Fatal(err)
		}
		return last
	}
	last := burst(1)
	core, logs := observer.New(zapcore.DebugLevel)
	s := &sidecar{spool: sp, log: zap.New(core)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.trimWhenIdle(ctx) }()
	for deadline := time.Now().Add(5 * time.Second); logs.FilterMessage("idle: memory returned").Len() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no trim")
		}
	}
	// The next spell's trim races the close.
	burst(last + 1)
	time.Sleep(2 * time.Millisecond)
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	<-done
}

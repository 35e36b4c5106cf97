package main

import (
	"context"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// idleTrimEvery is how long the sidecar must have sealed (almost)
// nothing, with every record delivered, before it returns the memory a
// burst left.
var idleTrimEvery = 30 * time.Second

// idleQuiet is how many records an interval may seal and still be quiet:
// a quiet sidecar seals its own records (checkpoint heartbeats, epoch
// seals, as often as every few seconds when so configured), and those
// alone must not keep it from returning memory. A trim is also due only
// after at least this many records since the last one, so that a
// trickle of them does not force a collection every interval.
const idleQuiet = 16

// trimWhenIdle returns to the kernel, once per quiet spell, what a burst
// of records left resident: the free pages of Go's heap (a forced
// collection and scavenge, debug.FreeOSMemory) and the spool file's mapped
// pages (spool.ReleaseMemory). Without it a sidecar stayed at about its
// peak (60-70 MiB after 200 000 events) long after the agent went quiet;
// the runtime gives heap pages back only slowly, and the mapping only
// every few MiB acknowledged. The SQLite sink's idle connections, with
// their page caches, close on their own (sink.sqliteConnIdle). An
// interval is quiet when the spool's head moved by fewer than idleQuiet
// records and every sink has it; a sink that stays behind keeps its
// backlog's memory, which it still needs.
func (s *sidecar) trimWhenIdle(ctx context.Context) {
	t := time.NewTicker(idleTrimEvery)
	defer t.Stop()
	var last, trimmed uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		head := s.spool.State().HeadSeq
		quiet := head-last < idleQuiet
		last = head
		if !quiet || head-trimmed < idleQuiet || s.spool.Delivered() != head {
			continue
		}
		trimmed = head
		s.spool.ReleaseMemory()
		debug.FreeOSMemory()
		s.log.Debug("idle: memory returned", zap.Uint64("head_seq", head))
	}
}

package main

import (
	"context"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// idleTrimEvery is how long the sidecar must have sealed nothing, with
// every record delivered, before it returns the memory a burst left.
var idleTrimEvery = 30 * time.Second

// trimWhenIdle returns to the kernel, once per quiet spell, what a burst
// of records left resident: the free pages of Go's heap (a forced
// collection and scavenge, debug.FreeOSMemory) and the spool file's mapped
// pages (spool.ReleaseMemory). Without it a sidecar stayed at about its
// peak (60-70 MiB after 200 000 events) long after the agent went quiet;
// the runtime gives heap pages back only slowly, and the mapping only
// every few MiB acknowledged. The SQLite sink's idle connections, with
// their page caches, close on their own (sink.sqliteConnIdle). A spell is
// quiet when the spool's head has not moved for idleTrimEvery and every
// sink has it; a seal or checkpoint record ends a spell like any other.
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
		if head != last || head == trimmed || s.spool.Delivered() != head {
			last = head
			continue
		}
		trimmed = head
		s.spool.ReleaseMemory()
		debug.FreeOSMemory()
		s.log.Debug("idle: memory returned", zap.Uint64("head_seq", head))
	}
}

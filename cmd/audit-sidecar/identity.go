package main

import (
	"context"
	"errors"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// identityCatchUp bounds how long ingestion waits at start for the
// identity log's existing lines to be read.
const identityCatchUp = 5 * time.Second

// identityFollower reads source.identity_path into a parse.Identities
// table: from its first byte at every start (the table is in memory),
// following rotations like the source.
type identityFollower struct {
	path string
	tl   *tailer.Tailer
	ids  *parse.Identities
	log  *zap.Logger
}

// newIdentityFollower checks source.identity_path's settings; nothing is
// read before follow.
func newIdentityFollower(src config.Source, ids *parse.Identities, log *zap.Logger) (*identityFollower, error) {
	log = log.With(zap.String("identity_path", src.IdentityPath))
	tl, err := tailer.New(tailer.Config{
		Path: src.IdentityPath, StartAt: "beginning", Poll: src.Poll,
		MaxLineBytes: 1 << 20, RotateDrain: src.RotateDrain, Logger: log,
	}, nil)
	if err != nil {
		return nil, err
	}
	return &identityFollower{path: src.IdentityPath, tl: tl, ids: ids, log: log}, nil
}

// follow reads the identity log until ctx is done. caughtUp is closed once
// the bytes the file held when follow was called have been read; done
// when it has stopped. A failure is logged, not fatal: records then say
// that their request was not found.
func (f *identityFollower) follow(ctx context.Context) (caughtUp, done <-chan struct{}) {
	log := f.log
	var size int64
	if fi, err := os.Stat(f.path); err == nil {
		size = fi.Size()
	}
	up, stopped := make(chan struct{}), make(chan struct{})
	if size == 0 {
		close(up)
	}
	lines := make(chan tailer.Line, 1024)
	go func() {
		if err := f.tl.Run(ctx, lines); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("identity log: tailer failed; records are no longer joined with new requests", zap.Error(err))
		}
		close(lines)
	}()
	go func() {
		defer close(stopped)
		var n, bad int
		for l := range lines {
			if l.Gap != nil {
				continue
			}
			if f.ids.Add(l.Text) {
				n++
			} else {
				bad++
			}
			if size > 0 && l.Next.Offset >= size {
				size = 0
				close(up)
				log.Info("identity log read", zap.Int("requests", n), zap.Int("other_lines", bad))
			}
		}
	}()
	return up, stopped
}

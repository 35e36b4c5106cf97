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

// followIdentities reads source.identity_path into ids until ctx is done:
// from its first byte at every start (the table is in memory), following
// rotations like the source. caughtUp is closed once the bytes the file
// held at start have been read; done when it has stopped. A failure is
// logged, not fatal: records then say that their request was not found.
func followIdentities(ctx context.Context, src config.Source, ids *parse.Identities, log *zap.Logger) (caughtUp, done <-chan struct{}, err error) {
	log = log.With(zap.String("identity_path", src.IdentityPath))
	tl, err := tailer.New(tailer.Config{
		Path: src.IdentityPath, StartAt: "beginning", Poll: src.Poll,
		MaxLineBytes: 1 << 20, RotateDrain: src.RotateDrain, Logger: log,
	}, nil)
	if err != nil {
		return nil, nil, err
	}
	var size int64
	if fi, err := os.Stat(src.IdentityPath); err == nil {
		size = fi.Size()
	}
	up, stopped := make(chan struct{}), make(chan struct{})
	if size == 0 {
		close(up)
	}
	lines := make(chan tailer.Line, 1024)
	go func() {
		if err := tl.Run(ctx, lines); err != nil && !errors.Is(err, context.Canceled) {
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
			if ids.Add(l.Text) {
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
	return up, stopped, nil
}

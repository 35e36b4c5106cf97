package main

import (
	"context"
	"crypto/fips140"
	"errors"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/tailer"
)

// runCmd is `audit-sidecar run`, in three phases:
//
//   - open (openSidecar): every part is opened or checked, the HTTP
//     listeners last; any failure ends the start with exit 2 and a reason
//     naming the config key, and closes what was opened;
//   - start: the witness publisher, the deliverers, the identity log's
//     follower and the source start, and ingestion runs until a stop
//     signal (SIGTERM, SIGINT) or until the source or ingestion fails;
//   - shutdown: the parts stop in the one order that loses nothing
//     (sidecar.shutdown), then the spool and the sinks are closed
//     (sidecar.close).
//
// A watchdog ends the process if the shutdown has not ended within
// shutdown.drain_timeout + shutdownSlack of the stop signal.
func runCmd(args []string) int {
	cfg, code := loadConfig("run", args, nil)
	if cfg == nil {
		return code
	}
	// The sidecar's live heap is small (about 16 MiB under full load:
	// the open batch, recent records, redaction state) and its garbage
	// rate is low: collecting at half the heap's growth instead of all of
	// it keeps a sidecar's memory, paid in every pod, about 10 MiB lower
	// for about 1 % more CPU (README, Performance). GOGC and GOMEMLIMIT in
	// the environment take precedence.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(50)
	}
	log := newLogger(cfg.Log.Level)
	defer log.Sync()
	s, code := openSidecar(cfg, log)
	if s == nil {
		return code
	}
	defer s.close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	r := s.start(ctx)
	return s.shutdown(r, s.ingest(r))
}

// shutdownSlack bounds the shutdown besides the drain: the final commit,
// the witness, the HTTP server's own 5 s.
const shutdownSlack = 10 * time.Second

// listenerShutdown is how long requests in progress may take once the
// listeners stop.
const listenerShutdown = 5 * time.Second

// running is what start started, for shutdown.
type running struct {
	ingestCtx    context.Context // done at a stop signal, or when the source fails
	cancelIngest context.CancelFunc
	lines        chan tailer.Line // source -> ingester
	sourceDone   chan error       // the source's Run result
	identities   <-chan struct{}  // closed when the identity log's follower has stopped; nil without one

	drain          chan struct{} // closed: deliverers return once their sink holds every spooled record
	cancelDeliver  context.CancelFunc
	deliverersDone chan struct{} // closed when every deliverer has returned

	stopPublisher func() // ends the publisher after its last publication, once
}

// start starts every part but the ingester, which ingest runs: the
// witness publisher, the watchdog, the deliverers, the identity log's
// follower (ingestion waits a while for it to read what the file holds)
// and the source.
func (s *sidecar) start(ctx context.Context) *running {
	r := &running{drain: make(chan struct{}), deliverersDone: make(chan struct{})}

	// The witness URL is posted until ingestion has stopped (its final
	// checkpoint included), then once more at most.
	pubCtx, cancelPub := context.WithCancel(context.Background())
	pubDone := make(chan struct{})
	if s.publisher != nil {
		go func() { defer close(pubDone); s.publisher.Run(pubCtx) }()
	} else {
		close(pubDone)
	}
	r.stopPublisher = sync.OnceFunc(func() { cancelPub(); <-pubDone })
	s.log.Info("sidecar started", zap.String("chain", s.cfg.Chain.ID), zap.String("kid", s.kid),
		zap.String("source", s.cfg.Source.Path), zap.Bool("fips140", fips140.Enabled()), zap.String("version", version))

	go s.watchdog(ctx)
	go s.trimWhenIdle(ctx)

	// Delivery runs until drained after ingestion stops, within the deadline.
	deliverCtx, cancelDeliver := context.WithCancel(context.Background())
	r.cancelDeliver = cancelDeliver
	var dwg sync.WaitGroup
	for _, d := range s.deliverers {
		dwg.Go(func() { d.Run(deliverCtx, r.drain) })
	}
	go func() { dwg.Wait(); close(r.deliverersDone) }()

	// Ingestion: the source feeds lines; a source failure stops everything.
	r.lines = make(chan tailer.Line, 4096)
	r.ingestCtx, r.cancelIngest = context.WithCancel(ctx)
	if s.identities != nil {
		caughtUp, stopped := s.identities.follow(r.ingestCtx)
		r.identities = stopped
		select {
		case <-caughtUp:
		case <-time.After(identityCatchUp):
			s.log.Warn("identity log not read to its end in time; ingestion starts anyway")
		case <-r.ingestCtx.Done():
		}
	}
	r.sourceDone = make(chan error, 1)
	go func() {
		err := s.source.Run(r.ingestCtx, r.lines)
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("tailer failed", zap.Error(err))
			r.cancelIngest()
		}
		r.sourceDone <- err
	}()
	return r
}

// ingest runs the ingester until ingestion's context ends (a stop signal,
// or a source failure) and it has committed its open batch and the
// sidecar_stop record; it returns the exit code so far.
func (s *sidecar) ingest(r *running) int {
	if err := s.ingester.Run(r.ingestCtx, r.lines); err != nil {
		s.log.Error("ingestion stopped with an error", zap.Error(err))
		return exitFailure
	}
	return exitOK
}

// shutdown stops what start started once ingest has returned, in the one
// order that loses nothing, and returns exit (exitFailure if the source
// failed):
//
//  1. the source: ingestion's context is cancelled (the ingester has
//     committed everything it read already) and the source's end awaited;
//  2. the deliverers: told to drain, each returns once its sink holds
//     every spooled record; past shutdown.drain_timeout they are
//     cancelled, and what they had not delivered stays in the spool;
//  3. the witness publisher: it publishes what the drain delivered (the
//     final checkpoint included), then stops;
//  4. the HTTP listeners: requests in progress get listenerShutdown;
//  5. the identity log's follower, cancelled in 1 with the source and
//     awaited last, as nothing waits for it.
//
// The spool and then the sinks (which queries read until 4) are closed
// after it, by close.
func (s *sidecar) shutdown(r *running, exit int) int {
	// 1. The source.
	r.cancelIngest()
	if err := <-r.sourceDone; err != nil && !errors.Is(err, context.Canceled) {
		exit = exitFailure
	}

	// 2. The deliverers, for a bounded time.
	close(r.drain)
	select {
	case <-r.deliverersDone:
	case <-time.After(s.cfg.Shutdown.DrainTimeout):
		s.log.Warn("drain timeout: undelivered records stay in the spool", zap.Int64("pending_bytes", s.spool.PendingBytes()))
		r.cancelDeliver()
		<-r.deliverersDone
	}
	r.cancelDeliver()

	// 3. The witness publisher.
	r.stopPublisher()

	// 4. The listeners.
	s.listeners.shutdown(listenerShutdown)
	s.log.Info("sidecar stopped", zap.Uint64("head_seq", s.spool.State().HeadSeq), zap.Int64("pending_bytes", s.spool.PendingBytes()))

	// 5. The identity log's follower.
	if r.identities != nil {
		<-r.identities
	}
	return exit
}

// close closes the spool, then the sinks: whatever of them is open.
func (s *sidecar) close() {
	if s.spool != nil {
		s.spool.Close()
	}
	closeSinks(s.sinks)
}

// watchdog ends the process once the stop signal is drain_timeout +
// shutdownSlack old: whatever the source or a sink is doing (a read stuck
// in the kernel, a hung server), a stop request ends the process within a
// bound. Exiting there is as safe as a kill: the spool holds everything
// committed.
func (s *sidecar) watchdog(ctx context.Context) {
	<-ctx.Done()
	time.Sleep(s.cfg.Shutdown.DrainTimeout + shutdownSlack)
	s.log.Error("shutdown did not finish in time; exiting, the spool keeps everything committed")
	_ = s.log.Sync()
	os.Exit(exitFailure)
}

package sink

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// The WAL's frames are copied into the database file (checkpointed) by a
// goroutine of the store's own, through SQLite.hold, instead of by the
// writer after its commit (SQLite's wal_autocheckpoint, turned off in
// sqliteDSN). A checkpoint reads the frames back, writes them into the
// file and fsyncs it: measured at a sixth of the deliverer's time on the
// bench workload, during which the next batch waited. A PASSIVE
// checkpoint runs beside the writer's transactions without blocking them.
//
// Durability does not change: a commit is durable when its frames are
// fsynced in the WAL (synchronous=FULL); the checkpoint only moves them.
//
// The WAL stays bounded. The writer starts the WAL over at its next
// transaction once a checkpoint has backfilled every frame and no reader
// needs them; a checkpoint that races a steady writer may never find the
// WAL whole. So when a checkpoint finds more than walMaxFrames frames in
// the WAL, the next Write first runs a PASSIVE checkpoint itself, between
// its transactions, when no frame can be appended meanwhile: it copies
// what is left (little: the goroutine copied the rest), and that Write
// starts the WAL over. It never waits: a checkpoint under way makes it
// busy at once, and the next Write tries again. A reader holding old
// frames keeps the WAL from starting over, as it always did.

const (
	// checkpointEvery is how many payload bytes the writer commits
	// between kicks of the checkpointer (each commit counting a page
	// more, see Write): about two delivery batches, so that a checkpoint
	// copies little and is done before much more is written.
	checkpointEvery = 2 << 20
	// walMaxFrames is how many frames the WAL may hold before the writer
	// checkpoints what is left itself (32 MiB of 16 KiB pages; SQLite's
	// own checkpoint ran at 1 000).
	walMaxFrames = 2048
)

// checkpointer is the goroutine of a store opened to write; see above.
type checkpointer struct {
	kick chan struct{} // one pending kick at most
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// since is the payload bytes committed since the last kick.
	since atomic.Int64
	// restart is set when a checkpoint found more than walMaxFrames
	// frames in the WAL: the next Write checkpoints what is left.
	restart atomic.Bool
}

// startCheckpointer starts s's checkpointer; Close stops it.
func (s *SQLite) startCheckpointer() {
	c := &checkpointer{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.ckpt = c
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.stop:
				return
			case <-c.kick:
				s.checkpoint()
			}
		}
	}()
}

// stopCheckpointer stops the goroutine and waits for it; s.mu must not
// be held (a checkpoint under way holds it for reading).
func (s *SQLite) stopCheckpointer() {
	if c := s.ckpt; c != nil {
		c.once.Do(func() { close(c.stop) })
		<-c.done
	}
}

// committed tells the checkpointer that n payload bytes were committed.
func (s *SQLite) committed(n int) {
	c := s.ckpt
	if c == nil || c.since.Add(int64(n)) < checkpointEvery {
		return
	}
	c.since.Store(0)
	select {
	case c.kick <- struct{}{}:
	default: // one is pending
	}
}

// checkpoint runs a PASSIVE checkpoint through hold. Under s.mu (read), so
// that CheckStore does not retire the store meanwhile; a store being
// retired is checkpointed by retireLocked.
func (s *SQLite) checkpoint() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.hold == nil {
		return
	}
	var busy, frames, done int
	err := s.hold.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done)
	if err != nil {
		// The next kick tries again; the writer's restart bounds the WAL
		// if none succeeds.
		s.logger.Warn("sqlite checkpoint failed", zap.String("path", s.path), zap.Error(err))
		s.ckpt.restart.Store(true)
		return
	}
	if frames > walMaxFrames {
		s.ckpt.restart.Store(true)
	}
}

// restartWAL checkpoints on the writer's connection, before its
// transaction, when the checkpointer found the WAL over its bound; see
// above.
func (s *SQLite) restartWAL(ctx context.Context, conn *sql.Conn) {
	c := s.ckpt
	if c == nil || !c.restart.Load() {
		return
	}
	var busy, frames, done int
	err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done)
	switch {
	case err != nil:
		s.logger.Warn("sqlite checkpoint failed", zap.String("path", s.path), zap.Error(err))
	case busy == 0 && done == frames:
		c.restart.Store(false)
	}
}

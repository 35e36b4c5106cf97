package tailer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// run is the state of one Run call. Only the Run goroutine touches it.
type run struct {
	cfg Config
	log *zap.Logger
	buf []byte

	// gens are the open generations still to read, oldest first: gens[0] is
	// being read; every one but the last has a successor. The last is the
	// newest found: the one at cfg.Path when last looked, or one rotated
	// away after it was opened there (several rotations between two
	// checks), or, after a resume while the path is missing, the newest
	// sibling.
	gens []*gen
	// known holds the siblings seen beside the path while it had not
	// rotated: a sibling missing from it when a rotation is noticed is a
	// generation that was born and rotated away between two checks.
	known map[inode]FileID
	// retired holds the last maxRetired generations read to their end and
	// closed (oldest first in retiredOrder): a directory listing taken
	// while logrotate shifts .1 to .2 can miss a name, so known alone
	// would let a finished generation pass for an unseen one and be read
	// again. Pruning by listing has the same race, so the set is bounded
	// by count instead; a reused inode number with other first bytes is
	// still a new generation.
	retired      map[inode]FileID
	retiredOrder []inode
	// read are the last generations retired, carried in every Position
	// (replaced, never changed in place: lines handed out share it).
	read []ReadGen
	// queued is the last Position.Queued made (see queue), sentQueue the
	// one the last position handed out carried.
	queued, sentQueue []ReadGen
	// gaps are lost ranges found by checks, to hand out before more lines.
	gaps []Line

	// o opens files under the source policy; refused remembers, by name,
	// the last refusal reported for it, so that a file refused at every
	// check is reported once (until it changes or is accepted).
	o           *opener
	refused     map[string]string
	refusedFull bool // maxRefused reached, and said

	w         *fsnotify.Watcher
	watching  bool
	lastCheck time.Time
	failing   map[string]string // operation -> last error logged for it
}

// newRun prepares a Run of cfg, which New has validated.
func newRun(cfg Config) *run {
	r := &run{
		cfg:     cfg,
		log:     cfg.Logger,
		buf:     make([]byte, readBufSize),
		known:   map[inode]FileID{},
		retired: map[inode]FileID{},
		refused: map[string]string{},
		failing: map[string]string{},
	}
	o, err := newOpener(cfg)
	if err != nil {
		panic(err) // New validated cfg
	}
	o.onRefuse = r.reportRefusal
	r.o = o
	return r
}

// maxRefused bounds the names whose refusal is remembered. Past it, a
// new refusal is no longer recorded one by one (a folder of refused names
// would otherwise be recorded again at every check): one gap record says
// so, and each is still logged once and counted.
const maxRefused = 4096

// reportRefusal logs, counts and queues as a gap record a file the policy
// refused, once for as long as the name keeps naming the same thing.
func (r *run) reportRefusal(e *RefusedError) {
	key := fmt.Sprintf("%d:%d:%s:%s", e.Dev, e.Ino, e.Reason, e.Target)
	if old, ok := r.refused[e.Path]; old == key {
		return
	} else if !ok && len(r.refused) >= maxRefused {
		if !r.refusedFull {
			r.refusedFull = true
			r.log.Error("too many refused files beside the source: further refusals are no longer recorded one by one",
				zap.Int("remembered", maxRefused))
			r.gaps = append(r.gaps, Line{Path: e.Path, Gap: &Gap{Reason: RefusedTooMany, Target: e.Target}})
			r.cfg.Observer.Refused(e.Reason)
		}
		return
	}
	r.refused[e.Path] = key
	r.log.Warn("source file refused", zap.String("path", e.Path), zap.String("reason", e.Reason), zap.String("target", e.Target))
	r.cfg.Observer.Refused(e.Reason)
	r.gaps = append(r.gaps, Line{Path: e.Path, Dev: e.Dev, Ino: e.Ino, Gap: &Gap{Reason: e.Reason, Target: e.Target}})
}

// openPath opens the file at the path. A missing or refused file gives
// a nil file and no error: it is waited for as if it were not there.
func (r *run) openPath() (*os.File, FileID, os.FileInfo, error) {
	f, id, fi, err := r.o.open(r.cfg.Path)
	if _, refused := isRefused(err); refused || errors.Is(err, fs.ErrNotExist) {
		return nil, FileID{}, nil, nil
	}
	if err != nil {
		return nil, FileID{}, nil, err
	}
	delete(r.refused, r.cfg.Path)
	return f, id, fi, nil
}

func (r *run) close() {
	for _, g := range r.gens {
		_ = g.f.Close()
	}
	r.gens = nil
	if r.w != nil {
		_ = r.w.Close()
		r.w = nil
	}
}

func (r *run) loop(ctx context.Context, out chan<- Line, resume *Position) error {
	ticker := time.NewTicker(r.cfg.Poll)
	defer ticker.Stop()
	r.ensureWatch()
	for {
		err := r.start(resume)
		if err == nil {
			r.recovered("start")
			break
		}
		if errors.Is(err, ErrUnsupported) {
			return err
		}
		r.retry("start", err)
		if err := r.wait(ctx, ticker.C); err != nil {
			return err
		}
	}
	r.lastCheck = time.Now()
	if len(r.gens) > 0 {
		g := r.gens[0]
		r.log.Info("tailing", zap.String("path", g.path), zap.Uint64("dev", g.id.Dev), zap.Uint64("ino", g.id.Ino), zap.Int64("offset", g.next))
	}

	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		for len(r.gaps) > 0 {
			select {
			case out <- r.gaps[0]:
				if !r.gaps[0].Next.IsZero() {
					r.sentQueue = r.gaps[0].Next.Queued
				}
				r.gaps = r.gaps[1:]
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := r.sendQueue(ctx, out); err != nil {
			return err
		}
		if len(r.gens) == 0 {
			if !r.check(time.Now()) {
				if err := r.wait(ctx, ticker.C); err != nil {
					return err
				}
			}
			continue
		}
		g := r.gens[0]
		began := time.Now()
		// Looked at before the read: a writer that has written to the next
		// generation had finished this one, so a read that then reaches
		// the end has all of it.
		moved := g.rotatedWhileStopped && r.successorHasData()
		eof, err := r.readAvailable(ctx, out, g, r.cfg.Poll)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.retry("read", err)
		} else {
			r.recovered("read")
		}
		// A read that began after the drain deadline and reached the end has
		// everything written before the deadline: the generation is done,
		// if it still holds what was read. The last look may be older than
		// the read (a process stopped by SIGSTOP in between): one truncated
		// and written again since (copytruncate) is read again instead.
		if eof && g.successor && (moved || !began.Before(g.drainUntil)) {
			if !r.verify(g) {
				r.retire(g)
			}
			continue
		}
		if err != nil || eof || time.Since(r.lastCheck) >= r.cfg.Poll {
			if r.check(time.Now()) {
				continue
			}
		}
		if err != nil || eof {
			if err := r.wait(ctx, ticker.C); err != nil {
				return err
			}
		}
	}
}

// retire closes gens[0], which has been read to its end after its drain
// deadline, and moves on to its successor.
func (r *run) retire(g *gen) {
	r.log.Info("finished rotated file",
		zap.String("path", g.path), zap.Uint64("dev", g.id.Dev), zap.Uint64("ino", g.id.Ino), zap.Int64("offset", g.next))
	if g.lineLen > 0 {
		r.log.Warn("rotated file ends with an incomplete line, not handed out",
			zap.String("path", g.path), zap.Int64("offset", g.next), zap.Int64("bytes", g.lineLen))
		r.cfg.Observer.Lost(int64(g.lineLen))
	}
	// Remembered with the fingerprint of what it holds now: a generation
	// opened empty has none yet, and its inode, once freed, may hold the
	// next generation, which must not pass for this one (see seenBefore).
	if head, err := readHead(g.f); err == nil && headMatches(head, g.id) {
		g.growHead(head)
	}
	_ = g.f.Close()
	r.rememberRetired(g.id)
	if g.lineLen == 0 && len(r.gens) > 1 {
		next := r.positionAt(1)
		r.gaps = append(r.gaps, Line{Path: g.path, Dev: g.id.Dev, Ino: g.id.Ino, Offset: g.next, Advance: true, Next: next})
	}
	if g.lineLen > 0 {
		gap := Line{Path: g.path, Dev: g.id.Dev, Ino: g.id.Ino, Offset: g.next,
			Gap: &Gap{From: g.next, To: g.next + g.lineLen, Reason: GapUnterminated}}
		if len(r.gens) > 1 {
			gap.Next = r.positionAt(1) // reading goes on there
		}
		r.gaps = append(r.gaps, gap)
	}
	r.gens[0] = nil
	r.gens = r.gens[1:]
}

// successorHasData reports whether the generation after gens[0] holds
// bytes.
func (r *run) successorHasData() bool {
	if len(r.gens) < 2 {
		return false
	}
	fi, err := r.gens[1].f.Stat()
	return err == nil && fi.Size() > 0
}

// maxRetired bounds the retired generations remembered.
const maxRetired = 256

func (r *run) rememberRetired(id FileID) {
	read := make([]ReadGen, 0, MaxReadHistory)
	read = append(read, r.read[max(0, len(r.read)-MaxReadHistory+1):]...)
	r.read = append(read, ReadGen{Dev: id.Dev, Ino: id.Ino, Head: id.Head, HeadLen: id.HeadLen})
	ino := id.inode()
	if _, ok := r.retired[ino]; !ok {
		r.retiredOrder = append(r.retiredOrder, ino)
	}
	r.retired[ino] = id
	if len(r.retiredOrder) > maxRetired {
		delete(r.retired, r.retiredOrder[0])
		r.retiredOrder = r.retiredOrder[1:]
	}
}

// wait blocks until something may have changed: a notification about a
// file named like the path or its rotations, a poll tick, the drain
// deadline of the generation being read, or ctx is done.
func (r *run) wait(ctx context.Context, tick <-chan time.Time) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if r.w != nil {
		events, errs = r.w.Events, r.w.Errors
	}
	var drain <-chan time.Time
	if len(r.gens) > 0 && r.gens[0].successor {
		d := time.Until(r.gens[0].drainUntil)
		if d <= 0 {
			return nil
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		drain = tm.C
	}
	base := filepath.Base(r.cfg.Path)
	for woken := false; !woken; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			woken = true
		case <-drain:
			woken = true
		case ev, ok := <-events:
			if !ok {
				r.dropWatch()
				return nil
			}
			// Other files in a shared log directory do not concern us.
			woken = strings.HasPrefix(filepath.Base(ev.Name), base)
		case err, ok := <-errs:
			if !ok {
				r.dropWatch()
				return nil
			}
			r.log.Info("file notification error, relying on polling", zap.Error(err))
			woken = true
		}
	}
	// Coalesce the burst of notifications a busy writer causes into one wake-up.
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return nil
			}
		default:
			return nil
		}
	}
}

// ensureWatch sets up notifications on the path's directory, retrying on
// every check while that fails. Notifications only wake the tailer early;
// polling alone is correct.
func (r *run) ensureWatch() {
	if r.watching && len(r.w.WatchList()) == 0 {
		r.watching = false // the directory was removed; watch it again once it is back
	}
	if r.watching {
		return
	}
	if r.w == nil {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			r.retry("watch", err)
			return
		}
		r.w = w
	}
	if err := r.w.Add(filepath.Dir(r.cfg.Path)); err != nil {
		r.retry("watch", err)
		return
	}
	r.recovered("watch")
	r.watching = true
}

func (r *run) dropWatch() {
	if r.w != nil {
		_ = r.w.Close()
	}
	r.w, r.watching = nil, false
}

// retry logs err of operation op once, until op fails differently or
// recovers: a failing file is retried on every wake-up without flooding
// the log.
func (r *run) retry(op string, err error) {
	msg := err.Error()
	if r.failing[op] == msg {
		return
	}
	r.failing[op] = msg
	r.log.Warn("file operation failed, retrying", zap.String("op", op), zap.String("path", r.cfg.Path), zap.Error(err))
}

func (r *run) recovered(op string) {
	if _, ok := r.failing[op]; ok {
		delete(r.failing, op)
		r.log.Info("file operation recovered", zap.String("op", op), zap.String("path", r.cfg.Path))
	}
}

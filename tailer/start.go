package tailer

import (
	"math"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"
)

// start opens what is to be read first: the resumed generation and the
// ones rotated after it, or the file at the path. A missing path is not an
// error (it is waited for); other I/O errors are, and start is retried.
func (r *run) start(resume *Position) error {
	if resume != nil && r.read == nil {
		// What was read before the stop is not new after it.
		for _, g := range resume.Read {
			r.rememberRetired(FileID{Dev: g.Dev, Ino: g.Ino, Head: g.Head, HeadLen: g.HeadLen})
		}
	}
	cur, curID, curFI, err := r.openPath()
	if err != nil {
		return err
	}
	// Listed after the open: a rotation in between leaves the generation we
	// hold among the siblings, where a resume can still find it.
	sibs, err := r.o.listSiblings(r.cfg.Path)
	if err != nil {
		if cur != nil {
			_ = cur.Close()
		}
		return err
	}
	var gens []*gen
	switch {
	case resume == nil:
		gens, err = r.placeFresh(cur, curID, curFI, r.cfg.StartAt)
	case resume.Dev == 0 && resume.Ino == 0 && resume.MTime == 0:
		// Saved after a gap with nothing to read after it (by a version
		// that did not say when): what is at the path is read from 0.
		gens, err = r.placeFresh(cur, curID, curFI, StartBeginning)
	default:
		gens, err = r.placeResume(*resume, sibs, cur, curID, curFI)
	}
	if err != nil {
		if cur != nil {
			_ = cur.Close()
		}
		return err
	}
	r.gens = gens
	r.learn(sibs, true)
	return nil
}

func (r *run) placeFresh(cur *os.File, id FileID, fi os.FileInfo, startAt string) ([]*gen, error) {
	if cur == nil {
		r.log.Info("waiting for file to appear", zap.String("path", r.cfg.Path))
		return nil, nil
	}
	var off int64
	if startAt == StartEnd {
		var err error
		if off, err = lastLineEnd(cur, fi.Size()); err != nil {
			return nil, err
		}
	}
	return []*gen{newGen(cur, r.cfg.Path, id, off)}, nil
}

// placeResume finds the saved generation: at the path, or among the
// siblings if it rotated while the tailer was stopped. In the latter case
// the rest of it comes first, then the siblings newer than it (oldest
// first), then the file at the path from 0.
func (r *run) placeResume(p Position, sibs []sibling, cur *os.File, curID FileID, curFI os.FileInfo) ([]*gen, error) {
	want := p.FileID()
	if p.Path != "" && p.Path != r.cfg.Path {
		r.log.Info("resume position was saved for another path", zap.String("path", r.cfg.Path), zap.String("saved_path", p.Path))
	}
	if p.HeadLen == 0 && p.MTime != 0 {
		return r.placeUnseen(p, sibs, cur, curID)
	}
	if cur != nil && curID.sameInode(want) {
		ok, err := startsWith(cur, want)
		if err != nil {
			return nil, err
		}
		if ok {
			g := newGen(cur, r.cfg.Path, curID, p.Offset)
			keepOpened(g, p)
			r.checkResumeSize(g, curFI.Size())
			missed, err := r.unreadCopies(p, sibs, curFI.ModTime().UnixNano()+1, cur, []inode{curID.inode()})
			if err != nil {
				return nil, err
			}
			return append(missed, g), nil
		}
	}

	var gens []*gen
	saved := -1
	for i, s := range sibs {
		if s.ino != want.inode() {
			continue
		}
		g, fi, err := r.o.openSibling(s, p.Offset)
		if err != nil {
			return nil, err
		}
		if g == nil {
			continue
		}
		if ok, err := startsWith(g.f, want); err != nil || !ok {
			_ = g.f.Close()
			if err != nil {
				return nil, err
			}
			continue
		}
		keepOpened(g, p)
		r.checkResumeSize(g, fi.Size())
		gens, saved = append(gens, g), i
		break
	}
	if saved < 0 {
		// copytruncate while stopped: the rest of the saved generation is
		// in its copy (nil: it is lost), and what the truncated file holds
		// now is newer, wherever a rotation since has put it.
		// A copy is looked for when a file of the saved inode still exists
		// (copied and truncated), or when the saved generation was read far
		// enough to be told apart by its first and its last bytes read (it
		// may have been copied and truncated, then deleted). A small one
		// that is gone was deleted: a sibling that merely starts and ends
		// alike is a newer generation, not a copy.
		var copied *gen
		exists := cur != nil && curID.sameInode(want) || slices.ContainsFunc(sibs, func(s sibling) bool { return s.ino == want.inode() })
		if exists || p.HeadLen == HeadSize && p.TailLen == TailSize {
			copied = r.copyOf(want, nil, p.Offset, p)
		}
		return r.placeAfterDeleted(p, sibs, cur, curID, copied)
	}
	// What was queued after it before the stop comes first, in that order
	// (see Position.Queued); then sibs, sorted oldest first: what follows
	// the saved generation is newer. An inode under two names (a hard
	// link) is queued once.
	queued := []inode{want.inode()}
	if cur != nil {
		queued = append(queued, curID.inode())
	}
	q, err := r.queuedOnDisk(p, sibs, queued)
	if err != nil {
		closeGens(gens)
		return nil, err
	}
	gens = append(gens, q...)
	for _, g := range q {
		queued = append(queued, g.id.inode())
	}
	for _, s := range sibs[saved+1:] {
		if slices.Contains(queued, s.ino) {
			continue
		}
		queued = append(queued, s.ino)
		g, _, err := r.o.openSibling(s, 0)
		if err != nil {
			closeGens(gens)
			return nil, err
		}
		if g != nil && r.seenBefore(g) {
			_ = g.f.Close() // read before the stop
		} else if g != nil {
			gens = append(gens, g)
		}
	}
	// Copies of bytes it held that were never read come right after it.
	upto := int64(math.MaxInt64)
	if fi, err := gens[0].f.Stat(); err == nil {
		upto = fi.ModTime().UnixNano() + 1
	}
	missed, err := r.unreadCopies(p, sibs, upto, gens[0].f, queued)
	if err != nil {
		closeGens(gens)
		return nil, err
	}
	gens = slices.Insert(gens, 1, missed...)
	if cur != nil {
		gens = append(gens, newGen(cur, r.cfg.Path, curID, 0))
	}
	deadline := time.Now().Add(r.cfg.RotateDrain)
	for _, g := range gens[:len(gens)-1] {
		g.successor, g.drainUntil, g.rotatedWhileStopped = true, deadline, true
	}
	r.log.Info("resuming a generation rotated while stopped",
		zap.String("path", gens[0].path), zap.Int64("offset", p.Offset), zap.Int("newer", len(gens)-1),
		zap.Int("queued", len(q)), zap.Int("unread_copies", len(missed)))
	return gens, nil
}

// checkResumeSize restarts g at 0 if it is now shorter than the saved offset.
func (r *run) checkResumeSize(g *gen, size int64) {
	if size >= g.next {
		return
	}
	r.log.Warn("file truncated while stopped, reading it again from the start",
		zap.String("path", g.path), zap.Int64("saved_offset", g.next), zap.Int64("size", size))
	r.cfg.Observer.Truncated()
	g.restart(0)
}

// startsWith reports whether f still begins with the bytes want fingerprinted.
func startsWith(f *os.File, want FileID) (bool, error) {
	head, err := readHead(f)
	if err != nil {
		return false, err
	}
	return headMatches(head, want), nil
}

// placeAfterDeleted starts after the saved generation p was deleted (or
// compressed) while the tailer was stopped: what it held past the saved
// offset is lost, reported as a gap, and every generation still on disk
// that is newer than it is read, oldest first, then the file at the path
// from 0. Newer means modified after p was last looked at; a position
// saved without that time takes every sibling, which is right for
// rotations that delete the oldest generations first.
func (r *run) placeAfterDeleted(p Position, sibs []sibling, cur *os.File, curID FileID, copied *gen) ([]*gen, error) {
	var gens []*gen
	if copied != nil {
		gens = append(gens, copied)
	}
	skip := []inode{}
	if cur != nil {
		skip = append(skip, curID.inode())
	}
	if copied != nil {
		skip = append(skip, copied.id.inode())
	}
	// What was queued after it before the stop comes first, in that order.
	q, err := r.queuedOnDisk(p, sibs, skip)
	if err != nil {
		closeGens(gens)
		return nil, err
	}
	gens = append(gens, q...)
	for _, g := range q {
		skip = append(skip, g.id.inode())
	}
	// Equal times are read: a coarse clock may give a newer generation
	// the time the saved one was last seen at.
	newer, err := r.newerSiblings(p, sibs, p.MTime-1, skip...)
	if err != nil {
		closeGens(gens)
		return nil, err
	}
	for _, g := range newer {
		skip = append(skip, g.id.inode())
	}
	// Before those, copies of bytes it held that were never read.
	missed, err := r.unreadCopies(p, sibs, p.MTime, nil, skip)
	if err != nil {
		closeGens(gens, newer)
		return nil, err
	}
	at := 0
	if copied != nil {
		at = 1 // the copy of what is past the saved offset comes first
	}
	gens = slices.Insert(gens, at, missed...)
	gens = append(gens, newer...)
	if cur != nil {
		gens = append(gens, newGen(cur, r.cfg.Path, curID, 0))
	}
	if copied != nil {
		r.log.Info("the saved generation was copied and truncated while stopped; reading the rest from the copy",
			zap.String("path", copied.path), zap.Int64("saved_offset", p.Offset), zap.Int("newer", len(gens)-1))
		r.cfg.Observer.Truncated()
	} else {
		r.log.Warn("saved file generation not found: its unread rest is lost; reading the newer generations still on disk",
			zap.String("path", p.Path), zap.Int64("saved_offset", p.Offset),
			zap.Uint64("saved_dev", p.Dev), zap.Uint64("saved_ino", p.Ino), zap.Int("newer", len(gens)))
		r.cfg.Observer.Lost(-1)
		gap := Line{Path: p.Path, Dev: p.Dev, Ino: p.Ino, Offset: p.Offset,
			Gap: &Gap{From: p.Offset, To: -1, Reason: GapDeleted}}
		if len(gens) > 0 {
			gap.Next = positionIn(gens, 0, r.read)
		} else {
			// Nothing to read yet: what is written from now on is newer.
			gap.Next = Position{Path: r.cfg.Path, MTime: time.Now().UnixNano(), Read: r.read}
		}
		r.gaps = append(r.gaps, gap)
	}
	deadline := time.Now().Add(r.cfg.RotateDrain)
	for _, g := range gens[:max(0, len(gens)-1)] {
		g.successor, g.drainUntil, g.rotatedWhileStopped = true, deadline, true
	}
	return gens, nil
}

// newerSiblings opens, oldest first, the siblings modified after since
// (Unix ns; any when p has no time) that are neither one of skip, nor a
// generation read before, nor a copy of p's generation holding no more
// than was read of it (copyOf takes a longer one).
func (r *run) newerSiblings(p Position, sibs []sibling, since int64, skip ...inode) ([]*gen, error) {
	var gens []*gen
	skip = slices.Clone(skip)
	for _, s := range sibs {
		if slices.Contains(skip, s.ino) || p.MTime != 0 && s.mtime.UnixNano() <= since {
			continue
		}
		skip = append(skip, s.ino) // an inode under two names is queued once
		g, _, err := r.o.openSibling(s, 0)
		if err != nil {
			closeGens(gens)
			return nil, err
		}
		if g == nil {
			continue
		}
		if r.seenBefore(g) { // read before the stop
			_ = g.f.Close()
			continue
		}
		if p.HeadLen > 0 && r.readCopy(g, p) {
			r.rememberRetired(g.id)
			_ = g.f.Close()
			continue
		}
		gens = append(gens, g)
	}
	return gens, nil
}

// placeUnseen starts after a saved position that names no byte read
// (offset 0, no fingerprint: an empty generation, or the fresh start after
// a gap with nothing after it). Its inode number alone cannot name a file
// (freed by a delete, the number goes to the next file), so what is read
// is every sibling modified after the position was saved (generations
// newer than it, oldest first, not one read before), then the file at the
// path from 0. If the saved generation is still the file at the path, it
// was never rotated and no sibling is newer than it.
func (r *run) placeUnseen(p Position, sibs []sibling, cur *os.File, curID FileID) ([]*gen, error) {
	var skip []inode
	if cur != nil {
		skip = append(skip, curID.inode())
	}
	// What was queued after it before the stop comes first, in that order.
	gens, err := r.queuedOnDisk(p, sibs, skip)
	if err != nil {
		return nil, err
	}
	for _, g := range gens {
		skip = append(skip, g.id.inode())
	}
	newer, err := r.newerSiblings(p, sibs, p.MTime, skip...)
	if err != nil {
		closeGens(gens)
		return nil, err
	}
	for _, g := range newer {
		skip = append(skip, g.id.inode())
	}
	// Before those, copies of bytes it held that were never read.
	missed, err := r.unreadCopies(p, sibs, p.MTime+1, nil, skip)
	if err != nil {
		closeGens(gens, newer)
		return nil, err
	}
	gens = slices.Concat(missed, gens, newer)
	if len(gens) > 0 {
		r.log.Info("no byte of the saved generation was read; reading the generations modified after it first",
			zap.String("path", r.cfg.Path), zap.Int("newer", len(gens)))
	}
	if cur != nil {
		gens = append(gens, newGen(cur, r.cfg.Path, curID, 0))
	}
	deadline := time.Now().Add(r.cfg.RotateDrain)
	for _, g := range gens[:max(0, len(gens)-1)] {
		g.successor, g.drainUntil, g.rotatedWhileStopped = true, deadline, true
	}
	return gens, nil
}

// readCopy reports whether g is a copy of p's generation holding no more
// than was read of it: it starts and ends (at most at p.Offset) with the
// bytes p fingerprinted.
func (r *run) readCopy(g *gen, p Position) bool {
	fi, err := g.f.Stat()
	if err != nil || fi.Size() > p.Offset {
		return false
	}
	if ok, err := startsWith(g.f, p.FileID()); err != nil || !ok {
		return false
	}
	ok, err := endsAt(g.f, fi.Size(), p)
	return err == nil && ok && fi.Size() == p.Offset
}

package tailer

import (
	"bytes"
	"context"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"
)

// carry is what every position handed out carries besides the generation
// and offset: the generations read before it and those queued after it.
// Both slices are replaced, never changed in place: lines handed out
// share them.
type carry struct {
	read, queued []ReadGen
}

// carry returns what positions in gens[0] carry now.
func (r *run) carry() carry {
	q := r.queue()
	r.sentQueue = q
	return carry{read: r.read, queued: q}
}

// queue returns the generations queued after gens[0], for Position.Queued:
// the same slice as long as they stay the same, nil when there are none.
func (r *run) queue() []ReadGen {
	n := 0
	same := true
	for _, g := range r.gens[min(1, len(r.gens)):] {
		if g.id.HeadLen == 0 {
			continue // nothing to know it by yet
		}
		if n == MaxQueued {
			break
		}
		if n >= len(r.queued) || r.queued[n] != readGenOf(g.id) {
			same = false
		}
		n++
	}
	if same && n == len(r.queued) {
		return r.queued
	}
	q := make([]ReadGen, 0, n)
	for _, g := range r.gens[1:] {
		if g.id.HeadLen > 0 && len(q) < n {
			q = append(q, readGenOf(g.id))
		}
	}
	r.queued = q
	return q
}

func readGenOf(id FileID) ReadGen {
	return ReadGen{Dev: id.Dev, Ino: id.Ino, Head: id.Head, HeadLen: id.HeadLen}
}

// positionAt is gens[i]'s position with what it carries: the read
// history and the generations queued after it.
func (r *run) positionAt(i int) Position { return positionIn(r.gens, i, r.read) }

// positionIn is gens[i]'s position carrying read and the generations
// after it in gens.
func positionIn(gens []*gen, i int, read []ReadGen) Position {
	p := gens[i].position()
	p.Read = read
	for _, g := range gens[i+1:] {
		if g.id.HeadLen > 0 && len(p.Queued) < MaxQueued {
			p.Queued = append(p.Queued, readGenOf(g.id))
		}
	}
	return p
}

// sendQueue hands out a move to where reading is (Line.Advance) when the
// queue changed since the last position handed out: a generation found
// while there is nothing new to read in gens[0] is then known to a
// restart, which could not otherwise place one that looks older (see
// Position.Queued).
func (r *run) sendQueue(ctx context.Context, out chan<- Line) error {
	if len(r.gens) == 0 {
		return nil
	}
	q := r.queue()
	if slices.Equal(q, r.sentQueue) {
		return nil
	}
	g := r.gens[0]
	l := Line{Path: g.path, Dev: g.id.Dev, Ino: g.id.Ino, Offset: g.next, Advance: true, Next: r.positionAt(0)}
	select {
	case out <- l:
		r.sentQueue = q
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// queuedOnDisk opens, in p's order, the generations p says were queued
// after its own (Position.Queued) that are still on disk among sibs,
// known by inode and first bytes, but for those of skip.
func (r *run) queuedOnDisk(p Position, sibs []sibling, skip []inode) ([]*gen, error) {
	var gens []*gen
	for _, q := range p.Queued {
		ino := inode{q.Dev, q.Ino}
		i := slices.IndexFunc(sibs, func(s sibling) bool { return s.ino == ino })
		if q.HeadLen == 0 || i < 0 || slices.Contains(skip, ino) ||
			slices.ContainsFunc(gens, func(g *gen) bool { return g.id.inode() == ino }) {
			continue
		}
		g, _, err := r.o.openSibling(sibs[i], 0)
		if err != nil {
			closeGens(gens)
			return nil, err
		}
		if g == nil {
			continue // renamed since the listing: a time finds it
		}
		if ok, err := startsWith(g.f, FileID{Dev: q.Dev, Ino: q.Ino, Head: q.Head, HeadLen: q.HeadLen}); err != nil || !ok {
			_ = g.f.Close() // the number now names another file
			continue
		}
		gens = append(gens, g)
	}
	return gens, nil
}

// unreadCopies opens, oldest first, the siblings that can only be copies
// of bytes p's generation held before a truncation and that were never
// read (see Position.Opened): modified at or after p.Opened and before
// upto, and neither one of skip, nor read before, nor empty, nor a copy
// of what p's generation begins with (compared with saved, the generation
// itself when it is still on disk, else with p's fingerprint). They are
// read whole and at once: a copy is complete when it is found.
func (r *run) unreadCopies(p Position, sibs []sibling, upto int64, saved *os.File, skip []inode) ([]*gen, error) {
	if p.Opened == 0 {
		return nil, nil // saved by a version that did not say
	}
	var savedHead []byte
	if saved != nil {
		var err error
		if savedHead, err = readHead(saved); err != nil {
			return nil, err
		}
	}
	var gens []*gen
	for _, s := range sibs {
		if t := s.mtime.UnixNano(); t < p.Opened || t >= upto || slices.Contains(skip, s.ino) ||
			slices.ContainsFunc(gens, func(g *gen) bool { return g.id.inode() == s.ino }) {
			continue
		}
		g, fi, err := r.o.openSibling(s, 0)
		if err != nil {
			closeGens(gens)
			return nil, err
		}
		if g == nil {
			continue
		}
		head, err := readHead(g.f)
		if err != nil || fi.Size() == 0 || r.seenBefore(g) || p.HeadLen > 0 && headMatches(head, p.FileID()) ||
			len(savedHead) > 0 && (bytes.HasPrefix(savedHead, head) || bytes.HasPrefix(head, savedHead)) {
			_ = g.f.Close()
			continue
		}
		g.successor, g.drainUntil = true, time.Now()
		r.log.Info("reading a copy of bytes never read, made while the saved generation was open",
			zap.String("path", s.path), zap.Int64("size", fi.Size()))
		r.cfg.Observer.Truncated()
		gens = append(gens, g)
	}
	return gens, nil
}

// keepOpened carries p.Opened to g, p's generation opened again.
func keepOpened(g *gen, p Position) {
	if p.Opened != 0 && p.Opened < g.openedMTime {
		g.openedMTime = p.Opened
	}
}

// closeGens closes the files of every generation of every list.
func closeGens(lists ...[]*gen) {
	for _, gens := range lists {
		for _, g := range gens {
			_ = g.f.Close()
		}
	}
}

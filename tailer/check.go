package tailer

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"
)

// check looks at the generation being read and at the path, and reports
// whether anything changed that calls for reading again at once: the
// generation was truncated or rewritten, or a new one appeared at the path.
func (r *run) check(now time.Time) bool {
	if r.cfg.checked != nil {
		defer r.cfg.checked(r.cfg.Path)
	}
	r.lastCheck = now
	r.ensureWatch()
	changed := false
	// Every open generation, not only the one being read: one queued
	// behind it gets its fingerprint as it is written, so that a
	// truncation (copytruncate) before it is read is seen, and its copy
	// read first.
	for _, g := range slices.Clone(r.gens) {
		changed = r.verify(g) || changed
	}
	// Siblings are listed before the path is looked at: if the path has not
	// rotated by then, nothing listed can be a generation newer than ours.
	sibs, serr := r.o.listSiblings(r.cfg.Path)
	if serr != nil {
		r.retry("list rotated", serr)
	} else {
		r.recovered("list rotated")
	}
	fi, err := os.Stat(r.cfg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		// The path is missing in the middle of a rotation (renamed, not yet
		// recreated): siblings listed now may include a generation born and
		// rotated away since the last check, so none of them is learnt as
		// already known until the path is back.
		r.recovered("stat")
		return changed
	}
	if err != nil {
		r.retry("stat", err)
		return changed
	}
	r.recovered("stat")
	dev, ino, err := devIno(fi)
	if err != nil {
		r.retry("stat", err)
		return changed
	}
	if n := len(r.gens); n > 0 && r.gens[n-1].id.inode() == (inode{dev, ino}) {
		// The path kept its file: a sibling of a new inode is a copy of it
		// (copytruncate). One of bytes it no longer starts with, and that
		// were never read, is read now (unseenCopies); one of what was read
		// is copyOf's.
		if g := r.gens[n-1]; serr == nil {
			changed = r.unseenCopies(sibs, g, g.id, g.headBytes) || changed
		}
		r.learn(sibs, serr == nil)
		return changed
	}
	return r.switchTo() || changed
}

// unseenCopies queues before g, the generation at the path, the siblings
// that appeared while the path kept its file (new inodes, or files never
// read) holding other bytes than g now begins with and than seen (what
// was read of g): copytruncate copies of what g held while the tailer
// could not look (stopped by SIGSTOP, starved of CPU, or before a byte of
// g was read), truncated and written again since. They cannot be
// recognised by their first bytes as copyOf does, so what appeared is
// what is read, whole, before g.
func (r *run) unseenCopies(sibs []sibling, g *gen, seen FileID, seenHead []byte) bool {
	cur, err := readHead(g.f)
	if err != nil {
		return false
	}
	found := false
	for _, s := range sibs {
		// A copy is made after g was opened (it copies what g held since);
		// an old generation put back beside the log keeps an older time.
		if r.holds(s.ino) || s.mtime.UnixNano() < g.openedMTime {
			continue
		}
		c, fi, err := r.o.openSibling(s, 0)
		if err != nil || c == nil {
			continue
		}
		// Known by its inode and first bytes: a number reused by a copy
		// does not hide it. A copy of what was seen of g (seen) is
		// copyOf's: read from where g was read to, or not at all.
		head, err := readHead(c.f)
		if err != nil || r.seenBefore(c) || fi.Size() == 0 || len(cur) > 0 && bytes.Equal(head, cur[:min(len(cur), len(head))]) ||
			seen.HeadLen > 0 && headMatches(head, seen) || isPrefixCopy(head, seen, seenHead) {
			_ = c.f.Close() // empty, or a plain copy of what g holds: g has it
			continue
		}
		c.successor, c.drainUntil = true, time.Now()
		i := slices.Index(r.gens, g)
		r.gens = slices.Insert(r.gens, i, c)
		r.log.Info("reading a copy of bytes the file held before it was truncated unseen",
			zap.String("path", s.path), zap.Int64("size", fi.Size()))
		r.cfg.Observer.Truncated()
		found = true
	}
	return found
}

// verify checks that g still holds what was read from it. A file shorter
// than the read offset, or whose first bytes changed, was truncated (and
// maybe rewritten, as copytruncate rotation does): it is read again from 0.
// Otherwise a head shorter than HeadSize is extended as the file grows.
func (r *run) verify(g *gen) bool {
	fi, err := g.f.Stat()
	if err != nil {
		r.retry("stat open", err)
		return false
	}
	head, err := readHead(g.f)
	if err != nil {
		r.retry("stat open", err)
		return false
	}
	r.recovered("stat open")
	if fi.Size() >= g.readOff && headMatches(head, g.id) {
		g.growHead(head)
		g.seen = max(g.seen, fi.Size())
		g.mtime = fi.ModTime().UnixNano()
		return false
	}
	r.rewritten(g, head, fi.Size())
	return true
}

// rewritten restarts g at 0 after it was found truncated (size, or -1 when
// not known) or rewritten in place; head is its current first bytes.
//
// copytruncate rotation copies the file to a sibling before truncating it,
// so lines past what was read are in the copy: the copy (a sibling of
// another inode that starts with the same bytes) is read from the old
// offset to its end first. Lines written between the copy and the
// truncation are in neither file; no reader can recover them.
func (r *run) rewritten(g *gen, head []byte, size int64) {
	r.log.Warn("file truncated or rewritten, reading it again from the start",
		zap.String("path", g.path), zap.Int64("offset", g.next), zap.Int64("size", size))
	r.cfg.Observer.Truncated()
	old, oldHead, off, seen, tail := g.id, g.headBytes, g.next, g.seen, g.position()
	g.rewritten = true
	gap := Gap{From: off, To: seen, Reason: GapTruncated}
	g.restart(0)
	g.id.Head, g.id.HeadLen, g.headBytes = hashHead(head), len(head), bytes.Clone(head)
	if c := r.copyOf(old, oldHead, off, tail); c != nil {
		if fi, err := c.f.Stat(); err == nil {
			gap.From = max(off, fi.Size()) // the copy holds everything before
		}
		gap.Reason = GapCopied
		if i := slices.Index(r.gens, g); i >= 0 {
			r.gens = slices.Insert(r.gens, i, c)
		} else {
			_ = c.f.Close()
		}
	}
	// Truncated more than once between two looks (copytruncate twice):
	// what it held in between is only in the later copies, which start
	// with bytes never seen here. They are read after the copy of what
	// was seen, before what it holds now.
	if sibs, err := r.o.listSiblings(r.cfg.Path); err == nil && slices.Contains(r.gens, g) {
		r.unseenCopies(sibs, g, old, oldHead)
	}
	if gap.To > gap.From {
		r.log.Warn("bytes written before the truncation are lost: they were neither read nor copied",
			zap.String("path", g.path), zap.Int64("from", gap.From), zap.Int64("to", gap.To))
		r.cfg.Observer.Lost(gap.To - gap.From)
		r.gaps = append(r.gaps, Line{Path: g.path, Dev: old.Dev, Ino: old.Ino, Offset: gap.From, Gap: &gap})
	}
}

// copyOf returns the newest sibling that is a copy of generation old (of
// another inode, starting with the bytes old was fingerprinted by, or,
// shorter than them, holding only bytes oldHead begins with: see
// isPrefixCopy; oldHead may be nil) and holds more than off bytes, opened
// at off to be read to its end; nil if there is none.
func (r *run) copyOf(old FileID, oldHead []byte, off int64, end Position) *gen {
	if old.HeadLen == 0 {
		return nil // nothing to recognise a copy by
	}
	// A rotation may rename the copy between the listing and its open:
	// the listing is then taken again, a few times at most.
	for attempt := 1; attempt <= listAttempts; attempt++ {
		c, raced := r.copyOfListed(old, oldHead, off, end)
		if c != nil || !raced {
			return c
		}
	}
	return nil
}

// copyOfListed is copyOf over one listing; raced says a listed sibling
// was no longer under its name when opened.
func (r *run) copyOfListed(old FileID, oldHead []byte, off int64, end Position) (copied *gen, raced bool) {
	sibs, err := r.o.listSiblings(r.cfg.Path)
	if err != nil {
		return nil, false
	}
	for i := len(sibs) - 1; i >= 0; i-- { // newest first
		s := sibs[i]
		if s.ino == old.inode() || r.holds(s.ino) || r.wasRetired(s) {
			continue
		}
		c, fi, err := r.o.openSibling(s, off)
		if err != nil {
			continue
		}
		if c == nil {
			raced = true
			continue
		}
		ok, err := copies(c.f, old, oldHead)
		if err == nil && ok && fi.Size() >= off {
			ok, err = endsAt(c.f, off, end)
		}
		if err == nil && ok && fi.Size() <= off {
			// A copy of no more than was read: remembered as read, so that
			// no later listing (nor a restart, through Position.Read) takes
			// it for a generation of its own.
			r.rememberRetired(c.id)
		}
		if err != nil || !ok || fi.Size() <= off {
			_ = c.f.Close()
			continue
		}
		c.successor, c.drainUntil = true, time.Now()
		r.log.Info("reading the rest of the truncated file from its copy",
			zap.String("path", s.path), zap.Int64("offset", off), zap.Int64("size", fi.Size()))
		return c, false
	}
	return nil, raced
}

// copies reports whether f is a copy of generation old: it starts with
// the bytes old was fingerprinted by, or is a prefix copy (isPrefixCopy).
func copies(f *os.File, old FileID, oldHead []byte) (bool, error) {
	head, err := readHead(f)
	if err != nil {
		return false, err
	}
	return headMatches(head, old) || isPrefixCopy(head, old, oldHead), nil
}

// isPrefixCopy reports whether head, the whole of a file shorter than
// old's fingerprint, is the start of oldHead, the bytes old's fingerprint
// covers: a copy made (by copytruncate) while old was that short, before
// it grew past it. Without oldHead nothing tells it.
func isPrefixCopy(head []byte, old FileID, oldHead []byte) bool {
	return len(head) > 0 && len(head) < old.HeadLen && len(oldHead) == old.HeadLen &&
		hashHead(oldHead) == old.Head && bytes.Equal(head, oldHead[:len(head)])
}

// endsAt reports whether f holds, just before off, the bytes end's tail
// fingerprinted (true when it has none).
func endsAt(f *os.File, off int64, end Position) (bool, error) {
	if end.TailLen == 0 || off < int64(end.TailLen) {
		return true, nil
	}
	buf := make([]byte, end.TailLen)
	if _, err := f.ReadAt(buf, off-int64(end.TailLen)); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	return sha256.Sum256(buf) == [32]byte(end.Tail), nil
}

// growHead takes head, which starts with the bytes g.id fingerprinted, as
// g's new fingerprint if it is longer.
func (g *gen) growHead(head []byte) {
	if len(head) > g.id.HeadLen {
		g.id.Head, g.id.HeadLen = hashHead(head), len(head)
	}
	if len(head) == g.id.HeadLen && len(g.headBytes) != len(head) {
		g.headBytes = bytes.Clone(head)
	}
}

// switchTo opens the new generation at the path and queues it after the
// open ones, which get their drain deadline, and in age order among any
// generations that were born and rotated away unseen between two checks.
func (r *run) switchTo() bool {
	f, id, _, err := r.openPath()
	if f == nil && err == nil {
		return false // renamed away between stat and open (the next check sees its successor), or refused
	}
	if err != nil {
		r.retry("open", err)
		return false
	}
	r.recovered("open")
	if r.holds(id.inode()) || r.readBefore(f, id) {
		_ = f.Close()
		return false
	}
	appeared := len(r.gens) == 0
	sibs, unseen, split, serr := r.unseenSiblings(id.inode(), f)
	// From the end of the listing, not from when the look began: a process
	// stopped (SIGSTOP) in between would find the drain over before it
	// began.
	deadline := time.Now().Add(r.cfg.RotateDrain)
	if serr != nil {
		r.retry("list rotated", serr)
	}
	r.gens = append(r.gens, unseen[:split]...)
	r.gens = append(r.gens, newGen(f, r.cfg.Path, id, 0))
	r.gens = append(r.gens, unseen[split:]...)
	for _, g := range r.gens[:len(r.gens)-1] { // each has a successor now
		if !g.successor {
			g.successor, g.drainUntil = true, deadline
		}
	}
	r.learn(sibs, serr == nil)
	msg := "file rotated"
	if appeared {
		msg = "file appeared"
	}
	r.log.Info(msg, zap.String("path", r.cfg.Path), zap.Uint64("dev", id.Dev), zap.Uint64("ino", id.Ino))
	r.cfg.Observer.Rotated()
	return true
}

// unseenSiblings lists the siblings of the path and opens those that are
// generations never seen (not open, not known, not retired), oldest
// first. Generations born and rotated away unseen are older than the file
// cur (open as curFile) opened at the path, unless that file was itself
// rotated before the listing (more rotations in between): then split
// tells how many of unseen are older than it, by its place in the listing
// or, when it is no longer listed (rotated away and deleted, as a
// rotation keeping one generation does), by time: those modified at or
// after its last modification are newer. A sibling that is no longer
// under its listed name when opened (a rotation under way) makes the
// listing start again, a few times at most: skipping it would read it
// later, after newer lines.
func (r *run) unseenSiblings(cur inode, curFile *os.File) (sibs []sibling, unseen []*gen, split int, err error) {
	if r.cfg.listing != nil {
		r.cfg.listing()
	}
	for attempt := 1; ; attempt++ {
		sibs, err = r.o.listSiblings(r.cfg.Path)
		unseen, split = nil, -1
		raced := false
		for _, s := range sibs {
			if s.ino == cur {
				split = len(unseen)
				continue
			}
			// An inode under two names (a hard link) is queued once.
			if r.holds(s.ino) || slices.ContainsFunc(unseen, func(g *gen) bool { return g.id.inode() == s.ino }) {
				continue
			}
			g, _, oerr := r.o.openSibling(s, 0)
			if oerr != nil {
				r.log.Warn("cannot open rotated file, its lines are lost", zap.String("path", s.path), zap.Error(oerr))
				r.cfg.Observer.Lost(-1)
				continue
			}
			if g == nil {
				raced = true
				break
			}
			if r.seenBefore(g) || r.copyOfOpen(g) {
				_ = g.f.Close()
				continue
			}
			unseen = append(unseen, g)
		}
		if !raced || attempt == listAttempts {
			break
		}
		for _, g := range unseen {
			_ = g.f.Close()
		}
	}
	if split < 0 {
		split = len(unseen)
		if fi, serr := curFile.Stat(); serr == nil && r.rotatedAway(cur) {
			t := fi.ModTime().UnixNano()
			if i := slices.IndexFunc(unseen, func(g *gen) bool { return g.mtime >= t }); i >= 0 {
				split = i
			}
		}
	}
	for _, g := range unseen {
		r.log.Info("reading file rotated away between checks", zap.String("path", g.path), zap.Uint64("ino", g.id.Ino))
	}
	return sibs, unseen, split, err
}

// rotatedAway reports whether the path no longer holds cur (it is
// missing, or holds another file).
func (r *run) rotatedAway(cur inode) bool {
	fi, err := os.Stat(r.cfg.Path)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	dev, ino, err := devIno(fi)
	return err == nil && (inode{dev, ino}) != cur
}

// seenBefore reports whether the open sibling g is a known or a retired
// generation, by its inode and what it holds now (read from the open
// file, not by name, which a rotation may have given to another file).
func (r *run) seenBefore(g *gen) bool {
	head, err := readHead(g.f)
	if err != nil {
		return true // as before the read: unreadable is not news
	}
	if id, ok := r.known[g.id.inode()]; ok && sameFile(head, id) {
		return true
	}
	return r.isRetired(g.id.inode(), head)
}

// sameFile reports whether a file of id's inode whose first bytes are
// head is the file id was taken from: it starts with the bytes id
// fingerprinted, or, for a file known empty (no fingerprint), is empty
// still. A known empty file's inode number, freed, may name a newer file.
func sameFile(head []byte, id FileID) bool {
	if id.HeadLen == 0 {
		return len(head) == 0
	}
	return headMatches(head, id)
}

// readBefore reports whether f, found at the path, is a generation read
// before (retired) or a sibling known by its first bytes: the agent may
// link or rename one back to the path, and it is not read twice. It is
// asked again at every check, so a file that grows into something new is
// taken then.
func (r *run) readBefore(f *os.File, id FileID) bool {
	head, err := readHead(f)
	if err != nil {
		return false
	}
	if k, ok := r.known[id.inode()]; ok && k.HeadLen > 0 && headMatches(head, k) {
		return true
	}
	return r.isRetired(id.inode(), head)
}

// copyOfOpen reports whether g starts with the bytes an open generation
// of another inode was fingerprinted by: a copytruncate copy of it, not a
// generation of its own. Its part not read yet is read from it when the
// truncation is seen (copyOf).
func (r *run) copyOfOpen(g *gen) bool {
	head, err := readHead(g.f)
	if err != nil {
		return false
	}
	for _, o := range r.gens {
		if o.id.HeadLen > 0 && o.id.inode() != g.id.inode() && headMatches(head, o.id) {
			return true
		}
	}
	return false
}

// holds reports whether one of the open generations is ino. Their inodes
// cannot be reused while they are open, so the inode alone identifies them.
func (r *run) holds(ino inode) bool {
	for _, g := range r.gens {
		if g.id.inode() == ino {
			return true
		}
	}
	return false
}

// learn records sibs as known. A complete listing also forgets siblings that
// are gone; a partial one (some failed to stat) only adds.
func (r *run) learn(sibs []sibling, complete bool) {
	if complete {
		r.pruneRead(sibs)
	}
	next := make(map[inode]FileID, len(sibs))
	if !complete {
		maps.Copy(next, r.known)
	}
	for _, s := range sibs {
		if id, ok := r.known[s.ino]; ok {
			next[s.ino] = id
			continue
		}
		f, id, _, err := r.o.open(s.path)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				next[s.ino] = FileID{Dev: s.ino.dev, Ino: s.ino.ino} // unreadable: known, without a head
			}
			continue
		}
		_ = f.Close()
		if id.inode() == s.ino {
			next[s.ino] = id
		}
	}
	r.known = next
}

// pruneRead drops from the read history the generations no longer on
// disk (neither listed nor open): only those can be met again.
func (r *run) pruneRead(sibs []sibling) {
	keep := func(g ReadGen) bool {
		ino := inode{g.Dev, g.Ino}
		return r.holds(ino) || slices.ContainsFunc(sibs, func(s sibling) bool { return s.ino == ino })
	}
	if !slices.ContainsFunc(r.read, func(g ReadGen) bool { return !keep(g) }) {
		return
	}
	read := make([]ReadGen, 0, len(r.read))
	for _, g := range r.read {
		if keep(g) {
			read = append(read, g)
		}
	}
	r.read = read
}

// isRetired reports whether head, the first bytes of a file of inode
// ino, are the generation retired under that inode: the same first bytes
// or, for one retired empty (without a fingerprint), none either: lines
// under its inode were written to another generation (or after it was read
// to its end and closed).
func (r *run) isRetired(ino inode, head []byte) bool {
	id, ok := r.retired[ino]
	return ok && sameFile(head, id)
}

// wasRetired is isRetired for a sibling read by its name; one that cannot
// be read counts as retired (it is no news).
func (r *run) wasRetired(s sibling) bool {
	if _, ok := r.retired[s.ino]; !ok {
		return false
	}
	f, _, _, err := r.o.open(s.path)
	if err != nil {
		return true
	}
	defer f.Close()
	head, err := readHead(f)
	if err != nil {
		return true
	}
	return r.isRetired(s.ino, head)
}

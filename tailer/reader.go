package tailer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"
)

// readBufSize is how much one read asks of the file.
const readBufSize = 64 << 10

// keepPendingCap is the largest line buffer kept for reuse after a line.
const keepPendingCap = 1 << 20

// gen is one open file generation and the read state within it.
type gen struct {
	f    *os.File
	path string // the name it was opened under
	id   FileID
	// headBytes are the bytes id.Head fingerprints, once a look found
	// them there (growHead): after a truncation they tell a copy made
	// while the file was shorter than its fingerprint (isPrefixCopy).
	headBytes []byte

	// next is the offset just past the last emitted line: where the line
	// being assembled starts. readOff is the next byte to read; between
	// reads, readOff == next + lineLen.
	next, readOff int64
	pending       []byte    // first bytes of the line being assembled, at most MaxLineBytes
	lineLen       int64     // length of the line being assembled so far
	sum           hash.Hash // SHA-256 of the line so far, once it is longer than MaxLineBytes

	// successor is set once a newer generation is known: this one is then
	// read to its end, kept being read until drainUntil, and closed.
	successor  bool
	drainUntil time.Time
	// rotatedWhileStopped: found rotated away at start. Its writer has
	// moved on once the next generation holds bytes: it is finished at
	// its end then, without waiting for drainUntil, so that a sidecar
	// restarted every few seconds still gets past it. (One rotated while
	// running keeps being read until drainUntil, for a writer that still
	// appends to its old descriptor.)
	rotatedWhileStopped bool

	// seen is the largest size the file was seen to have (by a read or a
	// stat) since it was last (re)started: after a truncation, what lay
	// between next and seen and is not in a copy is known to be lost.
	seen int64

	// tail fingerprints the tailLen bytes before next (see Position.Tail).
	tail    Digest
	tailLen int

	// mtime is the modification time (Unix ns) when last looked at;
	// openedMTime when it was opened.
	mtime, openedMTime int64
	// rewritten: found truncated or rewritten once; copies were looked
	// for then (see unseenCopies).
	rewritten bool
	// copiesLooked: the siblings were searched, at the first data of
	// this content, for copies of content it held before, never read.
	copiesLooked bool
}

func newGen(f *os.File, path string, id FileID, off int64) *gen {
	g := &gen{f: f, path: path, id: id, next: off, readOff: off}
	if fi, err := f.Stat(); err == nil {
		g.mtime = fi.ModTime().UnixNano()
		g.openedMTime = g.mtime
	}
	return g
}

// TailSize is the most bytes a tail fingerprint (Position.Tail) covers.
const TailSize = 64

// setTail fingerprints the last bytes before g.next, the end of line
// (whole unless truncated, when the end is not kept) and its "\n".
func (g *gen) setTail(line []byte, truncated bool) {
	if truncated {
		g.tail, g.tailLen = Digest{}, 0
		return
	}
	var buf [TailSize]byte
	n := copy(buf[:], line[max(0, len(line)-(TailSize-1)):])
	buf[n] = '\n'
	g.tail, g.tailLen = Digest(sha256.Sum256(buf[:n+1])), n+1
}

// restart drops the line being assembled and reads again from off.
func (g *gen) restart(off int64) {
	g.tail, g.tailLen = Digest{}, 0
	g.next, g.readOff, g.seen = off, off, off
	g.copiesLooked = false
	g.resetLine()
}

func (g *gen) resetLine() {
	g.pending = g.pending[:0]
	if cap(g.pending) > keepPendingCap {
		g.pending = nil
	}
	g.lineLen = 0
	g.sum = nil
}

func (g *gen) position() Position {
	return Position{Path: g.path, Dev: g.id.Dev, Ino: g.id.Ino, Head: g.id.Head, HeadLen: g.id.HeadLen, Offset: g.next, MTime: g.mtime,
		Opened: g.openedMTime, Tail: g.tail, TailLen: g.tailLen}
}

// add appends seg, a piece of the line being assembled, keeping at most
// maxLen bytes and hashing the whole line once it exceeds maxLen.
func (g *gen) add(seg []byte, maxLen int) {
	if g.sum == nil && len(g.pending)+len(seg) <= maxLen {
		g.pending = appendDoubling(g.pending, seg, maxLen)
		g.lineLen += int64(len(seg))
		return
	}
	if g.sum == nil {
		g.sum = sha256.New()
		g.sum.Write(g.pending)
	}
	g.sum.Write(seg)
	if room := maxLen - len(g.pending); room > 0 {
		g.pending = appendDoubling(g.pending, seg[:min(room, len(seg))], maxLen)
	}
	g.lineLen += int64(len(seg))
}

// appendDoubling appends seg to b, at least doubling b's capacity when it
// grows (append grows a large slice by a quarter: a line of n bytes
// assembled in reads of 64 KiB would allocate about 5n on the way), and
// never past maxLen.
func appendDoubling(b, seg []byte, maxLen int) []byte {
	if need := len(b) + len(seg); need > cap(b) {
		nb := make([]byte, len(b), max(need, min(2*cap(b), maxLen)))
		copy(nb, b)
		b = nb
	}
	return append(b, seg...)
}

// finish turns the assembled line (whose "\n" was just read) into a Line
// and moves next past it. text, when not nil, is the whole line, copied.
func (g *gen) finish(text []byte, h carry) Line {
	l := Line{Path: g.path, Dev: g.id.Dev, Ino: g.id.Ino, Offset: g.next}
	if text != nil {
		l.Text, l.FullLen = text, int64(len(text))
	} else {
		l.Text, l.FullLen = g.pending, g.lineLen
		if cap(g.pending) > keepPendingCap {
			g.pending = nil // not kept for the next line (resetLine): handed out, not copied
		} else {
			l.Text = bytes.Clone(g.pending)
		}
		if g.sum != nil {
			l.Truncated = true
			g.sum.Sum(l.FullSHA256[:0])
		}
	}
	g.next += l.FullLen + 1
	g.setTail(l.Text, l.Truncated)
	l.Next = g.position()
	l.Next.Read, l.Next.Queued = h.read, h.queued
	g.resetLine()
	return l
}

// consume hands out the complete lines in chunk, which was read at
// g.readOff, and keeps the trailing partial line for the next read.
func (g *gen) consume(ctx context.Context, out chan<- Line, chunk []byte, maxLen int, h carry) error {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			g.add(chunk, maxLen)
			g.readOff += int64(len(chunk))
			g.seen = max(g.seen, g.readOff)
			return nil
		}
		var l Line
		if g.lineLen == 0 && i <= maxLen {
			l = g.finish(bytes.Clone(chunk[:i]), h)
		} else {
			g.add(chunk[:i], maxLen)
			l = g.finish(nil, h)
		}
		g.readOff += int64(i + 1)
		g.seen = max(g.seen, g.readOff)
		chunk = chunk[i+1:]
		select {
		case out <- l:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// readAvailable hands out every complete line of g from its read offset on.
// It returns eof once a read reaches the end of the file, or early (eof
// false) after budget has passed, so that the caller can look for rotation
// and truncation while a writer keeps the file ahead of the reader.
func (r *run) readAvailable(ctx context.Context, out chan<- Line, g *gen, budget time.Duration) (eof bool, err error) {
	began := time.Now()
	for {
		n, rerr := g.f.ReadAt(r.buf, g.readOff)
		if n > 0 {
			if r.cfg.afterRead != nil {
				r.cfg.afterRead()
			}
			// The head is read after the data: if it still matches, the data
			// is this generation's, not that of a rewrite in place (truncate
			// and write past our offset) that came before the read. Data
			// read from the first byte is the head itself, as it was when
			// read: the file may have been cut since (copytruncate), and
			// what it holds then must not fingerprint the lines handed out,
			// or a copy of them would not be known as one.
			head, err := readHead(g.f)
			if err != nil {
				return false, err
			}
			if g.readOff == 0 {
				head = r.buf[:min(n, HeadSize)]
			}
			if !headMatches(head, g.id) {
				r.rewritten(g, head, -1)
				if len(r.gens) > 0 && r.gens[0] != g {
					// The copy of the old content comes first: the
					// caller reads it before any new line of g.
					return false, nil
				}
				continue
			}
			if g.readOff == 0 && !g.copiesLooked {
				// Before its first line is handed out: content it held
				// before, copied and truncated unseen (copytruncate
				// between two looks), is older and is read first. The
				// siblings are listed before the path is looked at: if
				// it still holds this file then, a sibling new since it
				// was opened can only be a copy of it (after a rotation
				// it may be a newer generation).
				g.copiesLooked = true
				sibs, err := r.o.listSiblings(r.cfg.Path)
				if err == nil && !r.rotatedAway(g.id.inode()) && r.unseenCopies(sibs, g, g.id, g.headBytes) {
					return false, nil
				}
			}
			g.growHead(head)
			// The position carries the time the file had when its lines
			// were read: generations modified after it are newer (see
			// placeAfterDeleted), so it must not lag behind the data.
			if fi, err := g.f.Stat(); err == nil {
				g.mtime = fi.ModTime().UnixNano()
			}
			if err := g.consume(ctx, out, r.buf[:n], r.cfg.MaxLineBytes, r.carry()); err != nil {
				return false, err
			}
		}
		switch {
		case errors.Is(rerr, io.EOF):
			return true, nil
		case rerr != nil:
			return false, fmt.Errorf("read %q at %d: %w", g.path, g.readOff, rerr)
		case time.Since(began) >= budget:
			return false, nil
		}
	}
}

// lastLineEnd returns the offset just past the last "\n" in the first size
// bytes of f, or 0 if there is none: where "start at end" begins, so that a
// line being written at start is read whole rather than as a fragment.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, readBufSize)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("read %q at %d: %w", f.Name(), start, err)
		}
		b := buf[:n]
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

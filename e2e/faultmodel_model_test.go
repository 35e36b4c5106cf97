package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The writer side of the fault model: it appends, rotates, truncates and
// deletes the log the way agents and logrotate do, and remembers for every
// line where its bytes are (generation, content, offset) and how they
// went away, so that the checker knows what the sidecar could and should
// have stored.

// fmStrayBase is the first event number of the lines in stray sibling
// files; the log's own lines are numbered from 0 and stay far below it.
const fmStrayBase = 1_000_000_000

// fmStraySuffixes name files beside the log that are not generations of
// it: what an agent, an editor or a backup tool leaves there.
var fmStraySuffixes = []string{".pii", ".lock", ".bak", ".tmp", ".swp", ".offset", ".sha256"}

// fmGen is one file generation the writer made: the file at the log path,
// one renamed away from it, or a copytruncate copy.
type fmGen struct {
	serial   int
	dev, ino uint64
	born     string // "initial", "rotation", "recreate", "copy of #N"
	name     string // its name now; "" once unlinked
	// content holds the places of the lines in its current content, which
	// is epoch: the number of truncations so far; size is its length.
	content []*fmPlace
	epoch   int
	size    int64
	// truncRuns[i] is the index of the run alive at the i-th truncation,
	// -1 if none was.
	truncRuns []int
	// unlinked says the file was removed (or renamed over); unlinkRun is
	// the index of the run alive (running or paused) at that moment, -1
	// if none was, and unlinkStep the step that did it.
	unlinked   bool
	unlinkRun  int
	unlinkStep int
}

func (g *fmGen) String() string { return fmt.Sprintf("#%d(ino %d)", g.serial, g.ino) }

// fmPlace is where the bytes of one line are in one generation.
type fmPlace struct {
	line     *fmLine
	gen      *fmGen
	epoch    int
	off      int64
	complete bool // the line's "\n" is in this generation
}

// status says whether the place's bytes are still on disk ("alive"),
// were cut by a truncation ("truncated") or went with their file
// ("unlinked").
func (p *fmPlace) status() string {
	switch {
	case p.epoch < p.gen.epoch:
		return "truncated"
	case p.gen.unlinked:
		return "unlinked"
	default:
		return "alive"
	}
}

func (p *fmPlace) String() string {
	s := fmt.Sprintf("%s@%d", p.gen, p.off)
	if p.epoch > 0 {
		s += fmt.Sprintf("/e%d", p.epoch)
	}
	if !p.complete {
		s += "(partial)"
	}
	return s + ":" + p.status()
}

// fmLine is one line the writer wrote (or began: complete is false while
// and when its "\n" was never written).
type fmLine struct {
	n        int
	text     string // without "\n"
	written  int    // bytes of text written so far
	complete bool
	places   []*fmPlace
	step     int // the step that began it
}

func (l *fmLine) placesString() string {
	var s []string
	for _, p := range l.places {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

// fmWriter is the agent, logrotate and the stray-file makers.
type fmWriter struct {
	t       *testing.T
	rng     *rand.Rand
	path    string
	keep    int // rotated generations kept (path.1 .. path.keep)
	gens    []*fmGen
	cur     *fmGen   // the file at path
	rotated []*fmGen // rotated[i] is path.(i+1)
	lines   []*fmLine
	byN     map[int]*fmLine
	partial *fmLine // begun in cur, "\n" not written yet
	strayN  int
	strays  map[string]uint64 // existing stray suffix -> inode
	// strayInos holds every inode a stray file ever had.
	strayInos map[uint64]string
	// runNow is the index of the run alive now, -1 when none is; stepNow
	// the number of the step being taken. Both are set by the driver.
	runNow  func() int
	stepNow func() int
}

func newFMWriter(t *testing.T, rng *rand.Rand, path string, keep int) *fmWriter {
	w := &fmWriter{t: t, rng: rng, path: path, keep: keep, byN: map[int]*fmLine{},
		strays: map[string]uint64{}, strayInos: map[uint64]string{},
		runNow: func() int { return -1 }, stepNow: func() int { return 0 }}
	w.cur = w.create("initial")
	return w
}

// fmLineText is one native agent event; "n" comes first so that the first
// bytes of any two files of lines differ.
func fmLineText(n, pad int) string {
	return fmt.Sprintf(`{"n":%d,"ts":"2026-03-01T12:00:00.000000000Z","action":"tool_call","user":"u-%d","tool":"fault.model","pad":"%s"}`,
		n, n%7, strings.Repeat("x", pad))
}

// padLen is a line's filler: mostly short, sometimes a few KiB, rarely
// longer than the tailer's read buffer.
func (w *fmWriter) padLen() int {
	switch x := w.rng.IntN(100); {
	case x < 70:
		return w.rng.IntN(100)
	case x < 96:
		return 100 + w.rng.IntN(4000)
	default:
		return 4000 + w.rng.IntN(70000)
	}
}

// appendLines appends count new lines to the file at the path in one or
// two writes, finishing the partial line first if there is one; with
// endPartial the last line is written without its "\n" (and perhaps not
// whole). It returns a description for the step log.
func (w *fmWriter) appendLines(count int, endPartial bool) string {
	var buf []byte
	at := w.cur.size
	finished := ""
	if p := w.partial; p != nil {
		buf = append(buf, p.text[p.written:]...)
		buf = append(buf, '\n')
		p.written, p.complete = len(p.text), true
		for _, pl := range p.places {
			if pl.gen == w.cur && pl.epoch == w.cur.epoch {
				pl.complete = true
			}
		}
		w.partial = nil
		finished = fmt.Sprintf("finish n=%d, ", p.n)
	}
	first := len(w.lines)
	for i := 0; i < count; i++ {
		n := len(w.lines)
		l := &fmLine{n: n, text: fmLineText(n, w.padLen()), step: w.stepNow()}
		pl := &fmPlace{line: l, gen: w.cur, epoch: w.cur.epoch, off: at + int64(len(buf))}
		l.places = append(l.places, pl)
		w.cur.content = append(w.cur.content, pl)
		w.lines = append(w.lines, l)
		w.byN[n] = l
		if i == count-1 && endPartial {
			cut := 1 + w.rng.IntN(len(l.text))
			buf = append(buf, l.text[:cut]...)
			l.written = cut
			w.partial = l
			continue
		}
		buf = append(buf, l.text...)
		buf = append(buf, '\n')
		l.written, l.complete, pl.complete = len(l.text), true, true
	}
	w.write(w.path, buf)
	w.cur.size += int64(len(buf))
	desc := fmt.Sprintf("append %sn=%d..%d to %s at %d, %d bytes", finished, first, len(w.lines)-1, w.cur, at, len(buf))
	if w.partial != nil {
		desc += fmt.Sprintf(", n=%d left partial (%d of %d bytes)", w.partial.n, w.partial.written, len(w.partial.text)+1)
	}
	return desc
}

// write appends data to path in one or two write calls.
func (w *fmWriter) write(path string, data []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Fatalf("fault model writer: %v", err)
	}
	defer f.Close()
	split := len(data)
	if len(data) > 1 && w.rng.IntN(4) == 0 {
		split = 1 + w.rng.IntN(len(data)-1)
	}
	for _, part := range [][]byte{data[:split], data[split:]} {
		if _, err := f.Write(part); err != nil {
			w.t.Fatalf("fault model writer: %v", err)
		}
	}
}

// create makes an empty file at the path: a new generation.
func (w *fmWriter) create(born string) *fmGen {
	return w.createAt(w.path, nil, born)
}

func (w *fmWriter) createAt(path string, data []byte, born string) *fmGen {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		w.t.Fatalf("fault model writer: %v", err)
	}
	if _, err := f.Write(data); err != nil {
		w.t.Fatalf("fault model writer: %v", err)
	}
	if err := f.Close(); err != nil {
		w.t.Fatalf("fault model writer: %v", err)
	}
	dev, ino := fmFileID(w.t, path)
	g := &fmGen{serial: len(w.gens) + 1, dev: dev, ino: ino, born: born, name: path, size: int64(len(data)), unlinkRun: -1}
	w.gens = append(w.gens, g)
	return g
}

func fmFileID(t *testing.T, path string) (dev, ino uint64) {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("fault model writer: %v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return uint64(st.Dev), st.Ino
}

func (w *fmWriter) unlink(g *fmGen) {
	g.unlinked, g.name, g.unlinkRun, g.unlinkStep = true, "", w.runNow(), w.stepNow()
}

func (w *fmWriter) rename(from, to string) {
	if err := os.Rename(from, to); err != nil {
		w.t.Fatalf("fault model writer: %v", err)
	}
}

func (w *fmWriter) rotatedName(i int) string { return fmt.Sprintf("%s.%d", w.path, i+1) }

// shift makes room for a new path.1 as logrotate does: the oldest kept
// generation is removed when keep are kept, the others are renamed one up.
func (w *fmWriter) shift() string {
	desc := ""
	if len(w.rotated) == w.keep {
		old := w.rotated[w.keep-1]
		if err := os.Remove(w.rotatedName(w.keep - 1)); err != nil {
			w.t.Fatalf("fault model writer: %v", err)
		}
		w.unlink(old)
		w.rotated = w.rotated[:w.keep-1]
		desc = fmt.Sprintf("; %s deleted", old)
	}
	for i := len(w.rotated) - 1; i >= 0; i-- {
		w.rename(w.rotatedName(i), w.rotatedName(i+1))
		w.rotated[i].name = w.rotatedName(i + 1)
	}
	return desc
}

// rotateRename is logrotate's default: path -> path.1, a new empty path.
// A partial last line stays unterminated in the renamed file.
func (w *fmWriter) rotateRename() string {
	old := w.cur
	desc := w.shift()
	w.rename(w.path, w.rotatedName(0))
	old.name = w.rotatedName(0)
	w.rotated = append([]*fmGen{old}, w.rotated...)
	w.partial = nil
	w.cur = w.create("rotation")
	return fmt.Sprintf("rotate: %s (%d bytes) -> .1, new %s%s", old, old.size, w.cur, desc)
}

// copyTruncate copies the file at the path to path.1 and truncates it;
// window lines are appended between the copy and the truncation (they are
// in neither file afterwards).
func (w *fmWriter) copyTruncate(window int, windowPartial bool) string {
	desc := w.shift()
	data, err := os.ReadFile(w.path)
	if err != nil {
		w.t.Fatalf("fault model writer: %v", err)
	}
	if int64(len(data)) != w.cur.size {
		w.t.Fatalf("fault model writer: %s holds %d bytes, the model says %d", w.path, len(data), w.cur.size)
	}
	src := w.cur
	c := w.createAt(w.rotatedName(0), data, fmt.Sprintf("copy of %s", src))
	for _, p := range src.content {
		cp := &fmPlace{line: p.line, gen: c, off: p.off, complete: p.complete}
		c.content = append(c.content, cp)
		p.line.places = append(p.line.places, cp)
	}
	w.rotated = append([]*fmGen{c}, w.rotated...)
	if window > 0 {
		desc += "; in the window: " + w.appendLines(window, windowPartial)
	}
	if err := os.Truncate(w.path, 0); err != nil {
		w.t.Fatalf("fault model writer: %v", err)
	}
	src.epoch++
	src.truncRuns = append(src.truncRuns, w.runNow())
	src.size = 0
	src.content = nil
	w.partial = nil
	return fmt.Sprintf("copytruncate: %s (%d bytes) copied to .1 as %s, truncated%s", src, len(data), c, desc)
}

// deleteRecreate removes the file at the path and creates a new one.
func (w *fmWriter) deleteRecreate() string {
	old := w.cur
	if err := os.Remove(w.path); err != nil {
		w.t.Fatalf("fault model writer: %v", err)
	}
	w.unlink(old)
	w.partial = nil
	w.cur = w.create("recreate")
	return fmt.Sprintf("delete %s (%d bytes) and create %s", old, old.size, w.cur)
}

// stray adds JSON lines to, or removes, a file beside the log that is not
// a generation of it.
func (w *fmWriter) stray() string {
	suffix := fmStraySuffixes[w.rng.IntN(len(fmStraySuffixes))]
	path := w.path + suffix
	if _, ok := w.strays[suffix]; ok && w.rng.IntN(4) == 0 {
		if err := os.Remove(path); err != nil {
			w.t.Fatalf("fault model writer: %v", err)
		}
		delete(w.strays, suffix)
		return "remove stray " + filepath.Base(path)
	}
	count := 1 + w.rng.IntN(20)
	var b strings.Builder
	first := fmStrayBase + w.strayN
	for i := 0; i < count; i++ {
		b.WriteString(fmLineText(fmStrayBase+w.strayN, w.rng.IntN(200)))
		b.WriteByte('\n')
		w.strayN++
	}
	w.write(path, []byte(b.String()))
	_, ino := fmFileID(w.t, path)
	w.strays[suffix] = ino
	w.strayInos[ino] = suffix
	return fmt.Sprintf("stray %s (ino %d): n=%d..%d", filepath.Base(path), ino, first, fmStrayBase+w.strayN-1)
}

// onDisk returns the complete lines whose bytes are still in a file under
// the log's names: the ones the final run can always read.
func (w *fmWriter) onDisk() []*fmLine {
	var out []*fmLine
	for _, l := range w.lines {
		if !l.complete {
			continue
		}
		for _, p := range l.places {
			if p.complete && p.status() == "alive" {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// existing is the generations that have a name now, with their epochs.
func (w *fmWriter) existing() map[*fmGen]int {
	m := map[*fmGen]int{}
	for _, g := range w.gens {
		if !g.unlinked {
			m[g] = g.epoch
		}
	}
	return m
}

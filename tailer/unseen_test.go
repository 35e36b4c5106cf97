package tailer

import (
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// unseenFixture lays out, beside path, three rotated generations, oldest
// first: .3 ("old"), .2 (the file a rotation check opened at the path,
// "cur", rotated away since) and .1 ("new"), and returns a run for path
// and the opened file's identity.
func unseenFixture(t *testing.T) (*run, string, FileID, *os.File) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.log")
	base := time.Now().Add(-time.Hour)
	write := func(name, text string, age int) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(age) * time.Second)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write("agent.log.3", "old\n", 0)
	write("agent.log", "cur\n", 1)
	f, id, _, err := openID(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	write("agent.log.1", "new\n", 2)
	write("agent.log", "", 3)
	r := newRun(Config{Path: path, Logger: zap.NewNop(), Observer: nopObserver{}})
	t.Cleanup(r.close)
	return r, path, id, f
}

func unseenNames(gens []*gen) []string {
	var out []string
	for _, g := range gens {
		out = append(out, filepath.Base(g.path))
		g.f.Close()
	}
	return out
}

// Generations found unseen at a rotation are queued in age order around
// the file opened at the path, even when that file was itself rotated
// away before the listing: the newer ones go after it.
func TestUnseenSiblings_AroundTheOpenedFile(t *testing.T) {
	r, _, id, f := unseenFixture(t)
	_, unseen, split, err := r.unseenSiblings(id.inode(), f)
	if err != nil {
		t.Fatal(err)
	}
	if got := unseenNames(unseen); !slices.Equal(got, []string{"agent.log.3", "agent.log.1"}) || split != 1 {
		t.Errorf("unseen %v split %d, want [agent.log.3 agent.log.1] split 1", got, split)
	}
}

// The file opened at the path rotated away and deleted before the
// listing (a rotation keeping one generation, twice in a row): it is not
// listed, so the siblings written at or after its last write are taken as
// newer than it, the others as older. Before, every one was queued before
// it, and the fault model stored lines of the newer one before its own.
func TestUnseenSiblings_OpenedFileDeletedBeforeTheListing(t *testing.T) {
	r, path, id, f := unseenFixture(t)
	if err := os.Remove(path + ".2"); err != nil {
		t.Fatal(err)
	}
	_, unseen, split, err := r.unseenSiblings(id.inode(), f)
	if err != nil {
		t.Fatal(err)
	}
	if got := unseenNames(unseen); !slices.Equal(got, []string{"agent.log.3", "agent.log.1"}) || split != 1 {
		t.Errorf("unseen %v split %d, want [agent.log.3 agent.log.1] split 1", got, split)
	}
}

// A retired generation is recognised by what its inode holds: one retired
// with a fingerprint is skipped while the file holds those bytes, and one
// retired empty (no fingerprint) does not hide a later generation that
// reuses its inode number with lines in it.
func TestUnseenSiblings_RetiredByContent(t *testing.T) {
	r, path, id, f := unseenFixture(t)
	oldID := fileID(t, path+".3")
	newID := fileID(t, path+".1")
	r.rememberRetired(oldID)
	r.rememberRetired(FileID{Dev: newID.Dev, Ino: newID.Ino}) // retired empty
	_, unseen, split, err := r.unseenSiblings(id.inode(), f)
	if err != nil {
		t.Fatal(err)
	}
	if got := unseenNames(unseen); !slices.Equal(got, []string{"agent.log.1"}) || split != 0 {
		t.Errorf("unseen %v split %d, want [agent.log.1] split 0", got, split)
	}
}

// A generation retired while its head was not yet fingerprinted (opened
// empty) is remembered with the fingerprint of what it held when closed.
func TestRetire_FingerprintsWhatTheFileHolds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, id, _, err := openID(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("lines\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRun(Config{Path: path, Logger: zap.NewNop(), Observer: nopObserver{}})
	r.gens = []*gen{newGen(f, path, id, 0)}
	r.retire(r.gens[0])
	got := r.retired[id.inode()]
	if got.HeadLen != len("lines\n") || got.Head != hashHead([]byte("lines\n")) {
		t.Errorf("retired as %+v, want the fingerprint of its 6 bytes", got)
	}
}

func fileID(t *testing.T, path string) FileID {
	t.Helper()
	f, id, _, err := openID(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return id
}

// TestTailer_RotatedTwiceBetweenOpenAndListing: a look finds the path
// rotated and opens its new file (b); before it lists the siblings, b is
// rotated away and deleted by a rotation keeping one generation, and the
// one after it (c) rotated away too. c, never seen, is read after b, and
// then the file at the path: every line once, in write order.
func TestTailer_RotatedTwiceBetweenOpenAndListing(t *testing.T) {
	path := logPath(t)
	a, b, c, d := numbered("a", 0, 3), numbered("b", 0, 3), numbered("c", 0, 3), numbered("d", 0, 3)
	writeFile(t, path, joinLines(a))
	var armed, fired atomic.Bool
	cfg := testConfig(path)
	cfg.listing = func() {
		if !armed.CompareAndSwap(true, false) {
			return
		}
		rename(t, path, path+".1") // b rotated away; a's name taken
		writeFile(t, path, joinLines(c))
		rename(t, path, path+".1") // c rotated away; b deleted (held open)
		writeFile(t, path, joinLines(d)+"END\n")
		fired.Store(true)
	}
	h := startTailer(t, cfg, nil)
	h.waitN(len(a))
	rename(t, path, path+".1")
	writeFile(t, path+".new", joinLines(b)) // whole before a look can open it
	armed.Store(true)
	rename(t, path+".new", path)
	got := h.waitText("END")
	if !fired.Load() {
		t.Fatal("no look listed the siblings after opening b")
	}
	wantTexts(t, linesOf(got), cat(a, b, c, d, []string{"END"}))
}

// TestTailer_TruncatedBetweenItsLastLookAndItsRetirement: a look finds the
// generation being read (a) whole and the path rotated; before a is
// retired it is truncated and written again with fewer bytes than were
// read (copytruncate, then more lines, while the tailer was stopped by
// SIGSTOP between the two). The retirement must see that a no longer
// holds what was read: its new lines are read, not passed over.
func TestTailer_TruncatedBetweenItsLastLookAndItsRetirement(t *testing.T) {
	path := logPath(t)
	a, x, b := padded(numbered("a", 0, 3), 200), numbered("x", 0, 2), numbered("b", 0, 3)
	writeFile(t, path, joinLines(a))
	var armed, fired atomic.Bool
	cfg := testConfig(path)
	cfg.RotateDrain = time.Nanosecond // the drain is over when the look ends
	cfg.listing = func() {
		if !armed.CompareAndSwap(true, false) {
			return
		}
		writeFile(t, path+".1", joinLines(x)) // truncated and written again
		fired.Store(true)
	}
	h := startTailer(t, cfg, nil)
	h.waitN(len(a))
	rename(t, path, path+".1")
	armed.Store(true)
	writeFile(t, path, joinLines(b)+"END\n")
	got := h.waitText("END")
	if !fired.Load() {
		t.Fatal("no look listed the siblings after the rotation")
	}
	wantTexts(t, linesOf(got), cat(a, x, b, []string{"END"}))
}

// TestTailer_RestartReadsWhatWasQueued: a generation found while another
// is being drained is queued after it; one that looks older than it (a
// copytruncate copy of bytes never read keeps the time of the copy, older
// than the lines written to the file since) would be passed over by a
// restart that places generations by time. The position handed out says
// what is queued, and a restart from it reads it before the newer ones.
func TestTailer_RestartReadsWhatWasQueued(t *testing.T) {
	path := logPath(t)
	a, c, b := numbered("a", 0, 3), numbered("c", 0, 3), numbered("b", 0, 2)
	writeFile(t, path, joinLines(a))
	var armed atomic.Bool
	cfg := testConfig(path)
	cfg.RotateDrain = time.Hour // a stays first until the stop
	cfg.listing = func() {
		// c appears in the look that finds the path rotated: a look
		// before it would know it as a generation older than a.
		if armed.CompareAndSwap(true, false) {
			writeFile(t, path+".tmp", joinLines(c))
			setMtime(t, path+".tmp", time.Hour) // older than a
			rename(t, path+".tmp", path+".2")
		}
	}
	h := startTailer(t, cfg, nil)
	h.waitN(len(a))
	armed.Store(true)
	rename(t, path, path+".1")
	writeFile(t, path, joinLines(b)+"END\n")
	h.waitLog("file rotated")
	h.waitChecks(1)
	got := h.stop()
	wantTexts(t, linesOf(got), a) // nothing read past a before the stop
	h.mu.Lock()
	pos := h.last
	h.mu.Unlock()
	if len(pos.Queued) != 2 {
		t.Fatalf("the last position queues %d generations, want 2 (the copy and the file at the path): %+v", len(pos.Queued), pos)
	}

	h2 := startTailer(t, testConfig(path), &pos)
	got = h2.waitText("END")
	wantTexts(t, linesOf(got), cat(c, b, []string{"END"}))
}

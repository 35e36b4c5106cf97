package tailer

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// copyTruncate does what logrotate's copytruncate does: copy path to to,
// then truncate path.
func copyTruncate(t *testing.T, path, to string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	must(t, err)
	writeFile(t, to, string(raw))
	must(t, os.Truncate(path, 0))
}

// TestTailer_CopyTruncateOfAQueuedGeneration: the generation at the path
// is copied and truncated while the one before it is still being drained,
// before a byte of it was read: its first lines are read from the copy,
// then what it holds after the truncation. Checks may have fingerprinted
// it before the copy, or not: both must work. The first case copies it
// at once (most often before a check looks at it, though nothing holds
// the checks back), the second after checks have looked at it.
func TestTailer_CopyTruncateOfAQueuedGeneration(t *testing.T) {
	for _, checked := range []bool{false, true} {
		t.Run(fmt.Sprintf("checked=%v", checked), func(t *testing.T) {
			path := logPath(t)
			writeFile(t, path, joinLines(numbered("a", 0, 3)))
			cfg := testConfig(path)
			cfg.RotateDrain = time.Second
			h := startTailer(t, cfg, nil)
			h.waitText("a-00002")
			rename(t, path, path+".1")
			writeFile(t, path, "")
			h.waitLog("file rotated") // the new one is queued behind the drained one
			appendTo(t, path, joinLines(numbered("b", 0, 3)))
			if checked {
				h.waitChecks(2)
			}
			rename(t, path+".1", path+".2")
			copyTruncate(t, path, path+".1")
			appendTo(t, path, joinLines(numbered("c", 0, 3))+"END\n")
			got := h.waitText("END")
			wantTexts(t, linesOf(got), cat(numbered("a", 0, 3), numbered("b", 0, 3), numbered("c", 0, 3), []string{"END"}))
		})
	}
}

// TestTailer_ReadCopyNotReadAgainAfterRestart: a copytruncate copy that
// holds only what was read is remembered in the position; after a
// restart that finds the truncated generation deleted, the copy is not
// taken for a newer generation even with the very same time.
func TestTailer_ReadCopyNotReadAgainAfterRestart(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("a", 0, 3)))
	h := startTailer(t, testConfig(path), nil)
	h.waitText("a-00002")
	copyTruncate(t, path, path+".1")
	h.waitLog("file truncated or rewritten, reading it again from the start")
	appendTo(t, path, joinLines(numbered("b", 0, 2)))
	got := h.waitText("b-00001")
	saved := got[len(got)-1].Next
	h.stop()
	if len(saved.Read) == 0 {
		t.Fatalf("saved position %+v carries no generation read", saved)
	}
	must(t, os.Remove(path))
	mt := time.Unix(0, saved.MTime)
	must(t, os.Chtimes(path+".1", mt, mt)) // a coarse clock's tie
	writeFile(t, path, "c-0\nEND\n")
	h = startTailer(t, testConfig(path), &saved)
	got = h.waitText("END")
	wantTexts(t, linesOf(got), []string{"c-0", "END"})
}

// TestTailer_CopyTruncatedThenRotatedWhileStopped: while stopped, the
// saved generation is copied and truncated, written again, and then
// rotated away: the rest comes from the copy, then the truncated
// generation from 0 under its new name, then the new file.
func TestTailer_CopyTruncatedThenRotatedWhileStopped(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("a", 0, 3)))
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitN(3)[1].Next
	h.stop()
	appendTo(t, path, joinLines(numbered("a", 3, 2)))
	copyTruncate(t, path, path+".1")
	appendTo(t, path, joinLines(numbered("b", 0, 2)))
	rename(t, path+".1", path+".2")
	rename(t, path, path+".1")
	writeFile(t, path, "c-0\nEND\n")
	h = startTailer(t, testConfig(path), &saved)
	got := h.waitText("END")
	wantTexts(t, linesOf(got), cat(numbered("a", 2, 3), numbered("b", 0, 2), []string{"c-0", "END"}))
	if len(gapsOf(got)) != 0 {
		t.Errorf("gaps %+v, want none: nothing was lost", gapsOf(got))
	}
}

// TestTailer_ResumeAtAnEmptyGenerationWhoseInodeWasReused: the saved
// position names a generation of which no byte was seen (offset 0, no
// fingerprint). While stopped it was rotated away, written, and deleted,
// and its inode number went to the new file at the path: only the times
// tell that the rotated generation (modified after the saved one was
// seen) is newer, and it is read first. A sibling older than the saved
// generation is not.
func TestTailer_ResumeAtAnEmptyGenerationWhoseInodeWasReused(t *testing.T) {
	path := logPath(t)
	writeFile(t, path+".2", "old-0\n")
	setMtime(t, path+".2", time.Hour)
	writeFile(t, path, "") // the file the inode number now names
	fi, err := os.Stat(path)
	must(t, err)
	dev, ino, err := devIno(fi)
	must(t, err)
	saved := Position{Path: path, Dev: dev, Ino: ino, MTime: time.Now().Add(-time.Minute).UnixNano()}
	writeFile(t, path+".1", joinLines(numbered("rotated", 0, 3))) // modified after the saved one was seen
	appendTo(t, path, "new-0\nEND\n")
	h := startTailer(t, testConfig(path), &saved)
	got := h.waitText("END")
	wantTexts(t, linesOf(got), cat(numbered("rotated", 0, 3), []string{"new-0", "END"}))
}

// TestTailer_CopyTruncateThenRotateOfAQueuedGeneration: the generation
// queued behind one being drained is copied and truncated, and then
// rotated away: its copy starts like it and is not taken for a generation
// born between two checks; every line comes once.
func TestTailer_CopyTruncateThenRotateOfAQueuedGeneration(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("a", 0, 3)))
	cfg := testConfig(path)
	cfg.RotateDrain = time.Second
	h := startTailer(t, cfg, nil)
	h.waitText("a-00002")
	rename(t, path, path+".1")
	writeFile(t, path, "")
	h.waitLog("file rotated") // B is queued behind A, which is drained
	appendTo(t, path, joinLines(numbered("b", 0, 3)))
	h.waitChecks(2) // checks fingerprint B meanwhile
	rename(t, path+".1", path+".2")
	copyTruncate(t, path, path+".1")
	rename(t, path+".2", path+".3")
	rename(t, path+".1", path+".2")
	rename(t, path, path+".1")
	writeFile(t, path, "c-0\nEND\n")
	h.waitText("END")
	h.waitChecks(3) // none finds anything more to read
	got := h.stop()
	wantTexts(t, linesOf(got), cat(numbered("a", 0, 3), numbered("b", 0, 3), []string{"c-0", "END"}))
}

// TestTailer_CopyOfTheOpenGenerationIsNotANewOne: a copy of the file being
// read appears among the siblings in the same look as a rotation (the
// truncation that copytruncate makes after the copy is not seen yet): it
// starts like the open generation and is not read as a generation born
// between two checks.
func TestTailer_CopyOfTheOpenGenerationIsNotANewOne(t *testing.T) {
	path := logPath(t)
	a := numbered("a", 0, 20)
	writeFile(t, path, joinLines(a))
	recv := startManual(t, testConfig(path))
	got := []Line{recv()} // the tailer holds the rest of a and blocks
	raw, err := os.ReadFile(path)
	must(t, err)
	writeFile(t, path+".2", string(raw)) // the copy, already shifted once
	rename(t, path, path+".1")
	writeFile(t, path, "b-0\nEND\n")
	got = append(got, recvUntil(recv, "END")...)
	wantTexts(t, linesOf(got), cat(a, []string{"b-0", "END"}))
}

// TestSeenBefore_KnownEmptyIsNotANewFile: a sibling known while it was
// empty (no fingerprint) is known by its inode number only while it is
// still empty: once that number names a file with bytes (freed by a
// delete, given to a newer generation), it is news.
func TestSeenBefore_KnownEmptyIsNotANewFile(t *testing.T) {
	path := logPath(t)
	writeFile(t, path+".1", "")
	f, id, _, err := openID(path + ".1")
	must(t, err)
	defer f.Close()
	r := newRun(Config{Path: path, Logger: zap.NewNop(), Observer: nopObserver{}})
	defer r.close()
	r.known[id.inode()] = FileID{Dev: id.Dev, Ino: id.Ino} // learnt empty
	g := &gen{f: f, id: id}
	if !r.seenBefore(g) {
		t.Fatal("an empty file known empty is news")
	}
	appendTo(t, path+".1", "new-0\n")
	if r.seenBefore(g) {
		t.Fatal("a file with bytes under the number of one known empty is taken for it")
	}
	r.rememberRetired(FileID{Dev: id.Dev, Ino: id.Ino}) // retired empty
	delete(r.known, id.inode())
	if r.seenBefore(g) {
		t.Fatal("a file with bytes under the number of one retired empty is taken for it")
	}
}

// TestTailer_CopyTruncateTwiceBetweenLooks: while the tailer is blocked,
// the file is copied and truncated twice, with lines written in between:
// those lines are only in the second copy, which starts with bytes the
// tailer never saw. Everything comes once, in order.
func TestTailer_CopyTruncateTwiceBetweenLooks(t *testing.T) {
	path := logPath(t)
	a := numbered("a", 0, 20)
	writeFile(t, path, joinLines(a))
	recv := startManual(t, testConfig(path))
	got := []Line{recv()} // the tailer holds the rest of a and blocks
	appendTo(t, path, joinLines(numbered("b", 0, 3)))
	copyTruncate(t, path, path+".1")
	appendTo(t, path, joinLines(numbered("c", 0, 3)))
	rename(t, path+".1", path+".2")
	copyTruncate(t, path, path+".1")
	appendTo(t, path, joinLines(numbered("d", 0, 3))+"END\n")
	got = append(got, recvUntil(recv, "END")...)
	wantTexts(t, linesOf(got), cat(a, numbered("b", 0, 3), numbered("c", 0, 3), numbered("d", 0, 3), []string{"END"}))
}

// TestTailer_CopyOfADeletedGenerationReadOnFromTheOffset: while stopped,
// the saved generation (read far enough to be told by its first and last
// bytes read) is copied with more lines, truncated, and deleted: the copy
// is read from the saved offset, not again from 0.
func TestTailer_CopyOfADeletedGenerationReadOnFromTheOffset(t *testing.T) {
	path := logPath(t)
	a := padded(numbered("a", 0, 10), 60)
	writeFile(t, path, joinLines(a))
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitN(len(a))[len(a)-1].Next
	h.stop()
	if saved.HeadLen != HeadSize || saved.TailLen != TailSize {
		t.Fatalf("saved %+v: want a full head and tail", saved)
	}
	appendTo(t, path, joinLines(numbered("b", 0, 2)))
	copyTruncate(t, path, path+".1")
	rename(t, path, path+".gone") // no sibling name; removed once the new file has its own inode
	writeFile(t, path, "c-0\nEND\n")
	must(t, os.Remove(path+".gone"))
	h = startTailer(t, testConfig(path), &saved)
	got := h.waitText("END")
	wantTexts(t, linesOf(got), cat(numbered("b", 0, 2), []string{"c-0", "END"}))
}

// TestTailer_CopyShorterThanTheHeadRead: copytruncate copies the file
// while it is shorter than a head fingerprint (one line), the writer
// appends past HeadSize before the truncation, and the tailer reads that
// before it looks at the file's siblings again, its fingerprint growing
// to HeadSize. The copy holds only bytes read already: it is neither the
// rest of the truncated file nor a copy of bytes never seen, and nothing
// of it is handed out again (the fault model stored such a first line
// twice). The tailer is held on its first line while the copy is made and
// the lines appended, and on the next ones (read with the head past
// HeadSize) while the file is truncated, so no look comes in between.
func TestTailer_CopyShorterThanTheHeadRead(t *testing.T) {
	path := logPath(t)
	a := padded(numbered("a", 0, 1), 140)
	writeFile(t, path, joinLines(a))
	recv := startManual(t, testConfig(path))
	got := []Line{recv()}
	raw, err := os.ReadFile(path)
	must(t, err)
	writeFile(t, path+".1", string(raw)) // the copy, shorter than HeadSize
	b := padded(numbered("b", 0, 5), 60)
	appendTo(t, path, joinLines(b))
	got = append(got, recv()) // b read whole, past HeadSize; the rest held
	must(t, os.Truncate(path, 0))
	appendTo(t, path, "END\n")
	got = append(got, recvUntil(recv, "END")...)
	wantTexts(t, linesOf(got), cat(a, b, []string{"END"}))
}

// TestTailer_CopyOfAllThatWasReadOfAFileOpenedEmpty: the file at the path
// was empty when opened (a new generation), its lines were read, and it
// was copied and truncated while the tailer could not look (held on a
// send, as by SIGSTOP). The copy holds only what was read: nothing of it
// is read again.
func TestTailer_CopyOfAllThatWasReadOfAFileOpenedEmpty(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "")
	recv := startManual(t, testConfig(path))
	a := padded(numbered("a", 0, 20), 600)
	appendTo(t, path, joinLines(a))
	got := recvUntil(recv, a[len(a)-2]) // the last one read, held on its send
	raw, err := os.ReadFile(path)
	must(t, err)
	writeFile(t, path+".1", string(raw))
	must(t, os.Truncate(path, 0))
	got = append(got, recv())
	appendTo(t, path, "END\n")
	got = append(got, recvUntil(recv, "END")...)
	wantTexts(t, linesOf(got), cat(a, []string{"END"}))
}

// TestTailer_CopyOfAllThatWasReadAfterARotation is the same after the
// file at the path replaced a rotated generation (read and retired), which
// the copytruncate shifts one name up: the copy takes its name.
func TestTailer_CopyOfAllThatWasReadAfterARotation(t *testing.T) {
	path := logPath(t)
	a := numbered("a", 0, 3)
	writeFile(t, path, joinLines(a))
	recv := startManual(t, testConfig(path))
	got := recvUntil(recv, a[len(a)-1])
	rename(t, path, path+".1")
	writeFile(t, path, "")
	x := padded(numbered("x", 0, 20), 600)
	first := joinLines(x[:2])
	appendTo(t, path, first[:len(first)-300]) // a line left partial
	appendTo(t, path, first[len(first)-300:]+joinLines(x[2:]))
	got = append(got, recvUntil(recv, x[len(x)-2])...) // the last one held on its send
	raw, err := os.ReadFile(path)
	must(t, err)
	rename(t, path+".1", path+".2")
	writeFile(t, path+".1", string(raw))
	must(t, os.Truncate(path, 0))
	got = append(got, recv())
	appendTo(t, path, "END\n")
	got = append(got, recvUntil(recv, "END")...)
	wantTexts(t, linesOf(got), cat(a, x, []string{"END"}))
}

// TestTailer_CopyTruncatedBetweenTheReadAndItsCheck: the first data of a
// file opened empty is read, and the file is copied and truncated before
// its first bytes are read to check the data (the tailer stopped by
// SIGSTOP in between): the lines read are handed out once, and the copy
// is known as a copy of them, so nothing of it is read again.
func TestTailer_CopyTruncatedBetweenTheReadAndItsCheck(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "")
	x := padded(numbered("x", 0, 20), 600)
	cfg := testConfig(path)
	cutDuring := cutAfterRead(t, &cfg, func() {
		raw, err := os.ReadFile(path)
		must(t, err)
		writeFile(t, path+".1", string(raw))
		must(t, os.Truncate(path, 0))
	})
	h := startTailer(t, cfg, nil)
	h.waitLog("tailing")
	cutDuring(func() { appendTo(t, path, joinLines(x)) })
	appendTo(t, path, "END\n")
	got := h.waitText("END")
	wantTexts(t, linesOf(got), cat(x, []string{"END"}))
}

// TestTailer_CopyTruncatedAfterAReadOfPartOfAnAppend is
// TestTailer_CopyTruncatedBetweenTheReadAndItsCheck when the read saw only
// the first bytes of the append (an append is not atomic for a reader):
// the rest was written after the read, and the copy holds all of it.
// Every line is handed out once, in order, and then the line written to
// the file after the truncation.
func TestTailer_CopyTruncatedAfterAReadOfPartOfAnAppend(t *testing.T) {
	x := padded(numbered("x", 0, 20), 600)
	all := joinLines(x)
	for _, seen := range []int{1, HeadSize - 1, HeadSize, HeadSize + 1, len(x[0]), len(x[0]) + 1, 4000} {
		t.Run(fmt.Sprint(seen), func(t *testing.T) {
			path := logPath(t)
			writeFile(t, path, "")
			cfg := testConfig(path)
			cutDuring := cutAfterRead(t, &cfg, func() {
				appendTo(t, path, all[seen:]) // the rest of the append, after the read
				raw, err := os.ReadFile(path)
				must(t, err)
				writeFile(t, path+".1", string(raw))
				must(t, os.Truncate(path, 0))
			})
			h := startTailer(t, cfg, nil)
			h.waitLog("tailing")
			cutDuring(func() { appendTo(t, path, all[:seen]) })
			appendTo(t, path, "END\n")
			got := h.waitText("END")
			wantTexts(t, linesOf(got), cat(x, []string{"END"}))
		})
	}
}

// TestTailer_RewrittenFoundByARead_CopyFirst: a read finds the file's
// first bytes changed (copied, truncated and written again between the
// read of data and the check of the head): the rest of the old content is
// read from the copy before any line of the new content.
func TestTailer_RewrittenFoundByARead_CopyFirst(t *testing.T) {
	path := logPath(t)
	a, b := padded(numbered("a", 0, 10), 300), padded(numbered("b", 0, 20), 300)
	writeFile(t, path, joinLines(a[:5]))
	cfg := testConfig(path)
	cutDuring := cutAfterRead(t, &cfg, func() {
		raw, err := os.ReadFile(path)
		must(t, err)
		writeFile(t, path+".1", string(raw)) // a whole
		writeFile(t, path, joinLines(b))     // truncated and written again
	})
	h := startTailer(t, cfg, nil)
	h.waitN(5)
	cutDuring(func() { appendTo(t, path, joinLines(a[5:])) })
	appendTo(t, path, "END\n")
	got := h.waitText("END")
	wantTexts(t, linesOf(got), cat(a, b, []string{"END"}))
}

// TestTailer_CopyOfAnEpochNeverSeen_ReadFirst: the file at the path was
// written, copied and truncated, and written again, all between two looks
// and before a byte of it was read. The copy holds the older lines: it is
// read before the file's new ones, in the order they were written.
func TestTailer_CopyOfAnEpochNeverSeen_ReadFirst(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "")
	a, b := numbered("a", 0, 4), numbered("b", 0, 4)
	var armed atomic.Bool
	cfg := testConfig(path)
	cfg.checked = func(string) {
		if armed.CompareAndSwap(true, false) {
			writeFile(t, path, joinLines(a))
			writeFile(t, path+".1", joinLines(a)) // the copy
			writeFile(t, path, joinLines(b)+"END\n")
		}
	}
	h := startTailer(t, cfg, nil)
	h.waitLog("tailing")
	armed.Store(true)
	got := h.waitText("END")
	wantTexts(t, linesOf(got), cat(a, b, []string{"END"}))
}

// cutAfterRead makes cfg's afterRead hook run cut (a copytruncate or a
// rewrite) once, between the first read of data after it is armed and the
// check of that data, and returns cutDuring: cutDuring(write) arms the
// hook, runs write (the append whose read fires it) and returns once cut
// is over. The hook waits for write to return before it cuts: an append
// is not atomic for a reader, which may see only part of it, and a cut
// then would copy that part and truncate the rest away, in neither file.
// cutDuring returns when the cut is over, not when it begins: a line the
// test appends before that would land between the copy and the
// truncation, in neither file either. No reader can deliver such lines:
// the test would lose them itself.
func cutAfterRead(t *testing.T, cfg *Config, cut func()) (cutDuring func(write func())) {
	var armed atomic.Bool
	written, done := make(chan struct{}), make(chan struct{})
	cfg.afterRead = func() {
		if !armed.CompareAndSwap(true, false) {
			return
		}
		select {
		case <-written:
		case <-time.After(waitLimit): // the test failed in write
		}
		cut()
		close(done)
	}
	return func(write func()) {
		t.Helper()
		armed.Store(true)
		func() {
			defer close(written)
			write()
		}()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Fatal("gave up waiting for the cut")
		}
	}
}

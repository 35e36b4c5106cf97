package tailer

// Second outside review: attacks on resume after the saved generation is
// gone (placeAfterDeleted, newerSiblings, Position.Read, the fresh-start
// marker), on copytruncate copies (copyOf, unseenCopies) and on hard links.
// Each test states the guarantee it expects; a failure is a finding.

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// countText counts the lines whose text is s.
func countText(lines []Line, s string) int {
	n := 0
	for _, l := range lines {
		if l.Gap == nil && string(l.Text) == s {
			n++
		}
	}
	return n
}

// noDuplicates fails if a line (by generation and offset) comes twice.
func noDuplicates(t *testing.T, lines []Line) {
	t.Helper()
	type key struct {
		dev, ino uint64
		off      int64
	}
	seen := map[key]string{}
	for _, l := range linesOf(lines) {
		k := key{l.Dev, l.Ino, l.Offset}
		if prev, ok := seen[k]; ok {
			t.Fatalf("the same bytes handed out twice: %q at %d/%d offset %d (first as %q); lines %q",
				l.Text, l.Dev, l.Ino, l.Offset, prev, texts(linesOf(lines)))
		}
		seen[k] = string(l.Text)
	}
}

// shiftRotate does a logrotate-style rotation of path keeping every
// generation: .N -> .N+1 ... .1 -> .2, path -> .1, then a new path holding
// text.
func shiftRotate(t *testing.T, path string, kept int, text string) {
	t.Helper()
	for k := kept; k >= 1; k-- {
		if _, err := os.Stat(path + "." + itoa2(k)); err == nil {
			rename(t, path+"."+itoa2(k), path+"."+itoa2(k+1))
		}
	}
	rename(t, path, path+".1")
	writeFile(t, path, text)
}

func itoa2(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

// readElevenGenerations leaves beside path ten rotated generations
// ("g00".."g09", .10 oldest) and "g10" at the path, all read by a
// tailer, and returns the position committed after the last line.
// setTimes is given the paths of the eleven generations before they are
// read, to forge the times a coarse clock or a clock stepped back gives.
func readElevenGenerations(t *testing.T, path string, setTimes func(rotated []string, cur string)) Position {
	t.Helper()
	writeFile(t, path, joinLines(numbered("g00", 0, 2)))
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitText("g00-00001")[1].Next
	h.stop()
	for i := 1; i <= 10; i++ {
		text := joinLines(numbered(fmt.Sprintf("g%02d", i), 0, 2))
		if i == 10 {
			text += "END1\n"
		}
		shiftRotate(t, path, i, text)
	}
	var rotated []string
	for k := 10; k >= 1; k-- {
		rotated = append(rotated, path+"."+itoa2(k))
	}
	setTimes(rotated, path)
	h = startTailer(t, testConfig(path), &saved)
	got := h.waitText("END1")
	h.stop()
	noDuplicates(t, got)
	if n := len(linesOf(got)); n != 9*2+2+1 {
		t.Fatalf("setup: read %d lines, want 21: %q", n, texts(linesOf(got)))
	}
	return got[len(got)-1].Next
}

// TestAttack2_ReadHistoryOverflow: Position.Read holds the generations
// read that are still on disk (it once held only the last eight). When more than eight were read and they carry times
// at or after the saved generation's (a 1-s timestamp filesystem and a
// burst of size-based rotations; a clock stepped back by NTP after they
// were written), a restart that finds the saved generation gone (row 26)
// or rotated (row 5) takes the generations read more than eight ago for
// newer ones and reads them again from 0: the same bytes of the same
// generations handed out twice.
func TestAttack2_ReadHistoryOverflow(t *testing.T) {
	tie := func(rotated []string, cur string) {
		ts := time.Now().Add(-time.Hour).Truncate(time.Second)
		for _, p := range append(rotated, cur) {
			must(t, os.Chtimes(p, ts, ts))
		}
	}
	clockBack := func(rotated []string, cur string) {
		// Written while the clock was an hour ahead; the clock was then
		// stepped back and the newest one written.
		for i, p := range rotated {
			ts := time.Now().Add(time.Hour + time.Duration(i)*time.Second)
			must(t, os.Chtimes(p, ts, ts))
		}
	}
	for _, tc := range []struct {
		name     string
		setTimes func([]string, string)
		rotate   bool // rotated while stopped (row 5) rather than deleted (row 26)
	}{
		{"tied times, deleted", tie, false},
		{"clock stepped back, deleted", clockBack, false},
		{"clock stepped back, rotated", clockBack, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := logPath(t)
			saved := readElevenGenerations(t, path, tc.setTimes)
			if len(saved.Read) < 10 {
				t.Fatalf("saved.Read has %d entries, want every generation read that is still on disk", len(saved.Read))
			}
			if tc.rotate {
				rename(t, path, path+"-20261207") // any rotation
			} else {
				must(t, os.Remove(path)) // deleted and recreated (row 9), or compressed at once
			}
			writeFile(t, path, "NEW\n")
			h := startTailer(t, testConfig(path), &saved)
			h.waitText("NEW")
			h.waitChecks(3) // none finds anything more to read
			got := h.stop()
			for _, l := range linesOf(got) {
				if strings.HasPrefix(string(l.Text), "g0") {
					t.Fatalf("a generation read before the restart was read again: %q", texts(linesOf(got)))
				}
			}
		})
	}
}

// TestAttack2_FreshMarkerLosesGenerationRotatedWhileStopped: the saved
// generation is deleted while stopped and nothing is left to read: the gap
// moves the position to the fresh-start marker Position{Path}. While the
// sidecar is stopped again, the agent creates its log, writes it and
// rotates it. The next start reads only the file at the path: the rotated
// generation, written after the gap, is lost without a gap record.
func TestAttack2_FreshMarkerLosesGenerationRotatedWhileStopped(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "a-0\na-1\n")
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitText("a-1")[1].Next
	h.stop()
	must(t, os.Remove(path))
	h = startTailer(t, testConfig(path), &saved)
	got := h.waitFor("the gap", func(l []Line) bool { return len(gapsOf(l)) > 0 })
	h.stop()
	marker := gapsOf(got)[0].Next
	if marker.Dev != 0 || marker.Ino != 0 {
		t.Fatalf("setup: gap.Next %+v is not the fresh-start marker", marker)
	}
	// Stopped again (a crash loop): the agent starts writing and rotates.
	writeFile(t, path, "b-0\nb-1\n")
	rename(t, path, path+".1")
	writeFile(t, path, "c-0\nEND\n")
	h = startTailer(t, testConfig(path), &marker)
	got = h.waitText("END")
	h.stop()
	if countText(got, "b-0") == 0 && len(gapsOf(got)) == 0 {
		t.Fatalf("generation written after the gap and rotated while stopped neither read nor in a gap: %q", texts(got))
	}
	wantTexts(t, linesOf(got), []string{"b-0", "b-1", "c-0", "END"})
}

// TestAttack2_CopyOfTakesAGenerationWithTheSameShortHead: the agent
// begins every file with the same header line ("HDR"). The sidecar saw
// only that line of the saved generation (an idle agent): its fingerprint
// covers those 4 bytes. While stopped the saved generation got more lines
// and was rotated twice and deleted (rotate 1). Any newer generation
// starts with the same 4 bytes and holds more, so copyOf takes it for a
// copytruncate copy: it is read from offset 4 (its header line silently
// skipped), and no gap records the unread rest of the deleted one.
func TestAttack2_CopyOfTakesAGenerationWithTheSameShortHead(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "HDR\n")
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitText("HDR")[0].Next
	h.stop()
	appendTo(t, path, "a-0\na-1\n") // never read
	rename(t, path, path+".1")
	writeFile(t, path, "HDR\nb-0\n")
	rename(t, path+".1", path+".2")
	rename(t, path, path+".1")
	writeFile(t, path, "HDR\nc-0\nEND\n")
	must(t, os.Remove(path+".2")) // rotate 1: the saved generation is gone
	h = startTailer(t, testConfig(path), &saved)
	h.waitText("END")
	h.waitChecks(3) // none finds anything more to read
	got := h.stop()
	if len(gapsOf(got)) == 0 {
		t.Errorf("a-0, a-1 of the deleted generation lost without a gap record; got %q", texts(got))
	}
	wantTexts(t, linesOf(got), []string{"HDR", "b-0", "HDR", "c-0", "END"})
}

// TestAttack2_UnseenCopiesTakesAnOldGenerationPutBack: the log is empty
// after a rotation (an idle agent). An operator decompresses an old
// generation beside it ("gunzip -k agent.log.2.gz", which keeps its old
// time), here a copy of the generation just read. unseenCopies takes it
// for a copytruncate copy of the empty file and reads it whole: lines
// read before are handed out again. (The same file put back while the log
// holds a byte is never read.)
func TestAttack2_UnseenCopiesTakesAnOldGenerationPutBack(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "a-0\na-1\n")
	cfg := testConfig(path)
	h := startTailer(t, cfg, nil)
	h.waitText("a-1")
	rename(t, path, path+".1")
	writeFile(t, path, "")
	h.waitLog("finished rotated file")
	raw, err := os.ReadFile(path + ".1")
	must(t, err)
	writeFile(t, path+".tmp", string(raw)) // decompressed: the old bytes, the old time
	setMtime(t, path+".tmp", 2*time.Hour)
	rename(t, path+".tmp", path+".2") // put in place whole (cp -p, then mv)
	h.waitChecks(3)                   // each looks at it while the log is empty
	appendTo(t, path, "b-0\nEND\n")
	got := h.waitText("END")
	wantTexts(t, linesOf(got), []string{"a-0", "a-1", "b-0", "END"})
}

// TestAttack2_HardLinkOfTheSavedGeneration: while stopped the log is
// rotated and the agent links the rotated generation under a second
// rotated name. The resume finds the saved generation under one name and
// reads the other name, the same inode, again from 0.
func TestAttack2_HardLinkOfTheSavedGeneration(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("a", 0, 4)))
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitN(4)[1].Next
	h.stop()
	rename(t, path, path+".1")
	must(t, os.Link(path+".1", path+".2"))
	writeFile(t, path, "b-0\nEND\n")
	h = startTailer(t, testConfig(path), &saved)
	h.waitText("END")
	h.waitChecks(3) // none finds anything more to read
	got := h.stop()
	noDuplicates(t, got)
	wantTexts(t, linesOf(got), cat(numbered("a", 2, 2), []string{"b-0", "END"}))
}

// TestAttack2_HardLinkOfANewerGenerationAfterDelete: the saved generation
// is deleted while stopped; a newer one is on disk under two rotated
// names (one inode). newerSiblings queues it once per name.
func TestAttack2_HardLinkOfANewerGenerationAfterDelete(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("a", 0, 3)))
	h := startTailer(t, testConfig(path), nil)
	saved := h.waitN(3)[2].Next
	h.stop()
	writeFile(t, path+".1", "b-0\nb-1\n")
	must(t, os.Link(path+".1", path+".2"))
	must(t, os.Remove(path))
	writeFile(t, path, "END\n")
	h = startTailer(t, testConfig(path), &saved)
	h.waitText("END")
	h.waitChecks(3) // none finds anything more to read
	got := h.stop()
	noDuplicates(t, got)
	wantTexts(t, linesOf(got), []string{"b-0", "b-1", "END"})
}

// TestAttack2_HardLinkOfAGenerationRotatedBetweenChecks: a generation
// born and rotated away while the tailer is blocked on a send, present
// under two rotated names: unseenSiblings opens it once per name.
func TestAttack2_HardLinkOfAGenerationRotatedBetweenChecks(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, joinLines(numbered("a", 0, 5)))
	recv := startManual(t, testConfig(path))
	var got []Line
	got = append(got, recv()) // the tailer now blocks sending a-00001
	rename(t, path, path+".1")
	setMtime(t, path+".1", 2*time.Hour)
	writeFile(t, path, "x-0\n")
	setMtime(t, path, time.Hour)
	rename(t, path+".1", path+".2")
	rename(t, path, path+".1")
	must(t, os.Link(path+".1", path+".3"))
	writeFile(t, path, "y-0\nEND\n")
	got = append(got, recvUntil(recv, "END")...)
	// Anything more queued would come before a line written last.
	appendTo(t, path, "END2\n")
	got = append(got, recvUntil(recv, "END2")...)
	wantTexts(t, linesOf(got), cat(numbered("a", 0, 5), []string{"x-0", "y-0", "END", "END2"}))
}

// TestAttack2_EmptySavedGenerationInodeReusedBySibling: the saved
// position names a generation of which no byte was seen (a gap's Next:
// offset 0, no fingerprint). While stopped it was rotated and deleted
// (rotate 1) and its inode number went to a later generation, itself
// rotated away since: a sibling now holds the saved inode number. Only the
// path is distrusted; the sibling is taken for the saved generation by
// its inode number alone, and the generation between them (newer than the
// saved one, modified after it was seen, older than the sibling) is lost
// without a gap. (The inode reuse is forged in the position: ext4 hands
// a freed number to the next file created in the folder.)
func TestAttack2_EmptySavedGenerationInodeReusedBySibling(t *testing.T) {
	path := logPath(t)
	writeFile(t, path+".2", "f-0\nf-1\n") // F: rotated after the saved one
	setMtime(t, path+".2", 30*time.Minute)
	writeFile(t, path+".1", "g-0\n") // G: holds the saved inode number now
	setMtime(t, path+".1", 10*time.Minute)
	writeFile(t, path, "h-0\nEND\n")
	fi, err := os.Stat(path + ".1")
	must(t, err)
	dev, ino, err := devIno(fi)
	must(t, err)
	saved := Position{Path: path, Dev: dev, Ino: ino, MTime: time.Now().Add(-time.Hour).UnixNano()}
	h := startTailer(t, testConfig(path), &saved)
	h.waitText("END")
	h.waitChecks(3) // none finds anything more to read
	got := h.stop()
	if countText(got, "f-0") == 0 && len(gapsOf(got)) == 0 {
		t.Fatalf("generation modified after the saved one neither read nor in a gap: %q", texts(got))
	}
	wantTexts(t, linesOf(got), []string{"f-0", "f-1", "g-0", "h-0", "END"})
}

// TestAttack2_FalseGapForAGenerationReadToItsEnd: an idle agent's log is
// rotated (the generation read to its end and finished, the new one
// empty); the last committed position is still the last line of the
// finished generation (no line came after it to carry Read), unless the
// tailer hands out a move of the position (Line.Advance). While the
// sidecar is stopped, two more rotations with rotate 1 delete it: the
// start records "generation deleted unread" although every byte of it was
// read. (A false alarm in the audit chain, not a loss.)
func TestAttack2_FalseGapForAGenerationReadToItsEnd(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "a-0\na-1\n")
	h := startTailer(t, testConfig(path), nil)
	h.waitText("a-1")
	rename(t, path, path+".1")
	writeFile(t, path, "")
	h.waitLog("finished rotated file")
	saved := h.lastAdvance().Next // the finished generation is left behind
	h.stop()
	if saved.Ino == 0 || saved.Offset != 0 {
		t.Fatalf("position after the finished generation %+v, want offset 0 of the new one", saved)
	}
	// rotate 1, twice, of empty files (ifempty is logrotate's default).
	must(t, os.Remove(path+".1"))
	rename(t, path, path+".1")
	writeFile(t, path, "")
	must(t, os.Remove(path+".1"))
	rename(t, path, path+".1")
	writeFile(t, path, "END\n")
	h = startTailer(t, testConfig(path), &saved)
	got := h.waitText("END")
	got = h.stop()
	if g := gapsOf(got); len(g) > 0 {
		t.Fatalf("gap recorded for a generation read to its end and finished: %+v", g[0].Gap)
	}
}

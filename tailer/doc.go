// Package tailer reads the complete lines of an append-only log file, across
// rotations and restarts, and says for every line exactly where it came
// from, so that the caller can persist a position and resume with neither
// loss nor duplication.
//
// # Generations and positions
//
// A path names a sequence of file generations. A generation is one file
// (a FileID: device and inode, plus Head, a SHA-256 of its first up to
// HeadSize bytes, which tells a reused inode or a file rewritten in place
// from the one read before; two generations that share an inode number
// and their first HeadSize bytes cannot be told apart). Every Line carries
// its generation, the byte
// offset of its first byte, and Next: the Position just past its "\n".
// The caller persists Next once the line is durably handled (in the same
// transaction as what it made of the line) and passes the last persisted
// Position to New on the next start.
//
// The tailer reads files itself, with positioned reads on an open
// descriptor, and uses fsnotify on the path's directory only to wake up
// early; a poll ticker (Config.Poll) is the safety net when notifications
// overflow or are unavailable. Nothing depends on a notification arriving.
//
// # What is guaranteed
//
//   - Only complete lines are handed out; a partial last line waits for its
//     "\n", however many writes it takes. Lines come in file order, with
//     exact byte offsets ("\r" of CRLF is kept in Text and counted).
//   - Sends block until the receiver takes the line: nothing is dropped.
//   - A line longer than Config.MaxLineBytes is handed out once, cut, with
//     Truncated, FullLen and FullSHA256 of the whole line; the rest is
//     skipped while streaming, so memory stays bounded.
//   - Rename-and-create rotation (and delete-and-create) while running: the
//     old generation stays open and is read to its end; it keeps being read
//     for Config.RotateDrain after the rotation is noticed, for writers that
//     still append to their old descriptor; then the next generation is
//     read from offset 0. Generations are read strictly one after the other,
//     never interleaved, so a single Position always describes everything
//     handed out so far. The price is latency: after a rotation, lines of
//     the new file wait up to RotateDrain (default 5s).
//   - Generations born and rotated away between two checks (bursts of
//     rotations) are found among the siblings and read in between. Siblings
//     present at start, or seen at a check while the path had not rotated
//     (older rotations, copytruncate copies), are never taken for new ones.
//   - Resume: if the generation at the path is the saved one, reading goes
//     on at the saved offset. If it rotated while the tailer was stopped, it
//     is looked for among the siblings (files in the same directory named
//     as Config.Rotated says: by default logrotate's "agent.log.1" and
//     "agent.log-20261126", the kubelet's "0.log.20261126-101500",
//     Python's "agent.log.2026-11-26"; nothing else beside the log, such
//     as "agent.log.pii" or ".swp", is ever read); if found, its rest is
//     read, then the siblings newer than it, oldest first, then the file
//     at the path from 0. Each of these is finished at its end once the
//     next one holds data (the writer has moved on), else after
//     RotateDrain, so that a sidecar restarted every few seconds still
//     makes progress.
//   - If the saved generation is gone (deleted, or compressed, while the
//     tailer was stopped), its unread rest is reported as a Gap
//     (GapDeleted, To -1: its size is unknown) and every sibling modified
//     after it was last looked at is read, oldest first, then the path.
//   - A rotated generation that ends in a line without its "\n" is
//     reported as a Gap (GapUnterminated) when it is finished.
//   - Only regular files are read, opened without blocking (a FIFO or a
//     device at the path cannot hang the tailer), that resolve into
//     Config.AllowedDirs (default the path's folder) and are not one of
//     Config.Deny (the sidecar's own files, also through a hard link).
//     Anything else is refused: reported once as a Gap (a Refused*
//     reason), counted, and waited on as if the path were missing; a
//     symlink's target outside the allowed folders has its siblings left
//     unlisted too.
//   - A generation shorter than the offset reached, or whose first bytes
//     changed, was truncated: it is read again from 0, with a warning. The
//     first bytes are checked after every read and before its lines are
//     handed out, so a file rewritten in place is never read on from the
//     old offset. Every open generation is checked at every look, also
//     one queued behind the one being read, so that a copytruncate before
//     it is read has its copy read first; a copy that appears beside a
//     generation of which no byte was seen yet (the tailer was stopped by
//     SIGSTOP meanwhile) is read before it.
//   - Every Position carries the last generations read to their end
//     (Position.Read, MaxReadHistory), copies of no more than was read
//     among them: after a restart, none of them is taken for a new
//     generation, whatever its name and time say.
//
// # What is not guaranteed
//
//   - Lines appended to a rotated generation more than RotateDrain after
//     the rotation was noticed, or, for one rotated while stopped, after
//     the next generation was written to, are not read.
//   - copytruncate rotation races with the writer: what the writer appends
//     between the copy and the truncation is in the copy only, which the
//     tailer does not read (it cannot know which part of the copy it has
//     read). A file truncated and regrown past the old offset with the same
//     first bytes between two reads cannot be told from a grown one. A file
//     truncated to a non-empty prefix (not what copytruncate does) is read
//     again from 0, so the lines that survived come twice.
//   - Compressed siblings (.gz, .bz2, .xz, .zst, ...) are not read: a
//     saved generation that exists only compressed is a gap, as above.
//   - Ordering siblings while stopped relies on modification times (ties
//     broken by name: "name.2" is older than "name.1"). A writer that kept
//     appending to an old generation after a newer one was last written can
//     make the newer one look older, and it is then not read.
//   - A generation still unread when the tailer stops and deleted before
//     it starts again is lost (a Gap says so): nobody can read it then.
//   - A copytruncate copy of bytes the tailer never saw (the file was
//     copied, truncated and written again between two looks, before a byte
//     of it was read) is read before the file's new lines when the path
//     still holds the file at their first read. When it does not (the file
//     was also rotated away meanwhile, and a sibling new since can then be
//     a newer generation as well as a copy), the copy is read when it is
//     found: after the file's new lines, out of the order they were
//     written in, but once and not lost. Such a copy looks
//     older than the file it was taken from, so a restart placing
//     generations by time would pass over it: every position carries the
//     generations queued after its own (Position.Queued), and a restart
//     reads those first, in that order. One found just before a kill, or
//     not found at all, is known at the next start by its time: modified
//     after the generation the position is in was opened (Position.Opened)
//     and neither read before, queued, nor a copy of what that generation
//     begins with. A copy of read bytes shorter than the fingerprint,
//     taken of a generation that is gone at the start, cannot be told
//     from one of bytes never read: it is read again.
//   - Siblings are looked for (after a restart, or for rotations between
//     two checks) beside the file the path resolves to, under that file's
//     name. A generation renamed to another directory, or to a name not
//     starting with the base name, is read only if the tailer already holds
//     it open, i.e. when it was rotated away while the tailer was running.
//   - Notifications come from the path's own directory; with a symlinked
//     path, changes beside the target are seen by polling only.
//   - The policy is checked on the descriptor opened (its kernel path and
//     identity), so a name swapped between the check and the open is
//     caught; a file is still opened once before a swapped-in FIFO or
//     device could be refused by its type only if the swap happens between
//     the stat and the open (opened without blocking, then refused).
//
// # Use
//
//	t, err := tailer.New(tailer.Config{Path: "/var/log/agent/events.jsonl"}, saved)
//	if err != nil {
//		return err
//	}
//	lines := make(chan tailer.Line)
//	errc := make(chan error, 1)
//	go func() { errc <- t.Run(ctx, lines) }()
//	for {
//		select {
//		case l := <-lines:
//			handle(l) // and persist l.Next together with what was made of l
//		case err := <-errc:
//			return err
//		}
//	}
package tailer

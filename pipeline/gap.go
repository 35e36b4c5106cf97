package pipeline

import (
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// gapNotes say, per tailer gap reason, what a gap record means.
var gapNotes = map[string]string{
	tailer.GapTruncated:      "bytes from..to were written to the file but could be neither read nor found in a copy before it was truncated; more may have been written and lost after to",
	tailer.GapCopied:         "bytes from..to were written to the file after the copy that copytruncate made and before the truncation; more may have been written and lost after to",
	tailer.GapDeleted:        "the generation was deleted or compressed before it was read past from; how much it held after from is unknown (to is -1)",
	tailer.GapUnterminated:   "the generation ended in bytes from..to without a final newline when it was finished: an incomplete last line",
	tailer.GapUnreadable:     "the rotated generation could not be opened; how much it held is unknown (to is -1)",
	tailer.RefusedOutside:    "the path resolved outside source.allowed_dirs (a symbolic link): the file it names was not read",
	tailer.RefusedOwnFile:    "the path named one of the sidecar's own files (keys, tokens, spool, sinks, config): it was not read",
	tailer.RefusedTooMany:    "more files beside the source were refused than the sidecar remembers: those after this one are logged and counted, not recorded one by one",
	tailer.RefusedNotRegular: "the path named something other than a regular file (a FIFO, a device, a socket, a folder): it was not read",
}

// gap records a part of the source that is not read: chained, so that the
// audit trail says so. The position moves past it when the tailer says
// where reading goes on, unless container-log fragments before it are
// still held (they would be lost by a crash).
func (in *Ingester) gap(l tailer.Line) {
	d := map[string]any{"reason": "source " + l.Gap.Reason, "file": l.Path, "dev": l.Dev, "ino": l.Ino}
	if l.Gap.Refusal() {
		d["target"] = l.Gap.Target
	} else {
		d["from"], d["to"] = l.Gap.From, l.Gap.To
	}
	if n, ok := gapNotes[l.Gap.Reason]; ok {
		d["note"] = n
	}
	in.addOwn(record.ActionGap, d)
	in.moveOn(l)
}

// moveOn moves the position to where the tailer says reading goes on
// after l (a gap, or a generation finished), unless container-log
// fragments read before it are still held: a crash would lose them.
func (in *Ingester) moveOn(l tailer.Line) {
	if l.Next.IsZero() {
		return
	}
	if fs := in.files[l.Watch]; fs != nil && (len(fs.held) > 0 || fs.env != nil && fs.env.Pending()) {
		return
	}
	in.pos.advance(l.Watch, l.Next)
}

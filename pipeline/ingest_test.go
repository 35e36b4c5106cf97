package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/envelope"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// With an envelope, the committed position never passes a fragment whose
// message is incomplete; a message that never completes is recorded as
// received once maxHeldLines lines (its own first fragment's included)
// have passed, and only then does the position move on.
func TestIngest_EnvelopeHoldsPositionWhileAMessageIsIncomplete(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, Envelope: envelope.CRI})
	if err != nil {
		t.Fatal(err)
	}
	cri := func(stream, tag, text string) string {
		return "2026-11-27T10:00:00Z " + stream + " " + tag + " " + text
	}
	in.handle(line(0, cri("stdout", "F", `{"action":"decision","n":0}`)))
	if !in.pos.hasSingle || in.pos.single.Offset != 100 || len(in.batch) != 1 {
		t.Fatalf("after a whole line: pos %+v, %d records", in.pos.single, len(in.batch))
	}
	in.handle(line(1, cri("stdout", "P", `{"action":"deci`)))
	for n := 2; n <= maxHeldLines; n++ { // the fragment's line and maxHeldLines-1 more
		in.handle(line(n, cri("stderr", "F", fmt.Sprintf(`{"action":"error","n":%d}`, n))))
		if in.pos.single.Offset != 100 || len(in.batch) != 1 {
			t.Fatalf("line %d: position moved to %d with a message pending (%d records)", n, in.pos.single.Offset, len(in.batch))
		}
	}
	// One more line: the stuck message is recorded as received, then all
	// that was held, in order; the position moves past everything.
	last := maxHeldLines + 1
	in.handle(line(last, cri("stderr", "F", `{"action":"error"}`)))
	if in.pos.single.Offset != int64(last*100+100) {
		t.Errorf("position %d, want %d", in.pos.single.Offset, last*100+100)
	}
	if want := maxHeldLines + 2; len(in.batch) != want {
		t.Fatalf("%d records, want %d", len(in.batch), want)
	}
	var parseErrors int
	for _, s := range in.batch {
		r, _ := record.Parse(s.Payload)
		if r.Action == record.ActionParseError {
			parseErrors++
			if r.Source == nil || r.Source.Offset != 100 {
				t.Errorf("the incomplete message's record points at %+v, want the fragment's offset 100", r.Source)
			}
		}
	}
	if parseErrors != 1 {
		t.Errorf("%d parse_error records, want 1 (the incomplete message)", parseErrors)
	}
}

// A gap from the tailer becomes a chained gap record naming the file and
// the byte range; the committed position does not move for it.
func TestIngest_GapBecomesARecord(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}})
	if err != nil {
		t.Fatal(err)
	}
	in.handle(tailer.Line{Path: "/log", Dev: 1, Ino: 2, Offset: 800, Gap: &tailer.Gap{From: 800, To: 1000, Reason: "copied and truncated"}})
	if in.pos.hasSingle || len(in.batch) != 1 {
		t.Fatalf("pos %v, %d records", in.pos.single, len(in.batch))
	}
	r, err := record.Parse(in.batch[0].Payload)
	if err != nil || r.Action != record.ActionGap {
		t.Fatalf("record %v, %v", r, err)
	}
	var d struct {
		Reason   string `json:"reason"`
		File     string `json:"file"`
		From, To int64
	}
	if err := json.Unmarshal(r.Detail, &d); err != nil || d.Reason != "source copied and truncated" || d.File != "/log" || d.From != 800 || d.To != 1000 {
		t.Errorf("gap detail %s", r.Detail)
	}
}

// Huge records commit early: a batch is committed at maxBatchBytes of
// payload, not only at BatchRecords or BatchWait.
func TestIngest_CommitsLargeBatchesEarly(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, BatchRecords: 1000, BatchWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan tailer.Line)
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, lines) }()
	big := `{"action":"tool_result","detail":{"body":"` + strings.Repeat("y", 1<<20) + `"}}`
	for n := range 18 {
		lines <- line(n, big)
	}
	// Run took line 17 (the send returned) after handling line 16, whose
	// record brought the batch to maxBatchBytes: that batch is committed.
	head := sp.State().HeadSeq
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if head < 18 { // chain_start, sidecar_start and 16 lines
		t.Errorf("spool head %d after 17 lines of 1 MiB: no early commit", head)
	}
}

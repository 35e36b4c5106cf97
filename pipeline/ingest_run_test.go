package pipeline

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// A closed lines channel is the end of the source: the run ends as at a
// shutdown, with sidecar_stop. (It was read as an endless stream of
// empty lines: parse_error records sealed in a loop, each committing a
// zero source position.)
func TestIngest_ClosedLinesEndTheRun(t *testing.T) {
	sp := newSpool(t)
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, BatchRecords: 1, BatchWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan tailer.Line, 1)
	lines <- line(0, `{"action":"decision"}`)
	close(lines)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, lines) }()
	// Either Run returns, or records of lines never read reach the spool.
	for {
		changed := sp.Changed()
		if head := sp.State().HeadSeq; head > 4 {
			cancel()
			<-done
			t.Fatalf("the spool holds %d records after one line and a closed channel", head)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			var stop struct {
				Reason string `json:"reason"`
				Lines  int    `json:"lines_this_run"`
			}
			for _, s := range spooled(t, sp) {
				r, err := record.Parse(s.Payload)
				if err != nil {
					t.Fatal(err)
				}
				actions = append(actions, r.Action)
				if r.Action == record.ActionSidecarStop {
					json.Unmarshal(r.Detail, &stop)
				}
			}
			if len(actions) != 4 || actions[2] != "decision" || actions[3] != "sidecar_stop" || stop.Reason != "source closed" || stop.Lines != 1 {
				t.Errorf("records %v, stop %+v", actions, stop)
			}
			if p, err := in.Resume(); err != nil || p == nil || p.Offset != 100 {
				t.Errorf("committed position %+v, %v; want the one after line 0", p, err)
			}
			return
		case <-changed:
		}
	}
}

// A source position the spool holds and no version reads stops the run
// before anything is written (it was dropped: the run started as if the
// source had never been read).
func TestIngest_UnreadablePositionStopsTheRun(t *testing.T) {
	sp := newSpool(t)
	if err := sp.AppendExtra(nil, []byte(`{"path":"/log","offset":"not a number"}`), spool.Extra{}); err != nil {
		t.Fatal(err)
	}
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Resume(); err == nil {
		t.Fatal("Resume read it")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Run(ctx, nil); err == nil {
		t.Fatal("Run went on")
	}
	if head := sp.State().HeadSeq; head != 0 {
		t.Errorf("%d records committed", head)
	}
}

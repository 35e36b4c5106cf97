package pipeline

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

func TestTmpDrainRace(t *testing.T) {
	for it := 0; it < 300; it++ {
		dir := t.TempDir()
		sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sp.Register([]string{"local"})
		red, _ := redact.New(redact.Config{Packs: []string{"core"}})
		in, err := NewIngester(IngestConfig{ChainID: "bench", Key: testKey(t), Spool: sp, Redactor: red, BatchWait: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		d := NewDeliverer("local", sink.Null{}, sp, nil, nil)
		lines := make(chan tailer.Line, 10)
		ingested := make(chan error, 1)
		delivered := make(chan error, 1)
		drain := make(chan struct{})
		go func() { ingested <- in.Run(context.Background(), lines) }()
		go func() { delivered <- d.Run(context.Background(), drain) }()
		lines <- tailer.Line{Text: []byte(`{"action":"decision"}`), Path: "/log", Next: tailer.Position{Path: "/log", Offset: 20}}
		close(lines)
		if err := <-ingested; err != nil {
			t.Fatal(err)
		}
		close(drain)
		if err := <-delivered; err != nil {
			t.Fatal(err)
		}
		if c, _ := sp.Cursor("local"); c != 4 {
			t.Fatalf("iteration %d: delivered through %d of 4 (head %d)", it, c, sp.State().HeadSeq)
		}
		sp.Close()
	}
}

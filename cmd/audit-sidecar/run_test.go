package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/pipeline"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/spool"
)

// Each error of the ingester's start names what is at fault: before, every
// one but a missing head key and epochs turned off read "chain.id".
func TestOpenIngester_NamesWhatIsAtFault(t *testing.T) {
	key := func(id string) chain.Key {
		k, err := chain.NewKey(id, bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	head := []record.Sealed{{Chain: "c", Seq: 1, Payload: []byte(`{}`)}}
	tests := []struct {
		name  string
		spool func(*spool.Spool) error // what the spool holds
		cfg   func(*pipeline.IngestConfig)
		want  string
	}{
		{"the spool holds another chain",
			func(sp *spool.Spool) error { return sp.Append(head, nil) },
			func(c *pipeline.IngestConfig) { c.ChainID = "other" }, "chain.id"},
		{"epochs turned off for a chain that uses them",
			func(sp *spool.Spool) error { return sp.AppendExtra(head, nil, spool.Extra{Epoch: 2}) },
			func(c *pipeline.IngestConfig) { c.Epoch = 0 }, "chain.epoch"},
		{"the key that sealed the head is missing",
			func(sp *spool.Spool) error { return sp.AppendExtra(head, nil, spool.Extra{HeadKid: "old"}) },
			func(c *pipeline.IngestConfig) {}, "chain.previous_key_files"},
		{"the committed source positions cannot be read",
			func(sp *spool.Spool) error { return sp.Append(head, []byte("{not json")) },
			func(c *pipeline.IngestConfig) { c.Multi = true }, "spool.path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if err := tt.spool(sp); err != nil {
				t.Fatal(err)
			}
			cfg := pipeline.IngestConfig{ChainID: "c", Key: key("new"), Spool: sp}
			tt.cfg(&cfg)
			ing, got, err := openIngester(cfg)
			if err == nil || ing != nil {
				t.Fatalf("openIngester succeeded")
			}
			if got != tt.want {
				t.Errorf("error reported under %q, want %q: %v", got, tt.want, err)
			}
		})
	}
}

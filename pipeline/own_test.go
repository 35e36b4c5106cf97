package pipeline

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// TestIngest_OwnRecordsKeepTheirNumbers: a gap record names the device,
// inode and offsets of what was lost. Redacted as agent data, sibling
// numbers such as 65024, 9990001, 873 passed for a split phone number and
// the record lost them; the sidecar's numbers are kept, its strings (a
// file name or link target the agent controls) are still redacted.
func TestIngest_OwnRecordsKeepTheirNumbers(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	red, err := redact.New(redact.Config{Packs: []string{"core", "secrets", "us", "eu", "in", "br"}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: red})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []tailer.Line{
		{Path: "/log/agent.jsonl", Dev: 65024, Ino: 9990001, Offset: 873, Gap: &tailer.Gap{From: 873, To: -1, Reason: tailer.GapDeleted}},
		{Path: "/log/agent.jsonl", Dev: 65024, Ino: 4111111111111111, Offset: 5551234567, Gap: &tailer.Gap{From: 5551234567, To: 5551234999, Reason: tailer.GapTruncated}},
		{Path: "/log/agent.jsonl", Dev: 65024, Ino: 9990053, Gap: &tailer.Gap{Reason: tailer.RefusedOutside, Target: "/home/dana@example.com/secret"}},
	} {
		in.handle(l)
	}
	if len(in.batch) != 3 {
		t.Fatalf("%d records, want 3", len(in.batch))
	}
	for i, s := range in.batch {
		r, err := record.Parse(s.Payload)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(r.Detail))
		dec.UseNumber()
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			t.Fatal(err)
		}
		want := map[int]map[string]string{
			0: {"dev": "65024", "ino": "9990001", "from": "873", "to": "-1"},
			1: {"dev": "65024", "ino": "4111111111111111", "from": "5551234567", "to": "5551234999"},
			2: {"dev": "65024", "ino": "9990053"},
		}[i]
		for k, v := range want {
			if n, ok := d[k].(json.Number); !ok || n.String() != v {
				t.Errorf("record %d: %s = %v, want %s (detail %s)", i, k, d[k], v, r.Detail)
			}
		}
		if i == 2 && (bytes.Contains(r.Detail, []byte("dana@example.com")) || r.Manifest == nil) {
			t.Errorf("the link target's e-mail address is stored, or not in the manifest: %s", r.Detail)
		}
	}
}

// An own record whose detail cannot be encoded is stored saying so, and
// the failure is logged: its detail never vanishes silently (it did when
// json.Marshal failed).
func TestIngest_OwnRecordDetailUnencodable(t *testing.T) {
	sp := newSpool(t)
	core, logs := observer.New(zap.ErrorLevel)
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	in.addOwn(record.ActionGap, map[string]any{"reason": "source deleted", "to": math.Inf(1)})
	r, err := record.Parse(in.batch[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.Detail, []byte(`"detail_unencodable":true`)) {
		t.Errorf("detail %s", r.Detail)
	}
	if logs.FilterMessage("own record detail not encodable").Len() != 1 {
		t.Errorf("logged %v", logs.All())
	}
}

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A spool file damaged while the sidecar was stopped is found at start,
// moved aside, and the chain continues from the sink: a gap record says
// so, no line is lost or stored twice, and the chain still verifies.
func TestE2E_CorruptSpoolAtStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte)
	}{
		// bbolt refuses to open it.
		{"meta pages", func(b []byte) { clear(b[:8192]) }},
		// bbolt opens it and would panic on the damaged pages.
		{"data pages", func(b []byte) {
			for i := 2 * 4096; i < len(b); i++ {
				b[i] ^= 0x5A
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var b strings.Builder
			for n := 0; n < 20; n++ {
				b.WriteString(event(map[string]any{"action": "tool_call", "tool": "search", "n": n}))
			}
			appendLines(t, e.logPath, b.String())
			p := e.start(t)
			db := openDB(t, e.dbPath)
			waitForEvents(t, db, 20, p)
			p.stop(t)

			raw, err := os.ReadFile(e.spoolPath)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(raw)
			if err := os.WriteFile(e.spoolPath, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			b.Reset()
			for n := 20; n < 30; n++ {
				b.WriteString(event(map[string]any{"action": "tool_call", "tool": "search", "n": n}))
			}
			appendLines(t, e.logPath, b.String())

			p = e.start(t)
			waitForEvents(t, db, 30, p)
			p.stop(t)
			requireExactlyOnce(t, db, 30)
			if !strings.Contains(p.stderr(), "spool file is corrupt: moved aside") {
				t.Error("no error line about the corrupt spool")
			}
			aside, _ := filepath.Glob(e.spoolPath + ".corrupt-*")
			if len(aside) != 1 {
				t.Errorf("moved-aside files: %v", aside)
			}
			var detail string
			if err := db.QueryRow(`SELECT json_extract(payload, '$.detail') FROM audit_records WHERE action = 'gap'`).Scan(&detail); err != nil {
				t.Fatalf("gap record: %v", err)
			}
			var gap struct {
				Reason string         `json:"reason"`
				From   int            `json:"continued_from_seq"`
				Heads  map[string]int `json:"sink_heads"`
			}
			if err := json.Unmarshal([]byte(detail), &gap); err != nil || gap.Reason != "spool file corrupt" || gap.From < 22 || gap.Heads["local"] != gap.From {
				t.Errorf("gap detail %s", detail)
			}
			requireValid(t, e.cfgPath)
		})
	}
}

// The spool's volume is lost (an emptyDir when the pod moves): the chain
// is not started again at seq 1, where it would collide with the sink's
// records forever, but continued from the sink, with a gap record.
func TestE2E_SpoolLostAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b strings.Builder
	for n := 0; n < 20; n++ {
		b.WriteString(event(map[string]any{"action": "tool_call", "tool": "search", "n": n}))
	}
	appendLines(t, e.logPath, b.String())
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 20, p)
	p.stop(t)
	if err := os.Remove(e.spoolPath); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	for n := 20; n < 30; n++ {
		b.WriteString(event(map[string]any{"action": "tool_call", "tool": "search", "n": n}))
	}
	appendLines(t, e.logPath, b.String())
	p = e.start(t)
	waitForEvents(t, db, 30, p)
	p.stop(t)
	requireExactlyOnce(t, db, 30)
	var starts, gaps int
	db.QueryRow(`SELECT count(*) FROM audit_records WHERE action = 'chain_start'`).Scan(&starts)
	db.QueryRow(`SELECT count(*) FROM audit_records WHERE action = 'gap' AND json_extract(payload, '$.detail.reason') LIKE 'spool empty%'`).Scan(&gaps)
	if starts != 1 || gaps != 1 {
		t.Errorf("%d chain_start and %d gap records, want 1 and 1", starts, gaps)
	}
	requireValid(t, e.cfgPath)
}

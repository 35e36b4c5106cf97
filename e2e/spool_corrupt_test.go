package e2e

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// events is agent events from..to-1, one JSON line each.
func events(from, to int) string {
	var b strings.Builder
	for n := from; n < to; n++ {
		b.WriteString(event(map[string]any{"action": "tool_call", "tool": "search", "n": n}))
	}
	return b.String()
}

// aroundLostSpool runs the sidecar on 20 events, stops it, lets lose do
// something to the spool, appends 10 events and runs it again: every event
// must be stored exactly once. It returns the second run and the sink.
func aroundLostSpool(t *testing.T, lose func(e *env)) (*env, *proc, *sql.DB) {
	t.Helper()
	e := newEnv(t)
	appendLines(t, e.logPath, events(0, 20))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 20, p)
	p.stop(t)
	lose(e)
	appendLines(t, e.logPath, events(20, 30))
	p = e.start(t)
	waitForEvents(t, db, 30, p)
	p.stop(t)
	requireExactlyOnce(t, db, 30)
	return e, p, db
}

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
			e, p, db := aroundLostSpool(t, func(e *env) {
				raw, err := os.ReadFile(e.spoolPath)
				if err != nil {
					t.Fatal(err)
				}
				tc.damage(raw)
				if err := os.WriteFile(e.spoolPath, raw, 0o600); err != nil {
					t.Fatal(err)
				}
			})
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
	e, _, db := aroundLostSpool(t, func(e *env) {
		if err := os.Remove(e.spoolPath); err != nil {
			t.Fatal(err)
		}
	})
	var starts, gaps int
	db.QueryRow(`SELECT count(*) FROM audit_records WHERE action = 'chain_start'`).Scan(&starts)
	db.QueryRow(`SELECT count(*) FROM audit_records WHERE action = 'gap' AND json_extract(payload, '$.detail.reason') LIKE 'spool empty%'`).Scan(&gaps)
	if starts != 1 || gaps != 1 {
		t.Errorf("%d chain_start and %d gap records, want 1 and 1", starts, gaps)
	}
	requireValid(t, e.cfgPath)
}

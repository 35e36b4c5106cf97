package e2e

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// rawPII are the values the agent writes that must never be stored.
var rawPII = []string{
	"dana.k@example.com", "ops+audit@corp.example.org",
	"4111111111111111", "4111 1111 1111 1111", "5555555555554444", "5555 5555 5555 4444",
	"536-22-8765", "(415) 555-0132", "203.0.113.7", "AKIAIOSFODNN7EXAMPLE",
}

// piiEvent is agent event n with PII in its arguments and in a free-text
// field (which lands in detail).
func piiEvent(n int) string {
	emails := []string{"dana.k@example.com", "ops+audit@corp.example.org"}
	cards := []string{"4111111111111111", "5555555555554444", "4111 1111 1111 1111", "5555 5555 5555 4444"}
	actions := []string{"tool_call", "model_call", "decision", "tool_result"}
	email, card := emails[n%len(emails)], cards[n%len(cards)]
	return event(map[string]any{
		"ts":      time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339Nano),
		"action":  actions[n%len(actions)],
		"user":    fmt.Sprintf("u-%d", n%13),
		"tenant":  "acme",
		"session": fmt.Sprintf("s-%d", n%7),
		"tool":    "payments.refund",
		"arguments": map[string]any{
			"email":  email,
			"card":   card,
			"ssn":    "536-22-8765",
			"phone":  "(415) 555-0132",
			"amount": 249,
			"note":   fmt.Sprintf("refund to %s on card %s, call (415) 555-0132", email, card),
		},
		"message": fmt.Sprintf("request from 203.0.113.7 with AKIAIOSFODNN7EXAMPLE; ssn 536-22-8765, mail %s, card %s", email, card),
		"n":       n,
	})
}

func TestE2E_ThousandEventsRedactedChainedQueryable(t *testing.T) {
	t.Parallel()
	const total, appends = 1000, 4
	e := newEnv(t)
	appendLines(t, e.logPath, "")
	p := e.start(t)
	addr := p.addr(t)
	db := openDB(t, e.dbPath)

	for a := 0; a < appends; a++ {
		var b strings.Builder
		for n := a * total / appends; n < (a+1)*total/appends; n++ {
			b.WriteString(piiEvent(n))
		}
		appendLines(t, e.logPath, b.String())
		want := (a + 1) * total / appends
		waitForEvents(t, db, want, p)
	}

	recs := pageAll(t, addr, e.adminToken, nil, 1000)
	seen := map[uint64]bool{}
	nSeen := map[int]int{}
	actions := map[string]int{}
	for _, r := range recs {
		if r.Chain != e.chainID {
			t.Errorf("seq %d: chain %q, want %q", r.Seq, r.Chain, e.chainID)
		}
		if seen[r.Seq] {
			t.Errorf("seq %d served twice", r.Seq)
		}
		seen[r.Seq] = true
		actions[r.Action]++
		for _, pii := range rawPII {
			if bytes.Contains(r.raw, []byte(pii)) {
				t.Errorf("seq %d: served record contains raw %q", r.Seq, pii)
			}
		}
		if n, ok := r.n(); ok {
			nSeen[n]++
			if len(r.Redactions.Rules) == 0 || r.Redactions.Policy == "" {
				t.Errorf("seq %d (n=%d): no redaction manifest", r.Seq, n)
			}
		}
		if r.Seq == 1 && r.Action != "chain_start" {
			t.Errorf("seq 1 is %q, want chain_start", r.Action)
		}
	}
	for seq := uint64(1); seq <= uint64(len(recs)); seq++ {
		if !seen[seq] {
			t.Errorf("seq %d not served (%d records)", seq, len(recs))
		}
	}
	for n := 0; n < total; n++ {
		if nSeen[n] != 1 {
			t.Errorf("event n=%d served %d times, want 1", n, nSeen[n])
		}
	}
	if actions["chain_start"] != 1 || actions["sidecar_start"] != 1 {
		t.Errorf("own records: %d chain_start, %d sidecar_start; want 1 each", actions["chain_start"], actions["sidecar_start"])
	}
	if len(recs) != total+2 {
		t.Errorf("%d records served, want %d agent records + chain_start + sidecar_start", len(recs), total)
	}

	p.stop(t)
	var last string
	if err := db.QueryRow(`SELECT action FROM audit_records WHERE chain = ? ORDER BY seq DESC LIMIT 1`, e.chainID).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if last != "sidecar_stop" {
		t.Errorf("last record after SIGTERM is %q, want sidecar_stop", last)
	}
	for _, path := range []string{e.dbPath, e.dbPath + "-wal", e.spoolPath} {
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) && strings.HasSuffix(path, "-wal") {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, pii := range rawPII {
			if bytes.Contains(data, []byte(pii)) {
				t.Errorf("%s contains raw %q", path, pii)
			}
		}
	}
	requireValid(t, e.cfgPath)
}

func TestE2E_PartialLine(t *testing.T) {
	t.Parallel()
	for _, restart := range []bool{false, true} {
		name := "completed while running"
		if restart {
			name = "completed while stopped"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testPartialLine(t, restart)
		})
	}
}

// testPartialLine writes ten events and half of an eleventh, checks that the
// half is not ingested, then completes it (after a SIGTERM and before a
// restart when restart is set): it must arrive once and whole.
func testPartialLine(t *testing.T, restart bool) {
	e := newEnv(t)
	e.chainExtra = "  epoch: 200ms\n" // seals: what the sidecar did since is seen in the store
	e.writeConfig(t, "")
	var b strings.Builder
	for n := 0; n < 10; n++ {
		b.WriteString(event(map[string]any{"action": "tool_call", "tool": "search", "n": n}))
	}
	const note = "the first half and the second half"
	line := event(map[string]any{"action": "tool_call", "tool": "search", "n": 10, "note": note})
	cut := strings.Index(line, "and the second")
	appendLines(t, e.logPath, b.String()+line[:cut])

	p := e.start(t)
	p.addr(t) // the sink is open before the listener
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 10, p)
	// The half line was read with the ten events: all of it was on disk
	// before the start, in fewer bytes than one read takes. The sidecar
	// then has to have run on with it held, its tailer polling the file
	// (every 50 ms): until three more epochs (200 ms each) are sealed, or,
	// when restart is set, until it has stopped and committed all it had.
	if restart {
		p.stop(t)
	} else {
		seals := count(t, db, `action = 'seal'`)
		waitFor(t, "three more seals with the half line held", func() bool {
			return count(t, db, `action = 'seal'`) >= seals+3
		})
	}
	if c := nCounts(t, db)[10]; c != 0 {
		t.Fatalf("half-written event n=10 stored %d times before its end was written", c)
	}
	requireNoParseErrors(t, db)

	appendLines(t, e.logPath, line[cut:]+event(map[string]any{"action": "tool_call", "tool": "search", "n": 11}))
	if restart {
		p = e.start(t)
	}
	waitForEvents(t, db, 12, p)
	p.stop(t)

	requireExactlyOnce(t, db, 12)
	requireNoParseErrors(t, db)
	var got string
	if err := db.QueryRow(`SELECT json_extract(payload, '$.detail.note') FROM audit_records
		WHERE json_extract(payload, '$.detail.n') = 10`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != note {
		t.Errorf("event n=10 note = %q, want %q", got, note)
	}
	requireGaplessSeqs(t, db, e.chainID)
	requireValid(t, e.cfgPath)
}

func requireNoParseErrors(t *testing.T, db *sql.DB) {
	t.Helper()
	var c int
	if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE action = 'parse_error'`).Scan(&c); err != nil {
		t.Fatal(err)
	}
	if c != 0 {
		t.Fatalf("%d parse_error records", c)
	}
}

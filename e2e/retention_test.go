package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Retention with a short policy: the sidecar appends chained
// retention_purge records, the SQLite sink removes what they cover, verify
// still passes on what remains, and a deletion beyond the purge fails it.
func TestE2E_RetentionPurge(t *testing.T) {
	t.Run("plain", func(t *testing.T) { retentionPurge(t, false) })
	// With signed checkpoints and epochs, what remains also verifies
	// against the witnessed checkpoint: the Merkle checks take up from the
	// first checkpoint after the purged prefix.
	t.Run("checkpoints and epochs", func(t *testing.T) { retentionPurge(t, true) })
}

func retentionPurge(t *testing.T, signed bool) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, "retention: {max_age: 2s, interval: 500ms}\n")
	var verifyArgs []string
	var pub, wdir string
	if signed {
		e.chainExtra = "  epoch: 300ms\n"
		pub, wdir = withCheckpoints(t, e)
		appendLines(t, e.cfgPath, "retention: {max_age: 2s, interval: 500ms}\n")
		verifyArgs = []string{"--pubkey", pub, "--witness", wdir}
	}
	appendLines(t, e.logPath, event(map[string]any{"action": "decision", "n": 0}))
	p := e.start(t)
	db := openDB(t, e.dbPath)

	// Keep the agent writing until a purge has removed a prefix.
	type purge struct{ seq, through, first int }
	var got purge
	n := 1
	waitFor(t, "a retention purge carried out in SQLite", func() bool {
		appendLines(t, e.logPath, event(map[string]any{"action": "decision", "n": n}))
		n++
		time.Sleep(100 * time.Millisecond) // the agent's pace, not an assertion
		var detail string
		err := db.QueryRow(`SELECT seq, CAST(payload AS TEXT) FROM audit_records
			WHERE action = 'retention_purge' ORDER BY seq DESC LIMIT 1`).Scan(&got.seq, &detail)
		if err != nil {
			return false
		}
		var rec struct {
			Detail struct {
				Through int    `json:"through_seq"`
				MAC     string `json:"through_mac"`
				Policy  struct {
					MaxAge string `json:"max_age"`
				} `json:"policy"`
			} `json:"detail"`
		}
		if json.Unmarshal([]byte(detail), &rec) != nil || rec.Detail.Policy.MaxAge != "2s" || len(rec.Detail.MAC) != 64 {
			t.Fatalf("retention_purge record %s", detail)
		}
		got.through = rec.Detail.Through
		db.QueryRow(`SELECT min(seq) FROM audit_records`).Scan(&got.first)
		return got.first == got.through+1
	})
	p.stop(t)
	if got.through < 2 {
		t.Errorf("purged through %d", got.through)
	}
	code, out, _ := runVerify(t, e.cfgPath, verifyArgs...)
	if code != 0 {
		t.Fatalf("verify after the purge exited %d:\n%s", code, out)
	}
	if signed {
		// A purge is honoured only once a signed checkpoint covers it:
		// one follows it. What it left begins with a checkpoint (a
		// retention period begins with one), the signed tree state of
		// its boundary: the rest verifies with the public key alone, in
		// both verifiers, as with the HMAC key alone.
		var first, after string
		if err := db.QueryRow(`SELECT action FROM audit_records WHERE seq = ?`, got.first).Scan(&first); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT action FROM audit_records WHERE seq = ?`, got.seq+1).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if first != "checkpoint" || after != "checkpoint" {
			t.Errorf("the first record kept (seq %d) is %s and the record after the purge (seq %d) %s, want checkpoints", got.first, first, got.seq+1, after)
		}
		export := filepath.Join(e.dir, "export.ndjson")
		exportTo(t, e.cfgPath, export)
		for _, args := range [][]string{{"--pubkey", pub, "--witness", wdir}, {"--key-file", e.keyPath}, {"--key-file", e.keyPath, "--pubkey", pub, "--witness", wdir}} {
			code, out, errs := runVerifyFile(t, export, args...)
			pyCode, pyOut := runPyVerify(t, export, args...)
			if code != 0 || pyCode != 0 {
				t.Errorf("the export after a purge, %v: verify --file exited %d, verify_export.py %d\ngo:\n%s%s\npython:\n%s", args, code, pyCode, out, errs, pyOut)
			}
		}
	}

	// An attacker drops the guard trigger and deletes the first record
	// that remains: verify must name the missing prefix.
	if _, err := db.Exec(`DROP TRIGGER audit_records_no_delete`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM audit_records WHERE seq = ?`, got.first); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, _ = runVerify(t, e.cfgPath, verifyArgs...)
	if code != 1 || !strings.Contains(out, "no retention_purge record covers them") {
		t.Errorf("verify after deleting beyond the purge exited %d, want 1 naming the uncovered prefix:\n%s", code, out)
	}
}

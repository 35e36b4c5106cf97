package e2e

// Attacks on the source policy against the real binary (see
// tailer/attack_test.go for the unit versions). A failure is a finding.

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestE2E_Attack_PatternAllowedDirSwapped: source.path is a pattern and
// allowed_dirs is left to its default (the folder above the first
// wildcard, logs/pods). The agent owns that name in the shared volume: it
// replaces logs/pods with a link to an ancestor and puts a link to a
// sidecar-only file in logs/, which the pattern now matches through the
// link. The allowed folder is resolved again at every check, so the
// target counts as inside and is read into the chain.
func TestE2E_Attack_PatternAllowedDirSwapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pods := filepath.Join(e.dir, "logs", "pods")
	if err := os.MkdirAll(filepath.Join(pods, "p1"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A file of the sidecar's container, not one of the config's own files.
	secret := filepath.Join(e.dir, "private", "shadow")
	writeFile(t, secret, []byte(`{"action":"tool_call","tool":"SHADOWHASH"}`+"\n"))
	e.logPath = filepath.Join(pods, "*", "agent.jsonl")
	e.writeConfig(t, "")
	appendLines(t, filepath.Join(pods, "p1", "agent.jsonl"), event(map[string]any{"action": "tool_call", "tool": "real", "n": 0}))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 1, p)

	if err := os.Rename(pods, pods+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.dir, pods); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(e.dir, "logs", "agent.jsonl")); err != nil {
		t.Fatal(err)
	}
	// A rescan finds the link through the swapped folder and starts a
	// tailer of it, which records its refusal, or reads the secret.
	leaked := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE instr(payload, 'SHADOWHASH') > 0`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, "the link through the swapped folder refused (or read)", func() bool {
		return countOf(gapReasons(t, db), "source refused: resolves outside allowed_dirs") > 0 || leaked() > 0
	})
	p.stop(t)
	if n := leaked(); n != 0 {
		t.Fatalf("%d records hold the content of a file outside the default allowed folder", n)
	}
}

// TestE2E_Attack_RefusalFlood: maxRefused+1 (4097) links named like
// rotations, pointing outside, that never change. Each should be one gap
// record; past the refusal memory's size every check reports them all
// again: a static directory makes an unbounded stream of chained records.
func TestE2E_Attack_RefusalFlood(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	writeFile(t, secret, []byte("root:x:1\n"))
	const n = 4097
	for i := range n {
		if err := os.Symlink(secret, fmt.Sprintf("%s.%d", e.logPath, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	appendLines(t, e.logPath, event(map[string]any{"action": "tool_call", "tool": "real", "n": 0}))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 1, p)
	// Each check would report the links again. Each line is written once
	// the one before it is stored, long after the read that handed that
	// one out reached the end of the file, and the tailer checks the path
	// and its siblings after such a read and before it reads again, the
	// gaps a check finds going before the next line: each stored line
	// proves one more check whose gaps are stored.
	for i := 1; i <= 5; i++ {
		appendLines(t, e.logPath, event(map[string]any{"action": "tool_call", "tool": "real", "n": i}))
		waitForEvents(t, db, i+1, p)
	}
	p.stop(t)
	if got := len(gapReasons(t, db)); got > n {
		t.Fatalf("%d gap records for %d refused links that never changed", got, n)
	}
}

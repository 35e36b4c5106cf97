package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// Rotating the chain key: the next run starts with a key_rotation record
// sealed with the old key and naming the new kid; verify covers both key
// periods with the keyring of the config, says "unverifiable" without the
// old key, and the start fails, naming the key, when the old key is not
// given at all.
func TestE2E_KeyRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Without epochs: the old key must come from previous_key_files (with
	// epochs, see TestE2E_EpochKeyRotation).
	e.chainExtra = "  epoch: 0s\n"
	e.writeConfig(t, "")
	appendLines(t, e.logPath, events(0, 10))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 10, p)
	p.stop(t)

	// A new key; the old one kept as a previous key.
	oldKey := filepath.Join(e.dir, "old-hmac.key")
	writeFile(t, oldKey, e.key)
	writeFile(t, e.keyPath, []byte("NEWKEY-"+randHex(t, 32)))

	// Without the old key the sidecar cannot seal the rotation.
	code, stderr := runCmd(t, "run", "--config", e.cfgPath)
	if code != 2 || !strings.Contains(stderr, "chain.previous_key_files") {
		t.Fatalf("start without the old key: exit %d, %q", code, stderr)
	}

	e.writeConfig(t, "")
	cfg := strings.Replace(e.configYAML(""), "  key_file: "+e.keyPath+"\n", "  key_file: "+e.keyPath+"\n  previous_key_files: ["+oldKey+"]\n", 1)
	writeFile(t, e.cfgPath, []byte(cfg))
	appendLines(t, e.logPath, events(10, 20))
	p = e.start(t)
	waitForEvents(t, db, 20, p)
	p.stop(t)
	requireExactlyOnce(t, db, 20)
	var rotations int
	db.QueryRow(`SELECT count(*) FROM audit_records WHERE action = 'key_rotation'`).Scan(&rotations)
	if rotations != 1 {
		t.Errorf("%d key_rotation records, want 1", rotations)
	}
	requireValid(t, e.cfgPath)

	// verify without the old key: the first period cannot be checked.
	writeFile(t, e.cfgPath, []byte(e.configYAML("")))
	if code, out, _ := runVerify(t, e.cfgPath); code != 3 {
		t.Errorf("verify without the old key exited %d, want 3 (unverifiable)\n%s", code, out)
	}
}

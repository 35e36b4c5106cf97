package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

// TestE2E_EpochKeyFileDamaged: the epoch key file torn or damaged while the
// sidecar was stopped (cut short, zero-filled, a bit flipped in the key)
// stops the next start with exit 2 and a reason naming the file, instead
// of a start with a wrong key that would make every later record
// unverifiable; the reason never quotes the key. Removing the file and
// mounting the key of epoch 1 for one start continues the chain, which
// verifies.
func TestE2E_EpochKeyFileDamaged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.chainExtra = "  epoch: 200ms\n"
	e.writeConfig(t, "")
	appendLines(t, e.logPath, events(0, 10))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 10, p)
	waitFor(t, "a seal", func() bool { return count(t, db, `action = 'seal'`) >= 1 })
	p.stop(t)

	epochFile := e.spoolPath + ".epoch-key"
	good, err := os.ReadFile(epochFile)
	if err != nil {
		t.Fatal(err)
	}
	// The key the file holds (its layout: chain.EpochFile), which no
	// error may quote.
	const keyLenAt = 8 + 1 + 128 + 8
	if len(good) < keyLenAt+2 {
		t.Fatalf("epoch key file of %d bytes", len(good))
	}
	keyLen := int(binary.BigEndian.Uint16(good[keyLenAt:]))
	secret := good[keyLenAt+2 : keyLenAt+2+keyLen]
	if err := os.Remove(e.keyPath); err != nil { // offline, as in production
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"cut short", func(b []byte) []byte { return b[:len(b)/2] }},
		{"zero-filled", func(b []byte) []byte { return make([]byte, len(b)) }},
		{"a bit flipped in the key", func(b []byte) []byte { b[keyLenAt+2+3] ^= 0x04; return b }},
	} {
		writeFile(t, epochFile, tc.damage(bytes.Clone(good)))
		p := e.start(t)
		select {
		case <-p.done:
		case <-time.After(exitDeadline):
			t.Fatalf("%s: audit-sidecar still running with a damaged epoch key file; stderr:\n%s", tc.name, p.stderr())
		}
		stderr := p.stderr()
		if code := p.state.ExitCode(); code != 2 {
			t.Fatalf("%s: exit code %d, want 2; stderr:\n%s", tc.name, code, stderr)
		}
		if !strings.Contains(stderr, "chain.epoch") || !strings.Contains(stderr, epochFile) {
			t.Errorf("%s: the reason does not name chain.epoch and the file:\n%s", tc.name, stderr)
		}
		if bytes.Contains([]byte(stderr), secret) || strings.Contains(stderr, hex.EncodeToString(secret)) || bytes.Contains([]byte(stderr), e.key) {
			t.Errorf("%s: stderr quotes a key", tc.name)
		}
	}

	// What the reason says to do.
	if err := os.Remove(epochFile); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.keyPath, e.key)
	appendLines(t, e.logPath, events(10, 20))
	p = e.start(t)
	waitForEvents(t, db, 20, p)
	p.stop(t)
	requireExactlyOnce(t, db, 20)
	requireValid(t, e.cfgPath)
}

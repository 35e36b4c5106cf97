package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ratchet is K(e+1) = HMAC-SHA256(K(e), "ratchet" || uint64be(e)), written
// here from docs/chain-format.md, apart from the sidecar's code.
func ratchet(k []byte, e uint64) []byte {
	m := hmac.New(sha256.New, k)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], e)
	m.Write([]byte("ratchet"))
	m.Write(b[:])
	return m.Sum(nil)
}

func keyAt(k1 []byte, e uint64) []byte {
	k := k1
	for i := uint64(1); i < e; i++ {
		k = ratchet(k, i)
	}
	return k
}

func count(t *testing.T, db *sql.DB, where string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE ` + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestE2E_Epochs: epochs of 200ms are sealed also when idle; the epoch key
// file never holds an old key; the sidecar restarts without the key file;
// and the attacks open to whoever takes the current key are found.
func TestE2E_Epochs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.chainExtra = "  epoch: 200ms\n"
	pub, wdir := withCheckpoints(t, e)
	appendLines(t, e.logPath, events(0, 30))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 30, p)
	waitFor(t, "three idle seals", func() bool { return count(t, db, `action = 'seal'`) >= 3 })
	epochFile := e.spoolPath + ".epoch-key"
	state, err := os.ReadFile(epochFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(state, e.key) {
		t.Fatal("the epoch key file still holds the key of epoch 1")
	}
	p.kill9(t) // mid-epoch, maybe mid-seal

	// The key file is taken off the pod: the sidecar goes on from the
	// epoch key file.
	offline := filepath.Join(t.TempDir(), "hmac.key")
	writeFile(t, offline, e.key)
	os.Remove(e.keyPath)
	appendLines(t, e.logPath, events(30, 60))
	p = e.start(t)
	waitForEvents(t, db, 60, p)
	waitFor(t, "a seal after the restart", func() bool {
		return maxSeq(t, db, ` WHERE action = 'seal'`) > seqOfEvent(t, db, 59)
	})
	p.stop(t)
	requireExactlyOnce(t, db, 60)
	db.Close()
	writeFile(t, e.keyPath, e.key)
	if code, out, errs := runVerify(t, e.cfgPath, "--pubkey", pub, "--witness", wdir); code != 0 || !strings.Contains(out, "sealed up to epoch") {
		t.Fatalf("verify exited %d\n%s%s", code, out, errs)
	}
	current := snapshot(t, e.dbPath)

	tests := []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB)
		want   string
	}{
		{"a seal dropped", func(t *testing.T, db *sql.DB) {
			seq := maxSeq(t, db, ` WHERE action = 'seal' AND seq < `+strconv.Itoa(seqOfEvent(t, db, 40)))
			mustExec(t, db, `DELETE FROM audit_records WHERE seq = ?`, seq)
		}, "records missing"},
		{"the newest seal dropped and the chain renumbered with the current key", func(t *testing.T, db *sql.DB) {
			dropLastSeal(t, db, e.key)
		}, "without a seal"},
		{"an old epoch's record re-MACed with the current key", func(t *testing.T, db *sql.DB) {
			reMACWithCurrentKey(t, db, e.key, seqOfEvent(t, db, 5), false)
		}, "mac mismatch"},
		{"... and moved into the current epoch", func(t *testing.T, db *sql.DB) {
			reMACWithCurrentKey(t, db, e.key, seqOfEvent(t, db, 5), true)
		}, "epoch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := runVerify(t, tamperedCopy(t, e, current, tc.tamper))
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("verify exited %d, want 1 naming %q\n%s%s", code, tc.want, out, errs)
			}
		})
	}
}

// reMACWithCurrentKey alters record seq (an early epoch) as whoever holds
// the newest epoch's key can: changes its tool, optionally sets its epoch
// to the newest, and re-MACs it and every later record with that key.
func reMACWithCurrentKey(t *testing.T, db *sql.DB, k1 []byte, seq int, moveEpoch bool) {
	t.Helper()
	var cur uint64
	if err := db.QueryRow(`SELECT max(json_extract(payload, '$.epoch')) FROM audit_records`).Scan(&cur); err != nil {
		t.Fatal(err)
	}
	key := keyAt(k1, cur)
	var prev []byte
	if err := db.QueryRow(`SELECT mac FROM audit_records WHERE seq = ?`, seq-1).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	pl := bytes.Replace(payload(t, db, seq), []byte(`"tool":"search"`), []byte(`"tool":"seArch"`), 1)
	if moveEpoch {
		i := bytes.Index(pl, []byte(`"epoch":`)) + len(`"epoch":`)
		j := i + bytes.IndexByte(pl[i:], ',')
		pl = append(pl[:i:i], append([]byte(strconv.FormatUint(cur, 10)), pl[j:]...)...)
	}
	m := hmac.New(sha256.New, key)
	m.Write(prev)
	m.Write(pl)
	mustExec(t, db, `UPDATE audit_records SET payload = ?, mac = ?, tool = 'seArch' WHERE seq = ?`, pl, m.Sum(nil), seq)
}

// dropLastSeal removes the newest seal record and renumbers and re-MACs
// the records after it with the newest epoch's key, as whoever holds that
// key can, so that no seq is missing.
func dropLastSeal(t *testing.T, db *sql.DB, k1 []byte) {
	t.Helper()
	s := maxSeq(t, db, ` WHERE action = 'seal'`)
	var cur uint64
	if err := db.QueryRow(`SELECT json_extract(payload, '$.epoch') FROM audit_records WHERE seq = ?`, s+1).Scan(&cur); err != nil {
		t.Fatal(err)
	}
	key := keyAt(k1, cur)
	var prev []byte
	if err := db.QueryRow(`SELECT mac FROM audit_records WHERE seq = ?`, s-1).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `DELETE FROM audit_records WHERE seq = ?`, s)
	for seq := s + 1; seq <= maxSeq(t, db, ""); seq++ {
		pl := payload(t, db, seq)
		pl = bytes.Replace(pl, []byte(`"seq":`+strconv.Itoa(seq)+`,`), []byte(`"seq":`+strconv.Itoa(seq-1)+`,`), 1)
		i := bytes.Index(pl, []byte(`"prev":"`)) + len(`"prev":"`)
		copy(pl[i:i+64], hex.EncodeToString(prev))
		m := hmac.New(sha256.New, key)
		m.Write(prev)
		m.Write(pl)
		mac := m.Sum(nil)
		mustExec(t, db, `UPDATE audit_records SET seq = ?, payload = ?, mac = ?, prev = ? WHERE seq = ?`, seq-1, pl, mac, prev, seq)
		prev = mac
	}
}

// With epochs, a new key file is a key rotation sealed with the stored
// epoch key: no previous_key_files needed to run; verify takes both keys.
func TestE2E_EpochKeyRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.chainExtra = "  epoch: 200ms\n"
	e.writeConfig(t, "")
	appendLines(t, e.logPath, events(0, 10))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 10, p)
	waitFor(t, "a seal", func() bool { return count(t, db, `action = 'seal'`) >= 2 })
	p.stop(t)

	oldKey := filepath.Join(e.dir, "old-hmac.key")
	writeFile(t, oldKey, e.key)
	writeFile(t, e.keyPath, []byte("NEWKEY-"+randHex(t, 32)))
	appendLines(t, e.logPath, events(10, 20))
	p = e.start(t)
	waitForEvents(t, db, 20, p)
	p.stop(t)
	requireExactlyOnce(t, db, 20)
	if n := count(t, db, `action = 'key_rotation'`); n != 1 {
		t.Fatalf("%d key_rotation records, want 1", n)
	}
	e.chainExtra += "  previous_key_files: [" + oldKey + "]\n"
	e.writeConfig(t, "")
	requireValid(t, e.cfgPath)
}

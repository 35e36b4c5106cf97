package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// signingKeys writes an Ed25519 PKCS#8 private key and its public key as
// PEM files into dir and returns their paths.
func signingKeys(t *testing.T, dir, name string) (priv, pub string) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	pder, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pub")
	writeFile(t, priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	writeFile(t, pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}))
	return priv, pub
}

// withCheckpoints configures e to sign checkpoints every 10 records and
// every 200ms, with a witness folder; it returns the public key file and
// the witness folder.
func withCheckpoints(t *testing.T, e *env) (pub, witnessDir string) {
	t.Helper()
	priv, pub := signingKeys(t, e.dir, "signing")
	witnessDir = filepath.Join(e.dir, "witness")
	cfg := strings.Replace(e.configYAML(""), "  key_file: "+e.keyPath+"\n", fmt.Sprintf(
		"  key_file: %s\n  signing_key_file: %s\n  checkpoint_every: 10\n  checkpoint_interval: 200ms\n  witness_dir: %s\n",
		e.keyPath, priv, witnessDir), 1)
	writeFile(t, e.cfgPath, []byte(cfg))
	return pub, witnessDir
}

// copyDir copies the regular files of src into a new folder.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dst, e.Name()), b)
	}
	return dst
}

// snapshot checkpoints the WAL into the database file and returns its bytes.
func snapshot(t *testing.T, path string) []byte {
	t.Helper()
	db := openDB(t, path)
	mustExec(t, db, `PRAGMA wal_checkpoint(TRUNCATE)`)
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func maxSeq(t *testing.T, db *sql.DB, where string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT coalesce(max(seq), 0) FROM audit_records` + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// witnessedSize is the size of the checkpoint in a witness folder.
func witnessedSize(t *testing.T, dir, chain string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, chain+".checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscanf(strings.Split(string(b), "\n")[1], "%d", &n); err != nil {
		t.Fatalf("witness file %q: %v", b, err)
	}
	return n
}

// reMAC rewrites records from seq on as a holder of the HMAC key can:
// each payload's prev is set to the new MAC before it and the MAC
// recomputed. Checkpoint records are re-MACed too, but their signed notes
// cannot be re-signed.
func reMAC(t *testing.T, db *sql.DB, key []byte, from int) {
	t.Helper()
	var prev []byte
	if err := db.QueryRow(`SELECT mac FROM audit_records WHERE seq = ?`, from-1).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT seq, payload FROM audit_records WHERE seq >= ? ORDER BY seq`, from)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		seq     int
		payload []byte
	}
	var recs []rec
	for rows.Next() {
		var r rec
		if err := rows.Scan(&r.seq, &r.payload); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	rows.Close()
	for _, r := range recs {
		i := bytes.Index(r.payload, []byte(`"prev":"`)) + len(`"prev":"`)
		copy(r.payload[i:i+64], hex.EncodeToString(prev))
		m := hmac.New(sha256.New, key)
		m.Write(prev)
		m.Write(r.payload)
		mac := m.Sum(nil)
		mustExec(t, db, `UPDATE audit_records SET payload = ?, mac = ?, prev = ? WHERE seq = ?`, r.payload, mac, prev, r.seq)
		prev = mac
	}
}

// TestE2E_Checkpoints runs a sidecar that signs checkpoints, twice, then
// attacks copies of its store: each attack must get its verdict, from
// `verify --config` (the live store), and for the store's export from
// both `verify --file` and the independent tools/verify_export.py with the
// same flags (the same verdict from both).
func TestE2E_Checkpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pub, wdir := withCheckpoints(t, e)
	appendLines(t, e.logPath, events(0, 40))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 40, p)
	p.stop(t)
	db.Close()
	old := snapshot(t, e.dbPath)
	oldWitness := copyDir(t, wdir)
	firstStdout := p.stdoutPath

	appendLines(t, e.logPath, events(40, 80))
	p = e.start(t)
	db = openDB(t, e.dbPath)
	waitForEvents(t, db, 80, p)
	p.stop(t)
	requireExactlyOnce(t, db, 80)
	head := maxSeq(t, db, "")
	ckpts := maxSeq(t, db, ` WHERE action = 'checkpoint'`)
	if ckpts != head {
		t.Fatalf("the last record is seq %d, the last checkpoint %d: shutdown must end with a checkpoint", head, ckpts)
	}
	db.Close()
	current := snapshot(t, e.dbPath)

	// What left the pod: stdout lines and the witness file, for the head.
	out, err := os.ReadFile(p.stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"msg":"audit checkpoint"`)) || !bytes.Contains(out, fmt.Appendf(nil, `"size":%d,`, head-1)) {
		t.Fatalf("stdout does not carry the final checkpoint of size %d:\n%s", head-1, out)
	}
	if n := witnessedSize(t, wdir, e.chainID); n != head-1 {
		t.Fatalf("witness holds size %d, want %d", n, head-1)
	}
	oldSize := witnessedSize(t, oldWitness, e.chainID)
	// Every checkpoint either run published on stdout, as a log collector
	// keeps them: the witness's history.
	history := filepath.Join(e.dir, "stdout-history.log")
	var hist []byte
	for _, f := range []string{firstStdout, p.stdoutPath} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		hist = append(hist, b...)
	}
	writeFile(t, history, hist)

	// An export verifies offline, with the public key alone or the HMAC
	// key alone.
	export := filepath.Join(e.dir, "export.ndjson")
	exportTo(t, e.cfgPath, export)
	for _, args := range [][]string{{"--pubkey", pub}, {"--key-file", e.keyPath}, {"--pubkey", pub, "--witness", wdir}} {
		if code, o, errs := runVerifyFile(t, export, args...); code != 0 {
			t.Fatalf("verify --file %v exited %d\n%s%s", args, code, o, errs)
		}
	}
	pubkeyOnlyExports(t, e, export, pub, history)
	// Also from the stdout lines, as a log collector keeps them.
	if code, o, _ := runVerify(t, e.cfgPath, "--pubkey", pub, "--checkpoint", p.stdoutPath); code != 0 {
		t.Fatalf("verify --checkpoint stdout exited %d\n%s", code, o)
	}

	otherPriv, otherPub := signingKeys(t, t.TempDir(), "other")
	_ = otherPriv
	otherKey := filepath.Join(t.TempDir(), "other.key")
	writeFile(t, otherKey, []byte("OTHER-"+randHex(t, 32)))

	tests := []struct {
		name     string
		base     []byte // the store to attack (default: current)
		tamper   func(t *testing.T, db *sql.DB)
		args     []string // verify flags (default: --pubkey pub --witness wdir)
		wantCode int      // verify --config: the live store
		want     string   // in verify's output
		// exportCode is the verdict on the store's export, from verify
		// --file and from tools/verify_export.py alike (with --key-file
		// added when args has none, as the config gives the key). It
		// differs from wantCode where the export cannot show what the
		// store does: indexed columns are not exported, and an export
		// ends where it was taken (a store cut short of the witness
		// exports as an earlier export: valid when it matches a witnessed
		// checkpoint it reaches, unverifiable when it reaches none).
		exportCode int
		exportWant string // in verify --file's output
	}{
		{name: "untouched", wantCode: 0, exportWant: "reaches the newest witnessed checkpoint"},
		{name: "one payload byte", wantCode: 1, want: "seq 25: mac mismatch", exportCode: 1, exportWant: "seq 25: mac mismatch", tamper: func(t *testing.T, db *sql.DB) {
			pl := payload(t, db, 25)
			pl[len(pl)/2] ^= 1
			mustExec(t, db, `UPDATE audit_records SET payload = ? WHERE seq = 25`, pl)
		}},
		{name: "indexed column only", wantCode: 1, want: "column tool", exportCode: 0, tamper: func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `UPDATE audit_records SET tool = 'other' WHERE seq = 30`)
		}},
		{name: "two ranges deleted", wantCode: 1, want: "seq 12-14: records missing", exportCode: 1, exportWant: "seq 50-53: records missing", tamper: func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `DELETE FROM audit_records WHERE seq BETWEEN 12 AND 14 OR seq BETWEEN 50 AND 53`)
		}},
		{name: "forged row", wantCode: 1, want: "mac mismatch", exportCode: 1, exportWant: "seq 20: mac mismatch", tamper: func(t *testing.T, db *sql.DB) {
			pl := payload(t, db, 20)
			mustExec(t, db, `DELETE FROM audit_records WHERE seq = 20`)
			pl = bytes.Replace(pl, []byte(`"tool":"search"`), []byte(`"tool":"wire-transfer"`), 1)
			mustExec(t, db, `INSERT INTO audit_records (chain, seq, ts, ingested_at, action, payload, mac, prev, kid)
				SELECT chain, 20, ts, ingested_at, action, ?, randomblob(32), prev, kid FROM audit_records WHERE seq = 21`, pl)
		}},
		{name: "two records swapped", wantCode: 1, want: "seq 33", exportCode: 1, exportWant: "seq 33", tamper: func(t *testing.T, db *sql.DB) {
			a, b := payload(t, db, 33), payload(t, db, 34)
			mustExec(t, db, `UPDATE audit_records SET payload = ? WHERE seq = 33`, b)
			mustExec(t, db, `UPDATE audit_records SET payload = ? WHERE seq = 34`, a)
		}},
		{name: "newest records cut after the witnessed checkpoint", wantCode: 0, args: []string{"--pubkey", pub, "--witness", oldWitness},
			want: "not yet covered by a checkpoint", exportCode: 0, exportWant: "not yet covered by a checkpoint", tamper: func(t *testing.T, db *sql.DB) {
				// Keep two records after a checkpoint well after the old
				// witness, cut the rest.
				last := maxSeq(t, db, fmt.Sprintf(` WHERE action = 'checkpoint' AND seq BETWEEN %d AND %d`, oldSize+2, head-6))
				if n := maxSeq(t, db, fmt.Sprintf(` WHERE action = 'checkpoint' AND seq BETWEEN %d AND %d`, last+1, last+2)); last == 0 || n != 0 {
					t.Fatalf("no checkpoint followed by two records between seq %d and %d", oldSize+2, head-6)
				}
				mustExec(t, db, `DELETE FROM audit_records WHERE seq > ?`, last+2)
			}},
		{name: "the same cut against the newest witness", wantCode: 1, want: "truncation or rollback",
			exportCode: 3, exportWant: "reaches no witnessed checkpoint", tamper: func(t *testing.T, db *sql.DB) {
				mustExec(t, db, `DELETE FROM audit_records WHERE seq > ?`, head-3)
			}},
		{name: "newest records and checkpoints cut below the witness", wantCode: 1, args: []string{"--pubkey", pub, "--witness", oldWitness},
			want: "truncation or rollback", exportCode: 3, exportWant: "reaches no witnessed checkpoint", tamper: func(t *testing.T, db *sql.DB) {
				mustExec(t, db, `DELETE FROM audit_records WHERE seq > ?`, oldSize-5)
			}},
		{name: "old backup restored", base: old, wantCode: 1, want: "truncation or rollback", exportCode: 3, exportWant: "reaches no witnessed checkpoint"},
		// The witness's history (every checkpoint published on stdout)
		// holds the checkpoint of the backup's time: as the live store
		// the backup is still a rollback, as an export it is an earlier
		// export, valid and ending where it was taken.
		{name: "old backup restored, against the witness's history", base: old, args: []string{"--pubkey", pub, "--checkpoint", history},
			wantCode: 1, want: "truncation or rollback", exportCode: 0, exportWant: "where it was taken; it matches the witnessed checkpoint of size"},
		// The witness folder (today's) with the witness file copied when
		// the backup was taken: both are read.
		{name: "old backup restored, against the witness folder and the checkpoint of its time", base: old,
			args:     []string{"--pubkey", pub, "--witness", wdir, "--checkpoint", filepath.Join(oldWitness, e.chainID+".checkpoint")},
			wantCode: 1, want: "truncation or rollback", exportCode: 0, exportWant: fmt.Sprintf("it matches the witnessed checkpoint of size %d", oldSize)},
		// An emptied store or an empty file is never valid: invalid when
		// a witnessed or given checkpoint names the chain, unverifiable
		// when only the config does (nothing says it ever had records).
		{name: "emptied store", wantCode: 1, want: "holds no record of this chain, but a witnessed checkpoint", exportCode: 1, exportWant: "the export holds no record",
			tamper: func(t *testing.T, db *sql.DB) { mustExec(t, db, `DELETE FROM audit_records`) }},
		{name: "emptied store, given checkpoint", args: []string{"--pubkey", pub, "--checkpoint", history, "--max-age", "1s"},
			wantCode: 1, want: "holds no record of this chain", exportCode: 1, exportWant: "holds no record of this chain",
			tamper: func(t *testing.T, db *sql.DB) { mustExec(t, db, `DELETE FROM audit_records`) }},
		{name: "emptied store, only the config names the chain", args: []string{"--pubkey", pub, "--max-age", "1s"},
			wantCode: 3, want: "names this chain, but the store holds no record of it", exportCode: 3, exportWant: "the input holds no records",
			tamper: func(t *testing.T, db *sql.DB) { mustExec(t, db, `DELETE FROM audit_records`) }},
		{name: "empty database file", base: []byte{}, wantCode: 1, want: "holds no record of this chain", exportCode: 1, exportWant: "the export holds no record"},
		{name: "chain rewritten with the HMAC key", wantCode: 1, want: "do not match the merkle root", exportCode: 1, exportWant: "do not match the merkle root", tamper: func(t *testing.T, db *sql.DB) {
			seq := seqOfEvent(t, db, 15)
			pl := bytes.Replace(payload(t, db, seq), []byte(`"tool":"search"`), []byte(`"tool":"seArch"`), 1)
			mustExec(t, db, `UPDATE audit_records SET payload = ?, tool = 'seArch' WHERE seq = ?`, pl, seq)
			reMAC(t, db, e.key, seq)
		}},
		// The record carrying the newest checkpoint, re-dated and sealed
		// again by a holder of the HMAC key (to look fresher): the signed
		// note keeps its time, which must be the record's ingested_at.
		{name: "newest checkpoint's record re-dated with the HMAC key", wantCode: 1, want: "checkpoint's time is not the ingested_at of its record",
			exportCode: 1, exportWant: "checkpoint's time is not the ingested_at of its record", tamper: func(t *testing.T, db *sql.DB) {
				pl := payload(t, db, head)
				i := bytes.Index(pl, []byte(`"ingested_at":"`)) + len(`"ingested_at":"`)
				later := "2999-01-01T00:00:00.000000000Z"
				pl = append(append(append([]byte(nil), pl[:i]...), later...), pl[i+len(later):]...)
				mustExec(t, db, `UPDATE audit_records SET payload = ?, ingested_at = ? WHERE seq = ?`, pl, later, head)
				reMAC(t, db, e.key, head)
			}},
		{name: "checkpoints by an unknown key", wantCode: 3, args: []string{"--pubkey", otherPub}, want: "not signed by a trusted key", exportCode: 3, exportWant: "not signed by a trusted key"},
		// Its kid differs: no record can be checked, so unverifiable.
		{name: "wrong HMAC key", wantCode: 3, args: []string{"--key-file", otherKey, "--pubkey", pub}, want: "no key for kid", exportCode: 3, exportWant: "no key for kid"},
		{name: "stale checkpoints", wantCode: 3, args: []string{"--pubkey", pub, "--max-age", "1ns"}, want: "freshness", exportCode: 3, exportWant: "freshness"},
		// A holder of the HMAC key (with epochs: the running sidecar's
		// current key) deletes the oldest records and appends a
		// retention_purge record naming them, MACed with that key: no
		// signed checkpoint covers it. It purges checkpoints witnessed
		// after its cutoff: invalid. (The store's config sets no
		// retention: no purge is allowed there.)
		{name: "retention_purge forged with the HMAC key", args: []string{"--pubkey", pub, "--checkpoint", history},
			wantCode: 1, want: "the config sets no retention.max_age", exportCode: 1, exportWant: "which is not older than its cutoff",
			tamper: func(t *testing.T, db *sql.DB) { forgePurge(t, db, e, "2000-01-01T00:00:00.000000000Z") }},
		// The same with a cutoff after every checkpoint it purges: its
		// times say nothing against it, but no signed checkpoint covers
		// it, so it cannot be told from a forgery.
		{name: "retention_purge forged with the HMAC key, after the witnessed times", args: []string{"--pubkey", pub, "--checkpoint", history},
			wantCode: 1, want: "the config sets no retention.max_age", exportCode: 3, exportWant: "which no checkpoint signed by a trusted key covers",
			tamper: func(t *testing.T, db *sql.DB) { forgePurge(t, db, e, "") }},
		// A record edited by an insider holding no key, its kid set to
		// one whose key is unknown: the kid changed without a
		// key_rotation record, which is invalid, not unverifiable.
		{name: "a record edited under an unknown kid", wantCode: 1, want: "without a key_rotation record", exportCode: 1, exportWant: "without a key_rotation record",
			tamper: func(t *testing.T, db *sql.DB) {
				seq := seqOfEvent(t, db, 35)
				pl := bytes.Replace(payload(t, db, seq), []byte(`"tool":"search"`), []byte(`"tool":"noop"`), 1)
				i := bytes.Index(pl, []byte(`"kid":"`)) + len(`"kid":"`)
				j := i + bytes.IndexByte(pl[i:], '"')
				pl = append(append(append([]byte(nil), pl[:i]...), "hk-0000000000000000"...), pl[j:]...)
				mustExec(t, db, `UPDATE audit_records SET payload = ?, tool = 'noop', kid = 'hk-0000000000000000' WHERE seq = ?`, pl, seq)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := current
			if tc.base != nil {
				base = tc.base
			}
			cfg := tamperedCopy(t, e, base, tc.tamper)
			args := tc.args
			if args == nil {
				args = []string{"--pubkey", pub, "--witness", wdir}
			}
			code, out, errs := runVerify(t, cfg, args...)
			if code != tc.wantCode || !strings.Contains(out, tc.want) {
				t.Fatalf("verify %v exited %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", args, code, tc.wantCode, tc.want, out, errs)
			}
			// The same store exported, checked offline by both verifiers.
			export := filepath.Join(t.TempDir(), "export.ndjson")
			exportTo(t, cfg, export)
			fileArgs := args
			if !slices.Contains(args, "--key-file") {
				fileArgs = append([]string{"--key-file", e.keyPath}, args...)
			}
			code, out, errs = runVerifyFile(t, export, fileArgs...)
			if code != tc.exportCode || !strings.Contains(out, tc.exportWant) {
				t.Fatalf("verify --file %v exited %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", fileArgs, code, tc.exportCode, tc.exportWant, out, errs)
			}
			pyCode, pyOut := runPyVerify(t, export, fileArgs...)
			if pyCode != code {
				t.Fatalf("tools/verify_export.py %v exited %d, verify --file %d\npython:\n%s\ngo:\n%s", fileArgs, pyCode, code, pyOut, out)
			}
			t.Logf("export: verify --file and verify_export.py exited %d\ngo:\n%s\npython:\n%s", code, out, pyOut)
			if tc.name == "two ranges deleted" {
				_, js, _ := runVerify(t, cfg, append(args, "--json")...)
				var rep struct {
					Gaps []struct{ Seq, Through int } `json:"gaps"`
				}
				if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Gaps) != 2 {
					t.Fatalf("--json gaps: %v\n%s", err, js)
				}
			}
		})
	}
}

// pubkeyOnlyExports checks the export, and copies of it cut or edited as
// an insider can, with the public key alone (an auditor without the HMAC
// key): the records a signed tree state cannot cover (they share a Merkle
// subtree with records not given) are not vouched for, those it covers
// are checked, and a purge no signed checkpoint covers is not honoured.
// verify --file and tools/verify_export.py give the same verdict.
func pubkeyOnlyExports(t *testing.T, e *env, export, pub, history string) {
	t.Helper()
	b, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		raw []byte
		rec struct {
			Seq        int    `json:"seq"`
			Action     string `json:"action"`
			TS         string `json:"ts"`
			IngestedAt string `json:"ingested_at"`
			Kid        string `json:"kid"`
			Epoch      uint64 `json:"epoch"`
			Prev       string `json:"prev"`
			MAC        string `json:"mac"`
		}
	}
	var lines []line
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var x line
		x.raw = l
		if err := json.Unmarshal(l, &x.rec); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, x)
	}
	from := func(seq int, edit func(line) []byte) []byte {
		out := fmt.Appendf(nil, `{"export_chain":"%s","from_seq":%d}`+"\n", e.chainID, seq)
		for _, l := range lines {
			switch {
			case l.rec.Seq < seq:
			case l.rec.Seq == seq && edit != nil:
				out = append(out, edit(l)...)
			default:
				out = append(out, l.raw...)
			}
		}
		return out
	}
	// The first checkpoint (seq c, size c-1) whose smallest subtree of
	// records a+1..c-1 holds two agent records or more first.
	a := 0
	for _, l := range lines {
		c := l.rec.Seq
		if l.rec.Action != "checkpoint" || c < 20 {
			continue
		}
		size := (c - 1) & -(c - 1)
		if size >= 2 && lines[c-size-1].rec.Action == "tool_call" && lines[c-size].rec.Action == "tool_call" {
			a = c - 1 - size
			break
		}
	}
	if a == 0 {
		t.Fatal("no checkpoint whose smallest subtree begins with two agent records")
	}
	editTool := func(l line) []byte {
		return bytes.Replace(l.raw, []byte(`"tool":"search"`), []byte(`"tool":"wipe-disk"`), 1)
	}
	// Record k, an agent record, turned into a retention_purge of the
	// records before it by an insider holding no key (its MAC kept).
	k := 0
	for _, l := range lines {
		if l.rec.Seq >= 45 && l.rec.Action == "tool_call" {
			k = l.rec.Seq
			break
		}
	}
	fakePurge := func(l line) []byte {
		epoch := ""
		if l.rec.Epoch > 0 {
			epoch = fmt.Sprintf(`,"epoch":%d`, l.rec.Epoch)
		}
		return fmt.Appendf(nil, `{"v":2,"chain":"%s","seq":%d,"ts":"%s","ingested_at":"%s","action":"retention_purge","detail":{"cutoff":"2000-01-01T00:00:00.000000000Z","policy":{"max_age":"1h0m0s"},"through_mac":"%s","through_seq":%d},"kid":"%s"%s,"prev":"%s","mac":"%s"}`+"\n",
			e.chainID, l.rec.Seq, l.rec.TS, l.rec.IngestedAt, l.rec.Prev, l.rec.Seq-1, l.rec.Kid, epoch, l.rec.Prev, l.rec.MAC)
	}
	for _, tc := range []struct {
		name string
		body []byte
		args []string
		want int
	}{
		{"the whole export", b, []string{"--pubkey", pub, "--checkpoint", history}, 0},
		{"from the first record of a subtree of the first checkpoint, that record edited", from(a+1, editTool), []string{"--pubkey", pub}, 1},
		{"from inside a subtree of the first checkpoint", from(a+2, nil), []string{"--pubkey", pub}, 3},
		{"from inside a subtree of the first checkpoint, with the HMAC key", from(a+2, nil), []string{"--pubkey", pub, "--key-file", e.keyPath}, 0},
		{"a record turned into a retention_purge by an insider holding no key", bytes.TrimPrefix(from(k, fakePurge), fmt.Appendf(nil, `{"export_chain":"%s","from_seq":%d}`+"\n", e.chainID, k)),
			[]string{"--pubkey", pub, "--checkpoint", history}, 1},
	} {
		path := filepath.Join(t.TempDir(), "export.ndjson")
		writeFile(t, path, tc.body)
		code, out, errs := runVerifyFile(t, path, tc.args...)
		pyCode, pyOut := runPyVerify(t, path, tc.args...)
		if code != tc.want || pyCode != tc.want {
			t.Errorf("public key only, %s: verify --file exited %d, verify_export.py %d, want %d\ngo:\n%s%s\npython:\n%s", tc.name, code, pyCode, tc.want, out, errs, pyOut)
		}
	}
}

// forgePurge deletes the records before the first checkpoint record at or
// after seq 40 and appends a retention_purge record naming them, MACed
// with the HMAC key, as a holder of that key can; cutoff "" is the
// ingested_at of the first record kept (after every record purged).
func forgePurge(t *testing.T, db *sql.DB, e *env, cutoff string) {
	t.Helper()
	var k, head int
	var prev []byte
	var kid, kept string
	if err := db.QueryRow(`SELECT seq, prev, ingested_at FROM audit_records WHERE action = 'checkpoint' AND seq >= 40 ORDER BY seq LIMIT 1`).Scan(&k, &prev, &kept); err != nil {
		t.Fatal(err)
	}
	var last []byte
	if err := db.QueryRow(`SELECT seq, kid, payload FROM audit_records ORDER BY seq DESC LIMIT 1`).Scan(&head, &kid, &last); err != nil {
		t.Fatal(err)
	}
	var ep struct {
		Epoch uint64 `json:"epoch"`
	}
	if err := json.Unmarshal(last, &ep); err != nil {
		t.Fatal(err)
	}
	epoch := ""
	if ep.Epoch > 0 {
		epoch = fmt.Sprintf(`,"epoch":%d`, ep.Epoch)
	}
	if cutoff == "" {
		cutoff = kept
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	pl := fmt.Sprintf(`{"v":2,"chain":"%s","seq":%d,"ts":"%s","ingested_at":"%s","action":"retention_purge","detail":{"cutoff":"%s","policy":{"max_age":"1ms"},"through_mac":"%x","through_seq":%d},"kid":"%s"%s,"prev":"%s"}`,
		e.chainID, head+1, now, now, cutoff, prev, k-1, kid, epoch, strings.Repeat("0", 64))
	mustExec(t, db, `DELETE FROM audit_records WHERE seq < ?`, k)
	mustExec(t, db, `INSERT INTO audit_records (chain, seq, ts, ingested_at, action, kid, prev, mac, payload) VALUES (?, ?, ?, ?, 'retention_purge', ?, ?, ?, ?)`,
		e.chainID, head+1, now, now, kid, make([]byte, 32), make([]byte, 32), []byte(pl))
	reMAC(t, db, e.key, head+1)
}

// TestE2E_CheckpointsNoFalseAlarm: verify while the sidecar writes, and
// after a kill -9 at an arbitrary point and a restart, with the witness:
// always valid.
func TestE2E_CheckpointsNoFalseAlarm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pub, wdir := withCheckpoints(t, e)
	appendLines(t, e.logPath, events(0, 50))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 50, p)
	for i := 0; i < 3; i++ {
		appendLines(t, e.logPath, events(50+100*i, 150+100*i))
		if code, out, errs := runVerify(t, e.cfgPath, "--pubkey", pub, "--witness", wdir); code != 0 {
			t.Fatalf("verify while writing exited %d\n%s%s", code, out, errs)
		}
	}
	p.kill9(t)
	p = e.start(t)
	addr := p.addr(t) // up, so that SIGTERM is handled
	waitForEvents(t, db, 350, p)
	if code, out, errs := runVerify(t, e.cfgPath, "--pubkey", pub, "--witness", wdir); code != 0 {
		t.Fatalf("verify after kill -9 exited %d\n%s%s", code, out, errs)
	}
	// The HTTP export of the running sidecar verifies offline too.
	code, body := get(t, addr, e.adminToken, "/v1/audit", url.Values{"format": {"ndjson"}})
	if code != 200 {
		t.Fatalf("GET format=ndjson: %d %s", code, body)
	}
	export := filepath.Join(e.dir, "http-export.ndjson")
	writeFile(t, export, body)
	if code, out, errs := runVerifyFile(t, export, "--pubkey", pub, "--key-file", e.keyPath); code != 0 {
		t.Fatalf("verify of the HTTP export exited %d\n%s%s", code, out, errs)
	}
	var mid string
	if err := db.QueryRow(`SELECT ingested_at FROM audit_records WHERE seq = 100`).Scan(&mid); err != nil {
		t.Fatal(err)
	}
	from := url.Values{"format": {"ndjson"}, "from": {mid}}
	code, body = get(t, addr, e.adminToken, "/v1/audit", from)
	if code != 200 || !bytes.HasPrefix(body, []byte(`{"export_chain":`)) {
		t.Fatalf("GET format=ndjson&from: %d %.200s", code, body)
	}
	writeFile(t, export, body)
	if code, out, errs := runVerifyFile(t, export, "--pubkey", pub, "--key-file", e.keyPath); code != 0 || !strings.Contains(out, "the export starts at seq 100") {
		t.Fatalf("verify of the HTTP export from seq 100 exited %d\n%s%s", code, out, errs)
	}
	if code, _ := get(t, addr, e.acmeToken, "/v1/audit", url.Values{"format": {"ndjson"}}); code != 403 {
		t.Errorf("tenant-scoped export: %d, want 403", code)
	}
	if code, _ := get(t, addr, e.adminToken, "/v1/audit", url.Values{"format": {"ndjson"}, "tool": {"search"}}); code != 400 {
		t.Errorf("filtered export: %d, want 400", code)
	}
	p.stop(t)
	requireExactlyOnce(t, db, 350)
	if code, out, errs := runVerify(t, e.cfgPath, "--pubkey", pub, "--witness", wdir, "--max-age", "1h"); code != 0 {
		t.Fatalf("verify after restart exited %d\n%s%s", code, out, errs)
	}
}

// seqOfEvent is the seq of the record of agent event n.
func seqOfEvent(t *testing.T, db *sql.DB, n int) int {
	t.Helper()
	var seq int
	if err := db.QueryRow(`SELECT seq FROM audit_records WHERE json_extract(payload, '$.detail.n') = ?`, n).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

func exportTo(t *testing.T, cfg, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "export", "--config", cfg)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("export: %v\n%s", err, errb.String())
	}
}

func runVerifyFile(t *testing.T, file string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"verify", "--file", file}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// A spool lost between runs: the chain continues from the sink, and so do
// its checkpoints (the Merkle tree is rebuilt from the stored records),
// which still extend the witnessed one.
func TestE2E_CheckpointsAfterSpoolLoss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pub, wdir := withCheckpoints(t, e)
	appendLines(t, e.logPath, events(0, 20))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 20, p)
	p.stop(t)
	before := witnessedSize(t, wdir, e.chainID)
	if err := os.Remove(e.spoolPath); err != nil {
		t.Fatal(err)
	}
	appendLines(t, e.logPath, events(20, 45))
	p = e.start(t)
	waitForEvents(t, db, 45, p)
	p.stop(t)
	requireExactlyOnce(t, db, 45)
	gap := maxSeq(t, db, ` WHERE action = 'gap'`)
	if gap == 0 || maxSeq(t, db, ` WHERE action = 'checkpoint'`) <= gap {
		t.Fatalf("no checkpoint after the gap record (seq %d)", gap)
	}
	if after := witnessedSize(t, wdir, e.chainID); after <= before {
		t.Fatalf("witness did not advance: %d then %d", before, after)
	}
	if code, out, errs := runVerify(t, e.cfgPath, "--pubkey", pub, "--witness", wdir); code != 0 {
		t.Fatalf("verify exited %d\n%s%s", code, out, errs)
	}
}

// An HTTP witness receives every checkpoint by POST, the last one at
// shutdown included; what it holds is a trusted checkpoint for verify.
func TestE2E_WitnessURL(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var notes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		notes = append(notes, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	e := newEnv(t)
	pub, _ := withCheckpoints(t, e)
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.cfgPath, bytes.Replace(cfg, []byte("  witness_dir:"), []byte("  witness_url: "+srv.URL+"\n  witness_dir:"), 1))
	appendLines(t, e.logPath, events(0, 30))
	p := e.start(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 30, p)
	p.stop(t)
	head := maxSeq(t, db, "")
	mu.Lock()
	last := notes[len(notes)-1]
	n := len(notes)
	mu.Unlock()
	if !strings.Contains(last, fmt.Sprintf("\n%d\n", head-1)) {
		t.Fatalf("the witness's newest of %d checkpoints is not the final one (size %d):\n%s", n, head-1, last)
	}
	held := filepath.Join(e.dir, "held.checkpoint")
	writeFile(t, held, []byte(last))
	if code, out, errs := runVerify(t, e.cfgPath, "--pubkey", pub, "--checkpoint", held); code != 0 {
		t.Fatalf("verify --checkpoint exited %d\n%s%s", code, out, errs)
	}
}

// checkpointsSealed reads audit_records_total{action="checkpoint"}.
func checkpointsSealed(t *testing.T, addr string) (float64, bool) {
	t.Helper()
	_, body := get(t, addr, "", "/metrics", nil)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, `audit_records_total{action="checkpoint"} `); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// Checkpoints and epochs with a PostgreSQL sink: the witness holds what
// PostgreSQL stores, verify of the sink and of an export from it pass, a
// PostgreSQL outage only delays publication, and after the spool is lost
// the Merkle tree is rebuilt from PostgreSQL.
func TestE2E_Postgres_Checkpoints(t *testing.T) {
	t.Parallel()
	c := newPGCluster(t)
	c.start(t)
	e := newPGEnv(t, c)
	e.chainExtra = "  epoch: 300ms\n"
	priv, pub := signingKeys(t, e.dir, "signing")
	wdir := filepath.Join(e.dir, "witness")
	cfg := strings.Replace(pgConfigYAML(e, c.dsn), "  key_file: "+e.keyPath+"\n", fmt.Sprintf(
		"  key_file: %s\n  signing_key_file: %s\n  checkpoint_every: 50\n  checkpoint_interval: 200ms\n  witness_dir: %s\n",
		e.keyPath, priv, wdir), 1)
	writeFile(t, e.cfgPath, []byte(cfg))

	p := e.start(t)
	addr := p.addr(t)
	appendPGEvents(t, e.logPath, 0, 200, 50)
	pgWaitForEvents(t, c, e.chainID, 200, p)
	// While PostgreSQL is down, nothing it lacks is witnessed.
	waitFor(t, "a witnessed checkpoint", func() bool {
		_, err := os.Stat(filepath.Join(wdir, e.chainID+".checkpoint"))
		return err == nil
	})
	c.stop(t)
	before := witnessedSize(t, wdir, e.chainID)
	sealed, _ := checkpointsSealed(t, addr)
	appendPGEvents(t, e.logPath, 200, 300, 50)
	waitFor(t, "checkpoints sealed while PostgreSQL is down", func() bool {
		n, _ := checkpointsSealed(t, addr)
		return n >= sealed+2
	})
	if n := witnessedSize(t, wdir, e.chainID); n > before+2 {
		t.Fatalf("witness moved from %d to %d while PostgreSQL was down", before, n)
	}
	c.start(t)
	pgWaitForEvents(t, c, e.chainID, 300, p)
	p.stop(t)
	for _, args := range [][]string{{"--sink", pgSinkName, "--pubkey", pub, "--witness", wdir}, {"--sink", pgSinkName}} {
		if code, out, errs := runVerify(t, e.cfgPath, args...); code != 0 {
			t.Fatalf("verify %v exited %d\n%s%s", args, code, out, errs)
		}
	}
	export := filepath.Join(e.dir, "export.ndjson")
	exportTo(t, e.cfgPath, export)
	if code, out, errs := runVerifyFile(t, export, "--pubkey", pub, "--witness", wdir); code != 0 {
		t.Fatalf("verify of the export exited %d\n%s%s", code, out, errs)
	}

	// The spool and its epoch key file are lost: the chain, its tree and
	// its epochs continue from PostgreSQL (the key file is still there).
	os.Remove(e.spoolPath)
	os.Remove(e.spoolPath + ".epoch-key")
	seen := witnessedSize(t, wdir, e.chainID)
	appendPGEvents(t, e.logPath, 300, 400, 50)
	p = e.start(t)
	pgWaitForEvents(t, c, e.chainID, 400, p)
	p.stop(t)
	if n := witnessedSize(t, wdir, e.chainID); n <= seen {
		t.Fatalf("no checkpoint after the spool was lost (witness %d, before %d)", n, seen)
	}
	if code, out, errs := runVerify(t, e.cfgPath, "--sink", pgSinkName, "--pubkey", pub, "--witness", wdir); code != 0 {
		t.Fatalf("verify after the spool loss exited %d\n%s%s", code, out, errs)
	}
}

package e2e

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// problemSeq matches the seq (or seq range) of a verify problem line:
// `problem: chain "x" seq N: reason` or `... seq N-M: reason`.
var problemSeq = regexp.MustCompile(`(?m)^problem: chain "[^"]*" seq (\d+)(?:-(\d+))?: `)

// namedSeqs returns whether each seq is named by a problem line of out.
func namedSeqs(out string) func(seq int) bool {
	type span struct{ from, to int }
	var spans []span
	for _, m := range problemSeq.FindAllStringSubmatch(out, -1) {
		from, _ := strconv.Atoi(m[1])
		to := from
		if m[2] != "" {
			to, _ = strconv.Atoi(m[2])
		}
		spans = append(spans, span{from, to})
	}
	return func(seq int) bool {
		for _, s := range spans {
			if s.from <= seq && seq <= s.to {
				return true
			}
		}
		return false
	}
}

func TestE2E_Tamper(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b strings.Builder
	for n := 0; n < 20; n++ {
		tenant := []string{"acme", "globex"}[n%2]
		b.WriteString(event(map[string]any{"action": "tool_call", "tenant": tenant, "user": "u-" + strconv.Itoa(n), "tool": "search", "n": n}))
	}
	appendLines(t, e.logPath, b.String())
	p := e.start(t)
	p.addr(t)
	live := openDB(t, e.dbPath)
	waitForEvents(t, live, 20, p)
	p.stop(t)
	if _, err := live.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	live.Close()
	original, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		tamper   func(t *testing.T, db *sql.DB)
		wantCode int
		wantSeqs []int
	}{
		{name: "untouched copy without triggers", tamper: func(*testing.T, *sql.DB) {}, wantCode: 0},
		{name: "one payload byte changed", wantCode: 1, wantSeqs: []int{5}, tamper: func(t *testing.T, db *sql.DB) {
			pl := payload(t, db, 5)
			pl[len(pl)/2] ^= 0x01
			mustExec(t, db, `UPDATE audit_records SET payload = ? WHERE seq = 5`, pl)
		}},
		{name: "one payload byte changed, still canonical", wantCode: 1, wantSeqs: []int{6}, tamper: func(t *testing.T, db *sql.DB) {
			// detail.n is in no column: only the MAC can tell.
			pl := payload(t, db, 6)
			i := bytes.Index(pl, []byte(`"n":`)) + len(`"n":`)
			if i < len(`"n":`) || pl[i] < '0' || pl[i] > '8' {
				t.Fatalf("no one-digit detail.n in %s", pl)
			}
			pl[i]++
			mustExec(t, db, `UPDATE audit_records SET payload = ? WHERE seq = 6`, pl)
		}},
		{name: "one row deleted", wantCode: 1, wantSeqs: []int{7}, tamper: func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `DELETE FROM audit_records WHERE seq = 7`)
		}},
		{name: "two payloads swapped", wantCode: 1, wantSeqs: []int{9, 10}, tamper: func(t *testing.T, db *sql.DB) {
			p9, p10 := payload(t, db, 9), payload(t, db, 10)
			mustExec(t, db, `UPDATE audit_records SET payload = ? WHERE seq = 9`, p10)
			mustExec(t, db, `UPDATE audit_records SET payload = ? WHERE seq = 10`, p9)
		}},
		{name: "indexed column only", wantCode: 1, wantSeqs: []int{11}, tamper: func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `UPDATE audit_records SET tenant = 'initech' WHERE seq = 11`)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := runVerify(t, tamperedCopy(t, e, original, tc.tamper))
			if code != tc.wantCode {
				t.Fatalf("verify exited %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errs)
			}
			t.Logf("verify exited %d:\n%s", code, out)
			named := namedSeqs(out)
			for _, seq := range tc.wantSeqs {
				if !named(seq) {
					t.Errorf("verify output does not name seq %d:\n%s", seq, out)
				}
			}
		})
	}
}

func TestE2E_AppendOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b strings.Builder
	for n := 0; n < 5; n++ {
		b.WriteString(event(map[string]any{"action": "decision", "tenant": "acme", "n": n}))
	}
	appendLines(t, e.logPath, b.String())
	p := e.start(t)
	p.addr(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, 5, p)
	before := payload(t, db, 3)
	var rowsBefore int
	if err := db.QueryRow(`SELECT count(*) FROM audit_records`).Scan(&rowsBefore); err != nil {
		t.Fatal(err)
	}

	for _, stmt := range []string{
		`UPDATE audit_records SET tenant = 'evil' WHERE seq = 3`,
		`UPDATE audit_records SET payload = x'7b7d' WHERE seq = 3`,
		`UPDATE audit_records SET seq = seq + 1000`,
		`DELETE FROM audit_records WHERE seq = 3`,
		`DELETE FROM audit_records`,
	} {
		if _, err := db.Exec(stmt); err == nil {
			t.Errorf("%s: succeeded on the live database, want an error", stmt)
		} else if !strings.Contains(err.Error(), "append-only") {
			t.Logf("%s: %v", stmt, err)
		}
	}
	if got := payload(t, db, 3); string(got) != string(before) {
		t.Errorf("seq 3 payload changed:\nbefore %s\nafter  %s", before, got)
	}
	var rowsAfter int
	if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE seq <= ?`, rowsBefore).Scan(&rowsAfter); err != nil {
		t.Fatal(err)
	}
	if rowsAfter != rowsBefore {
		t.Errorf("%d of the %d rows left", rowsAfter, rowsBefore)
	}
	p.stop(t)
	requireValid(t, e.cfgPath)
}

// tamperedCopy writes store (a snapshot of e's SQLite file) into a new
// folder, lets tamper change it with the triggers dropped, as someone
// with write access to the file can (nil: left as it is), and returns the
// path of a config of e that reads the copy.
func tamperedCopy(t *testing.T, e *env, store []byte, tamper func(*testing.T, *sql.DB)) string {
	t.Helper()
	c := *e
	c.dir = t.TempDir()
	c.dbPath = filepath.Join(c.dir, "audit-copy.db")
	c.cfgPath = filepath.Join(c.dir, "config.yaml")
	writeFile(t, c.dbPath, store)
	c.writeConfig(t, "")
	if tamper != nil {
		db := openDB(t, c.dbPath)
		dropTriggers(t, db)
		tamper(t, db)
		mustExec(t, db, `PRAGMA wal_checkpoint(TRUNCATE)`)
		db.Close()
	}
	return c.cfgPath
}

func payload(t *testing.T, db *sql.DB, seq int) []byte {
	t.Helper()
	var b []byte
	if err := db.QueryRow(`SELECT payload FROM audit_records WHERE seq = ?`, seq).Scan(&b); err != nil {
		t.Fatalf("payload of seq %d: %v", seq, err)
	}
	return b
}

func mustExec(t *testing.T, db *sql.DB, stmt string, args ...any) {
	t.Helper()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// dropTriggers drops every trigger on audit_records, as someone with write
// access to the file can.
func dropTriggers(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_records'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	if len(names) == 0 {
		t.Fatal("no triggers on audit_records")
	}
	for _, n := range names {
		mustExec(t, db, fmt.Sprintf(`DROP TRIGGER %q`, n))
	}
}

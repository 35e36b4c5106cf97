package sink

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

func TestOpenSQLite_CreatesFileAndSchema(t *testing.T) {
	s, path := openTestSQLite(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode = %o, want 600", mode)
	}
	db := rawDB(t, path)
	var mode string
	var version int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != schemaVersion {
		t.Errorf("user_version = %d, %v; want %d", version, err, schemaVersion)
	}
	var sync int
	if err := s.db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
}

func TestOpenSQLite_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	batch := sealAll(chainRecords("c1", 1, 10))
	for range 3 {
		s, err := OpenSQLite(path, nil)
		if err != nil {
			t.Fatalf("OpenSQLite: %v", err)
		}
		writeOK(t, s, batch)
		if n := countRows(t, s.db); n != len(batch) {
			t.Errorf("rows = %d, want %d", n, len(batch))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	checkSQLiteFile(t, path)
}

func TestOpenSQLite_PathWithURICharacters(t *testing.T) {
	// The driver takes a file: URI, so these must be escaped, not parsed.
	path := filepath.Join(t.TempDir(), "a dir?x=1#frag%20", "audit.db")
	s, err := OpenSQLite(path, nil)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	writeOK(t, s, sealAll(chainRecords("c1", 1, 3)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, rawDB(t, path)); n != 3 {
		t.Errorf("rows in %q = %d, want 3", path, n)
	}
	checkSQLiteFile(t, path)
}

func TestOpenSQLite_Refuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare string
		wantIs  error
	}{
		{"newer schema", `PRAGMA user_version = 99`, ErrSchemaVersion},
		{"foreign table without version", `CREATE TABLE audit_records (x)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			db := rawDB(t, path)
			if _, err := db.Exec(tt.prepare); err != nil {
				t.Fatal(err)
			}
			s, err := OpenSQLite(path, nil)
			if err == nil {
				s.Close()
				t.Fatal("OpenSQLite succeeded")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want %v", err, tt.wantIs)
			}
		})
	}
}

func TestWrite_RoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		recs := chainRecords("c1", 1, 5)
		recs[2].User, recs[2].Approver, recs[2].Source = "", "ops-lead", nil
		batch := sealAll(recs)
		writeOK(t, s, batch)
		got, err := s.Search(context.Background(), Filter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(batch) {
			t.Fatalf("got %d rows, want %d", len(got), len(batch))
		}
		for i := range batch {
			want, err := rowOf(&batch[i])
			if err != nil {
				t.Fatal(err)
			}
			if d := diffRow(got[i], want); d != "" {
				t.Errorf("row %d: %s", i, d)
			}
			if got[i].TS != record.FormatTime(recs[i].TS) || len(got[i].Prev) != 32 {
				t.Errorf("row %d: ts %q prev %x", i, got[i].TS, got[i].Prev)
			}
		}
	})
}

func TestWrite_Replay(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		all := sealAll(chainRecords("c1", 1, 300))
		tests := []struct {
			name    string
			batches [][]record.Sealed
			want    int
		}{
			{"same batch twice", [][]record.Sealed{all[:100], all[:100]}, 100},
			{"overlapping batches", [][]record.Sealed{all[:100], all[50:200], all[150:300]}, 300},
			{"older subset after newer", [][]record.Sealed{all[:300], all[10:20], all[299:]}, 300},
			{"duplicate inside one batch", [][]record.Sealed{append(append([]record.Sealed{}, all[:10]...), all[5:15]...)}, 15},
			{"empty batch", [][]record.Sealed{nil, all[:1]}, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				for _, b := range tt.batches {
					writeOK(t, s, b)
				}
				if n := countStored(t, s); n != tt.want {
					t.Errorf("rows = %d, want %d", n, tt.want)
				}
			})
		}
	})
}

// secretMarker stands for payload content that must never reach an error.
const secretMarker = "dana@example.com"

func TestWrite_Conflict(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		stored := chainRecords("c1", 1, 10)
		stored[6].Detail = []byte(`{"note":"` + secretMarker + `"}`)
		changed := func(seq uint64, edit func(*record.Sealed)) record.Sealed {
			s := seal(stored[seq-1])
			edit(&s)
			return s
		}
		tests := []struct {
			name  string
			batch []record.Sealed
		}{
			{"other payload and mac", []record.Sealed{changed(7, func(s *record.Sealed) {
				r := *stored[6]
				r.Outcome = "failure"
				*s = seal(&r)
			})}},
			{"same payload other mac", []record.Sealed{changed(7, func(s *record.Sealed) { s.MAC[0] ^= 1 })}},
			{"other payload same mac", []record.Sealed{changed(7, func(s *record.Sealed) {
				r := *stored[6]
				r.Tool = "payments.void"
				s.Payload = record.AppendCanonical(nil, &r)
			})}},
			{"conflict after new records", append(sealAll(chainRecords("c1", 11, 20)),
				changed(7, func(s *record.Sealed) { s.MAC[31] ^= 1 }))},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				writeOK(t, s, sealAll(stored))
				err := s.Write(context.Background(), tt.batch)
				if !errors.Is(err, ErrConflict) {
					t.Fatalf("err = %v, want ErrConflict", err)
				}
				var re *RecordError
				if !errors.As(err, &re) || re.Chain != "c1" || re.Seq != 7 {
					t.Errorf("err = %#v, want a *RecordError for c1 seq 7", err)
				}
				if !strings.Contains(err.Error(), `"c1"`) || !strings.Contains(err.Error(), "7") {
					t.Errorf("error %q does not name chain and seq", err)
				}
				if strings.Contains(err.Error(), secretMarker) {
					t.Errorf("error %q quotes the payload", err)
				}
				// The whole batch was refused and the stored record is intact.
				if n := countStored(t, s); n != len(stored) {
					t.Errorf("rows = %d, want %d", n, len(stored))
				}
				if !bytes.Equal(storedPayload(t, s, "c1", 7), seal(stored[6]).Payload) {
					t.Error("stored payload changed")
				}
			})
		}
	})
}

func TestWrite_BadRecord(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		good := newRecord("c1", 3, baseTS)
		good.Detail = []byte(`{"note":"` + secretMarker + `"}`)
		edit := func(f func(r *record.Record, s *record.Sealed)) record.Sealed {
			r := *good
			s := seal(&r)
			f(&r, &s)
			return s
		}
		tests := []struct {
			name  string
			s     record.Sealed
			check string // text the reason must contain
		}{
			{"not json", edit(func(_ *record.Record, s *record.Sealed) {
				s.Payload = []byte(`{"chain":"c1",` + secretMarker)
			}), "syntax error at byte"},
			{"wrong field type", edit(func(_ *record.Record, s *record.Sealed) {
				s.Payload = []byte(`{"v":1,"chain":"c1","seq":"` + secretMarker + `"}`)
			}), `"seq": not an unsigned integer`},
			{"bad time", edit(func(_ *record.Record, s *record.Sealed) {
				s.Payload = bytes.Replace(s.Payload, []byte(`"ts":"2026`), []byte(`"ts":"`+secretMarker+`2026`), 1)
			}), "RFC 3339"},
			{"other chain", edit(func(r *record.Record, s *record.Sealed) { s.Chain = "c2" }), "another chain position"},
			{"other seq", edit(func(r *record.Record, s *record.Sealed) { s.Seq = 4 }), "another chain position"},
			{"seq zero", edit(func(r *record.Record, s *record.Sealed) {
				r.Seq = 0
				*s = seal(r)
			}), "seq out of range"},
			{"short prev", edit(func(r *record.Record, s *record.Sealed) {
				r.Prev = "abcd"
				*s = seal(r)
			}), "prev"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				batch := append(sealAll(chainRecords("c9", 1, 5)), tt.s)
				err := s.Write(context.Background(), batch)
				if !errors.Is(err, ErrBadRecord) {
					t.Fatalf("err = %v, want ErrBadRecord", err)
				}
				var re *RecordError
				if !errors.As(err, &re) || re.Chain != tt.s.Chain || re.Seq != tt.s.Seq {
					t.Errorf("err = %#v, want a *RecordError for %q seq %d", err, tt.s.Chain, tt.s.Seq)
				}
				if !strings.Contains(err.Error(), tt.check) {
					t.Errorf("error %q does not contain %q", err, tt.check)
				}
				if strings.Contains(err.Error(), secretMarker) {
					t.Errorf("error %q quotes the payload", err)
				}
				if n := countStored(t, s); n != 0 {
					t.Errorf("rows = %d, want 0: a bad record must fail the whole batch", n)
				}
			})
		}
	})
}

func TestWrite_CanceledContext(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Write(ctx, sealAll(chainRecords("c1", 1, 10))); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if n := countStored(t, s); n != 0 {
			t.Errorf("rows = %d, want 0", n)
		}
	})
}

func TestSQLite_AppendOnly(t *testing.T) {
	const msg = "audit_records is append-only"
	tests := []struct {
		name    string
		stmt    string
		wantErr bool
	}{
		{"update one", `UPDATE audit_records SET outcome = 'failure' WHERE seq = 2`, true},
		{"update payload", `UPDATE audit_records SET payload = x'00'`, true},
		{"delete one", `DELETE FROM audit_records WHERE seq = 2`, true},
		{"delete all", `DELETE FROM audit_records`, true},
		{"upsert", `INSERT INTO audit_records SELECT * FROM audit_records WHERE seq = 2
			ON CONFLICT (chain, seq) DO UPDATE SET outcome = 'failure'`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openTestSQLite(t)
			batch := sealAll(chainRecords("c1", 1, 3))
			writeOK(t, s, batch)
			db := rawDB(t, path)
			_, err := db.Exec(tt.stmt)
			if tt.wantErr && (err == nil || !strings.Contains(err.Error(), msg)) {
				t.Errorf("err = %v, want %q", err, msg)
			}
			if !tt.wantErr && err != nil {
				t.Errorf("err = %v", err)
			}
			got, err := s.Search(context.Background(), Filter{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(batch) {
				t.Fatalf("rows = %d, want %d", len(got), len(batch))
			}
			for i := range got {
				if !bytes.Equal(got[i].Payload, batch[i].Payload) || got[i].Outcome != "success" {
					t.Errorf("seq %d changed", got[i].Seq)
				}
			}
		})
	}
}

// Two handles on one file (as two processes would have) write
// concurrently while a third reads: busy_timeout and BEGIN IMMEDIATE make
// them queue instead of failing with SQLITE_BUSY.
func TestSQLite_Write_ConcurrentHandles(t *testing.T) {
	s, path := openTestSQLite(t)
	other, err := OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i, h := range []*SQLite{s, other} {
		chain := []string{"a", "b"}[i]
		wg.Go(func() {
			for from := uint64(1); from <= 1000; from += 100 {
				if err := h.Write(context.Background(), sealAll(chainRecords(chain, from, from+99))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := s.Search(context.Background(), Filter{Tenant: "acme", Limit: 100}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := countRows(t, s.db); n != 2000 {
		t.Errorf("rows = %d, want 2000", n)
	}
}

// A database the sink creates, or finds created empty in WAL mode (as an
// operator or a harness would), gets sqlitePageSize pages and stays in
// WAL mode; one with a schema keeps its page size.
func TestSQLite_PageSizeOfNewDatabases(t *testing.T) {
	pageSize := func(path string) int {
		t.Helper()
		db, err := sql.Open("sqlite", rawDSN(path))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`PRAGMA page_size`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	precreate := func(path string, stmts ...string) {
		t.Helper()
		db, err := sql.Open("sqlite", rawDSN(path))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if _, err := db.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	emptyWAL := filepath.Join(dir, "empty-wal.db")
	precreate(emptyWAL, `PRAGMA page_size = 4096`, `PRAGMA journal_mode = WAL`)
	withSchema := filepath.Join(dir, "schema.db")
	precreate(withSchema, `PRAGMA page_size = 4096`, `PRAGMA journal_mode = WAL`, `CREATE TABLE other (x)`)
	for path, want := range map[string]int{fresh: sqlitePageSize, emptyWAL: sqlitePageSize, withSchema: 4096} {
		s, err := OpenSQLite(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), sealAll(chainRecords("c", 1, 3))); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got := pageSize(path); got != want {
			t.Errorf("%s: page size %d, want %d", filepath.Base(path), got, want)
		}
	}
}

// While another connection has the new database open, it cannot leave
// WAL mode to change its page size: the sink tries for a while, then opens
// it with the page size it has, in WAL mode. Once the reader is gone (a
// monitoring poll that ends), the change is made.
func TestSQLite_PageSizeWithAReader(t *testing.T) {
	for _, release := range []time.Duration{0, 100 * time.Millisecond} {
		path := filepath.Join(t.TempDir(), "busy.db")
		reader, err := sql.Open("sqlite", rawDSN(path))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reader.Exec(`PRAGMA journal_mode = WAL`); err != nil {
			t.Fatal(err)
		}
		tx, err := reader.Begin()
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		want := 4096
		if release > 0 {
			want = sqlitePageSize
			time.AfterFunc(release, func() { tx.Rollback(); reader.Close() }) // the poll ends
		}
		s, err := OpenSQLite(path, nil)
		if err != nil {
			t.Fatalf("reader held %v: %v", release, err)
		}
		if err := s.Write(context.Background(), sealAll(chainRecords("c", 1, 3))); err != nil {
			t.Fatal(err)
		}
		var size int
		var mode string
		s.db.QueryRow(`PRAGMA page_size`).Scan(&size)
		s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
		s.Close()
		tx.Rollback()
		reader.Close()
		if size != want || mode != "wal" {
			t.Errorf("reader released after %v: page size %d, journal %s; want %d, wal", release, size, mode, want)
		}
	}
}

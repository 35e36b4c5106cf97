package sink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A deliverer that keeps up with a quiet agent writes a record or a few
// per batch. Every such commit writes several pages into the WAL (the
// table's, each index's, the header's) for well under a page of
// payload: the WAL stays within its bound all the same.
func TestSQLite_SmallBatchesKeepTheWALBounded(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		t.Run(fmt.Sprintf("indexed=%v", indexed), func(t *testing.T) {
			var opts SQLiteOptions
			if indexed { // more pages written per record
				opts.QueryIndexes = []string{"user", "session"}
			}
			s, path := openTestSQLiteWith(t, opts)
			const n = 3000
			payload := 0
			var most int64
			for seq := uint64(1); seq <= n; seq++ {
				b := sealAll(chainRecords("c", seq, seq))
				payload += len(b[0].Payload)
				writeOK(t, s, b)
				most = max(most, walFrames(t, path))
			}
			if payload < checkpointEvery {
				t.Fatalf("the test wrote %d bytes of payload, less than a checkpoint's worth (%d): it proves nothing", payload, checkpointEvery)
			}
			// The bound, and what comes on top of it while the checkpoint
			// that finds the WAL over it runs.
			if limit := int64(2 * walMaxFrames); most > limit {
				t.Fatalf("single-record batches grew the WAL to %d frames, bound %d (with its slack, %d)", most, walMaxFrames, limit)
			}
			if got := countRows(t, rawDB(t, path)); got != n {
				t.Fatalf("%d rows, want %d", got, n)
			}
		})
	}
}

// Close may be called twice, and at once from two goroutines, with a
// checkpoint kicked and under way; a Write after Close fails and stores
// nothing, even when the file was replaced meanwhile: a closed store is
// not opened again.
func TestSQLite_CloseTwiceWithACheckpointKicked(t *testing.T) {
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "audit.db")
		s, err := OpenSQLite(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		writeOK(t, s, bigRecords("c", 1, 2500)) // more than a checkpoint's worth: kicks
		s.committed(checkpointEvery)            // and another, pending
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = s.Close() }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: Close: %v", round, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: a third Close: %v", round, err)
		}
		if err := s.Write(context.Background(), bigRecords("c", 2501, 2510)); err == nil {
			t.Fatalf("round %d: a Write after Close succeeded", round)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
		if err := s.Write(context.Background(), bigRecords("c", 2501, 2510)); err == nil || errors.Is(err, ErrReplaced) {
			t.Fatalf("round %d: a Write after Close, the file deleted: err = %v, want a failure", round, err)
		}
		if err := s.CheckStore(); err != nil {
			t.Fatalf("round %d: CheckStore after Close: %v", round, err)
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatalf("round %d: a store closed was opened again at its path", round)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// The file is moved away, again and again, while a writer writes and the
// checkpointer checkpoints: every batch a Write acknowledged is in the
// file of the store it went to (a moved file keeps what its WAL held),
// and no record of a moved file reaches the store opened at the path.
// Each store's records are a chain of its own: the writer moves to the
// next chain when a Write reports the replacement.
func TestSQLite_MovedWhileTheCheckpointerRuns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.db")
	s, err := OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const moves, per = 6, 400
	acked := make([]uint64, moves+1) // by store: the last seq acknowledged
	var ackedMu sync.Mutex
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		epoch, next := 0, uint64(1)
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			err := s.Write(context.Background(), bigRecords(fmt.Sprintf("e%d", epoch), next, next+per-1))
			switch {
			case err == nil:
				ackedMu.Lock()
				acked[epoch] = next + per - 1
				ackedMu.Unlock()
				next += per
			case errors.Is(err, ErrReplaced):
				epoch, next = epoch+1, 1
				if epoch > moves {
					done <- fmt.Errorf("more replacements than moves: %w", err)
					return
				}
			default:
				done <- err
				return
			}
		}
	}()
	waitAcked := func(epoch int, seq uint64) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ackedMu.Lock()
			a := acked[epoch]
			ackedMu.Unlock()
			if a >= seq {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("store %d: the writer did not get to seq %d", epoch, seq)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for m := range moves {
		waitAcked(m, uint64(3+m)*per) // a few checkpoints' worth, and a different amount each time
		if err := os.Rename(path, filepath.Join(dir, fmt.Sprintf("moved-%d.db", m))); err != nil {
			t.Fatal(err)
		}
	}
	waitAcked(moves, 2*per)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(file string, epoch int) {
		t.Helper()
		db := rawDB(t, file)
		var ok string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Errorf("%s: integrity_check = %q, %v", file, ok, err)
		}
		rows, err := db.Query(`SELECT chain, count(*), min(seq), max(seq) FROM audit_records GROUP BY chain`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		want := fmt.Sprintf("e%d", epoch)
		for rows.Next() {
			var ch string
			var n, lo, hi uint64
			if err := rows.Scan(&ch, &n, &lo, &hi); err != nil {
				t.Fatal(err)
			}
			if ch != want {
				t.Errorf("%s holds %d records of chain %s, the records of another store", file, n, ch)
				continue
			}
			if lo != 1 || hi != n || n%per != 0 || hi < acked[epoch] {
				t.Errorf("%s: chain %s holds seqs %d-%d (%d rows), %d acknowledged", file, ch, lo, hi, n, acked[epoch])
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	for m := range moves {
		check(filepath.Join(dir, fmt.Sprintf("moved-%d.db", m)), m)
	}
	check(path, moves)
}

// killChildEnv names the database the child process of
// TestSQLite_KilledWhileCheckpointing writes.
const killChildEnv = "AUDIT_SINK_KILL_CHILD_DB"

// The child of TestSQLite_KilledWhileCheckpointing: it writes batches of
// big records until it is killed, and prints the last seq of each batch
// once Write has returned.
func TestSQLite_KillChildWriter(t *testing.T) {
	path := os.Getenv(killChildEnv)
	if path == "" {
		t.Skip("the child process of TestSQLite_KilledWhileCheckpointing")
	}
	s, err := OpenSQLite(path, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	var last uint64
	err = s.Scan(context.Background(), "c", func(r Row) error { last = r.Seq; return nil })
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	const per = 300
	for next := last + 1; ; next += per {
		if err := s.Write(context.Background(), bigRecords("c", next, next+per-1)); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		fmt.Println("acked", next+per-1)
	}
}

// A process killed (SIGKILL) at any moment while it writes, the WAL
// being checkpointed beside it, loses no acknowledged batch and keeps
// every batch whole; the file passes SQLite's integrity check, and the
// next process continues the chain.
func TestSQLite_KilledWhileCheckpointing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	const per = 300
	var acked uint64
	for round := range 6 {
		cmd := exec.Command(exe, "-test.run=^TestSQLite_KillChildWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a different number of batches each round: 4 batches
		// of big records is over a checkpoint's worth.
		killAt := 4 + round*5
		sc := bufio.NewScanner(out)
		seen := 0
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error") {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child: %s", round, line)
			}
			seq, ok := strings.CutPrefix(line, "acked ")
			if !ok {
				continue
			}
			v, err := strconv.ParseUint(seq, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			acked = v
			if seen++; seen == killAt {
				// Not always right after an acknowledgement: the next
				// batch under way, or a checkpoint.
				time.Sleep(time.Duration(round%3) * 3 * time.Millisecond)
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		go func() {
			for sc.Scan() { // drain, so the child is never blocked on its output
			}
		}()
		cmd.Wait()
		if seen < killAt {
			t.Fatalf("round %d: the child stopped after %d batches", round, seen)
		}
		db := rawDB(t, path)
		var ok string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("round %d: integrity_check = %q, %v", round, ok, err)
		}
		var n, hi uint64
		if err := db.QueryRow(`SELECT count(*), coalesce(max(seq), 0) FROM audit_records WHERE chain = 'c'`).Scan(&n, &hi); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if n != hi || n%per != 0 || n < acked {
			t.Fatalf("round %d: %d rows, seqs up to %d, after %d were acknowledged (batches of %d)", round, n, hi, acked, per)
		}
		t.Logf("round %d: %d acknowledged, %d stored", round, acked, n)
	}
	checkSQLiteFile(t, path)
}

// Writers, a reader, purges, the checkpointer and a file replaced (another
// store renamed over the path) three times, all at once: nothing
// deadlocks, every Write either stores its batch or fails, each file
// passes SQLite's integrity check, and the replacing store's own records
// are whole in it (no page of the replaced store's WAL reached it).
func TestSQLite_ReplacedUnderConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.db")
	const xRows = 500
	mkReplacement := func(i int) string {
		p := filepath.Join(dir, fmt.Sprintf("replacement-%d.db", i))
		r, err := OpenSQLite(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		writeOK(t, r, bigRecords(fmt.Sprintf("x%d", i), 1, xRows))
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p + "-wal"); err == nil {
			t.Fatalf("%s: a -wal is left after Close", p)
		}
		return p
	}
	repl := []string{mkReplacement(0), mkReplacement(1), mkReplacement(2)}
	s, err := OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := uint64(1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Write(context.Background(), bigRecords(fmt.Sprintf("w%d", g), next, next+199))
				switch {
				case err == nil:
					next += 200
				case errors.Is(err, ErrReplaced):
				default:
					errs <- fmt.Errorf("writer %d: %w", g, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // retention: a chain of its own, written then purged
		defer wg.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			ch := fmt.Sprintf("p%d", k)
			recs := append(chainRecords(ch, 1, 300), purgeRecord(ch, 301, 300, baseTS.Add(time.Hour)))
			if err := s.Write(context.Background(), sealAll(recs)); err != nil {
				continue // replaced meanwhile: the next chain
			}
			// A purge may find its chain gone to a replaced file: it may
			// fail, but not hang.
			_ = s.Purge(context.Background(), Purge{Chain: ch, Seq: 301, Through: 300, Cutoff: baseTS.Add(time.Hour)})
		}
	}()
	wg.Add(1)
	go func() { // queries
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = s.Search(context.Background(), Filter{Limit: 50})
		}
	}()
	for i, p := range repl {
		time.Sleep(time.Duration(50+30*i) * time.Millisecond)
		if err := os.Rename(p, path); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(60 * time.Second):
		t.Fatal("the writers, the purger or the reader did not stop: a deadlock")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	var n, lo, hi int
	if err := db.QueryRow(`SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM audit_records WHERE chain = 'x2'`).Scan(&n, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if n != xRows || lo != 1 || hi != xRows {
		t.Fatalf("the replacing store's chain: %d rows, seqs %d-%d, want %d", n, lo, hi, xRows)
	}
	var others int
	if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE chain IN ('x0', 'x1')`).Scan(&others); err != nil {
		t.Fatal(err)
	}
	if others != 0 {
		t.Fatalf("%d records of the replaced stores reached the store at the path", others)
	}
	checkSQLiteFile(t, path)
}

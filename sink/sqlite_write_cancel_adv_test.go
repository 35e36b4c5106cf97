package sink

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// A Write of a batch that overlaps stored records (its first rows are
// replays, checked against the stored ones under the Write's context)
// cancelled at every look at its context, one after the other, the
// checks between rows included: it stores all of the batch or none of
// it, and the same (only) connection takes the next Write. Each attempt
// writes a chain of its own.
func TestSQLiteWrite_CancelledAtEveryLookAllOrNothing(t *testing.T) {
	s, path := openTestSQLite(t)
	s.db.SetMaxOpenConns(2) // hold, and one
	db := rawDB(t, path)
	const storedTo, from, to = 80, 60, 3*cancelCheck + 70
	chainRows := func(ch string) int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM audit_records WHERE chain = ?`, ch).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sawMidLoop := false
	for n := int64(1); ; n++ {
		ch := fmt.Sprintf("c%d", n)
		writeOK(t, s, sealAll(chainRecords(ch, 1, storedTo)))
		batch := sealAll(chainRecords(ch, from, to))
		ctx := newDoneAfter(n)
		err := s.Write(ctx, batch)
		got := chainRows(ch)
		switch {
		case err == nil && got != to:
			t.Fatalf("cancel at look #%d: Write succeeded with %d of %d rows stored", n, got, to)
		case err != nil && got != storedTo:
			t.Fatalf("cancel at look #%d: Write failed (%v) with %d rows stored, want %d", n, err, got, storedTo)
		case err != nil && !errors.Is(err, context.Canceled):
			t.Fatalf("cancel at look #%d: err = %v, want context.Canceled", n, err)
		}
		if err != nil && n > 2*(storedTo-from+1) {
			sawMidLoop = true
		}
		writeOK(t, s, batch)
		if got := chainRows(ch); got != to {
			t.Fatalf("cancel at look #%d: %d rows after the next Write, want %d", n, got, to)
		}
		if ctx.calls.Load() < n {
			break // the Write looked fewer times: every look was cancelled once
		}
		if n > 1000 {
			t.Fatal("the Write never ran out of looks")
		}
	}
	if !sawMidLoop {
		t.Fatal("no cancellation past the replayed rows ended the Write")
	}
}

// A context whose deadline passes while a Write waits for the write lock
// ends the wait; the Write stores nothing, and once the lock is released
// a Write on the same store succeeds.
func TestSQLiteWrite_DeadlineWhileWaitingForTheLock(t *testing.T) {
	s, path := openTestSQLite(t)
	writeOK(t, s, sealAll(chainRecords("c", 1, 5)))
	other := rawDB(t, path)
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`CREATE TABLE lock_holder (x)`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = s.Write(ctx, sealAll(chainRecords("c", 6, 300)))
	cancel()
	if err == nil {
		t.Fatal("a Write succeeded while another connection held the write lock")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, other); n != 5 {
		t.Fatalf("%d rows after the failed Write, want 5", n)
	}
	writeOK(t, s, sealAll(chainRecords("c", 1, 300)))
	if n := countRows(t, other); n != 300 {
		t.Fatalf("%d rows, want 300", n)
	}
}

// A statement that fails in the middle of a large batch (here a trigger
// the test adds, as a full disk or a constraint would) rolls the whole
// batch back, including rows written before it in the same transaction
// and rows an AFTER trigger aborts once written; the store then takes
// the batch once the cause is gone.
func TestSQLiteWrite_FailureMidBatchRollsAllBack(t *testing.T) {
	for _, trig := range []string{
		`CREATE TRIGGER adv_fail BEFORE INSERT ON audit_records WHEN NEW.seq = 700 BEGIN SELECT RAISE(ABORT, 'adv'); END`,
		`CREATE TRIGGER adv_fail AFTER INSERT ON audit_records WHEN NEW.seq = 700 BEGIN SELECT RAISE(ABORT, 'adv'); END`,
		`CREATE TRIGGER adv_fail BEFORE INSERT ON audit_records WHEN NEW.seq = 700 BEGIN SELECT RAISE(ROLLBACK, 'adv'); END`,
		`CREATE TRIGGER adv_fail BEFORE INSERT ON audit_records WHEN NEW.seq = 700 BEGIN SELECT RAISE(IGNORE); END`,
	} {
		s, path := openTestSQLite(t)
		s.db.SetMaxOpenConns(2) // hold, and one
		writeOK(t, s, sealAll(chainRecords("c", 1, 100)))
		db := rawDB(t, path)
		if _, err := db.Exec(trig); err != nil {
			t.Fatal(err)
		}
		batch := sealAll(chainRecords("c", 50, 1000))
		if err := s.Write(context.Background(), batch); err == nil {
			t.Fatalf("%s: the Write succeeded", trig)
		}
		if n := countRows(t, db); n != 100 {
			t.Fatalf("%s: %d rows after the failed Write, want 100", trig, n)
		}
		if _, err := db.Exec(`DROP TRIGGER adv_fail`); err != nil {
			t.Fatal(err)
		}
		writeOK(t, s, batch)
		if n := countRows(t, db); n != 1000 {
			t.Fatalf("%s: %d rows, want 1000", trig, n)
		}
	}
}

// A conflict at the last record of a large batch whose first part
// replays stored records: nothing of the batch is stored, the error
// names the record, and a replay of the stored part alone is skipped.
func TestSQLiteWrite_ConflictAtTheEndOfAPartialReplay(t *testing.T) {
	s, path := openTestSQLite(t)
	s.db.SetMaxOpenConns(2)
	writeOK(t, s, sealAll(chainRecords("c", 1, 500)))
	writeOK(t, s, sealAll(chainRecords("c", 900, 900)))
	recs := chainRecords("c", 400, 900)
	recs[len(recs)-1].Outcome = "failure"
	err := s.Write(context.Background(), sealAll(recs))
	var re *RecordError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &re) || re.Seq != 900 {
		t.Fatalf("err = %v, want ErrConflict at seq 900", err)
	}
	db := rawDB(t, path)
	if n := countRows(t, db); n != 501 {
		t.Fatalf("%d rows, want 501", n)
	}
	// A batch with the same record twice, differently: refused.
	dup := sealAll(chainRecords("c", 501, 510))
	other := chainRecords("c", 505, 505)
	other[0].Outcome = "failure"
	dup = append(dup, sealAll(other)...)
	if err := s.Write(context.Background(), dup); !errors.Is(err, ErrConflict) {
		t.Fatalf("a batch holding seq 505 twice, differently: err = %v, want ErrConflict", err)
	}
	// The same record twice, identically: stored once.
	same := append(sealAll(chainRecords("c", 501, 510)), sealAll(chainRecords("c", 505, 505))...)
	writeOK(t, s, same)
	writeOK(t, s, sealAll(chainRecords("c", 1, 899)))
	if n := countRows(t, db); n != 900 {
		t.Fatalf("%d rows, want 900", n)
	}
}

package sink

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
)

// doneAfter is a context that is cancelled at the n-th look at it,
// whether the look is a call of Done or of Err (insert looks at Err alone
// between its rows): a cancellation at every point of a Write, one after
// the other.
type doneAfter struct {
	context.Context
	n, calls atomic.Int64
	once     sync.Once
	ch       chan struct{}
}

func newDoneAfter(n int64) *doneAfter {
	c := &doneAfter{Context: context.Background(), ch: make(chan struct{})}
	c.n.Store(n)
	return c
}

func (c *doneAfter) look() {
	if c.calls.Add(1) >= c.n.Load() {
		c.once.Do(func() { close(c.ch) })
	}
}

func (c *doneAfter) Done() <-chan struct{} {
	c.look()
	return c.ch
}

func (c *doneAfter) Err() error {
	c.look()
	select {
	case <-c.ch:
		return context.Canceled
	default:
		return nil
	}
}

// A Write cancelled at any point stores all of its batch or none, and
// leaves the connection usable: the next Write, on the same (only)
// connection, stores the batch.
func TestSQLiteWrite_CancelledAnywhereAllOrNothing(t *testing.T) {
	batch := sealAll(chainRecords("c", 1, 3*cancelCheck+7))
	sawError, sawOK := false, false
	for n := int64(1); n <= 30; n++ {
		s, path := openTestSQLite(t)
		s.db.SetMaxOpenConns(2) // hold, and one
		err := s.Write(newDoneAfter(n), batch)
		stored := countRows(t, rawDB(t, path))
		switch {
		case err == nil && stored != len(batch):
			t.Fatalf("cancel at Done #%d: Write succeeded with %d of %d rows stored", n, stored, len(batch))
		case err != nil && stored != 0:
			t.Fatalf("cancel at Done #%d: Write failed (%v) with %d rows stored", n, err, stored)
		}
		if err != nil {
			t.Logf("cancel at Done #%d: %v", n, err)
		}
		sawError = sawError || err != nil
		sawOK = sawOK || err == nil
		if err := s.Write(context.Background(), batch); err != nil {
			t.Fatalf("cancel at Done #%d (%v): the next Write fails: %v", n, err, err)
		}
		if got := countRows(t, rawDB(t, path)); got != len(batch) {
			t.Fatalf("cancel at Done #%d: %d rows after the next Write, want %d", n, got, len(batch))
		}
	}
	if !sawError {
		t.Fatal("no cancellation reached the write")
	}
	_ = sawOK
}

// Two goroutines writing to one sink at once, with values that differ in
// every column from record to record: no value of one Write lands in the
// other's rows (checkSQLiteFile compares every stored row with its
// payload when the test ends), replays are skipped, conflicts refused.
func TestSQLiteWrite_ConcurrentWritersKeepTheirValues(t *testing.T) {
	s, path := openTestSQLite(t)
	const per = 2*cancelCheck + 9
	mk := func(ch string, from, to uint64) []record.Sealed {
		recs := chainRecords(ch, from, to)
		for _, r := range recs {
			r.User = fmt.Sprintf("user-%s-%d", ch, r.Seq)
			r.Tool = fmt.Sprintf("tool-%d", r.Seq%5)
			r.Session = fmt.Sprintf("sess-%s-%d", ch, r.Seq)
			r.Arguments = fmt.Appendf(nil, `{"n":%d,"chain":%q}`, r.Seq, ch)
		}
		return sealAll(recs)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := fmt.Sprintf("chain-%d", g)
			for round := range 5 {
				from := uint64(round*per + 1)
				b := mk(ch, from, from+per-1)
				if err := s.Write(context.Background(), b); err != nil {
					errs <- fmt.Errorf("%s round %d: %w", ch, round, err)
					return
				}
				// A replay overlapping the last two batches: skipped.
				if round > 0 {
					if err := s.Write(context.Background(), mk(ch, from-5, from+5)); err != nil {
						errs <- fmt.Errorf("%s round %d replay: %w", ch, round, err)
						return
					}
				}
				// A conflicting record: refused, and nothing of its batch stored.
				bad := mk(ch, from+per-1, from+per+3)
				bad[0].Payload = bytes.Replace(bad[0].Payload, []byte(`"n":`), []byte(`"m":`), 1)
				if err := s.Write(context.Background(), bad); !errors.Is(err, ErrConflict) {
					errs <- fmt.Errorf("%s round %d conflict: err = %v, want ErrConflict", ch, round, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := countRows(t, rawDB(t, path)), 4*5*per; got != want {
		t.Errorf("%d rows stored, want %d", got, want)
	}
	for g := range 4 {
		ch := fmt.Sprintf("chain-%d", g)
		want := mk(ch, 1, 5*per)
		i := 0
		err := s.Scan(context.Background(), ch, func(r Row) error {
			if i >= len(want) || r.Seq != want[i].Seq || !bytes.Equal(r.Payload, want[i].Payload) || !bytes.Equal(r.MAC, want[i].MAC[:]) {
				return fmt.Errorf("row %d (seq %d) is not the record written", i, r.Seq)
			}
			i++
			return nil
		})
		if err != nil || i != len(want) {
			t.Errorf("%s: %v, %d rows", ch, err, i)
		}
	}
}

// After a failed Write (a conflict in its last chunk), the same
// connection takes the next Write and a purge.
func TestSQLiteWrite_ConflictThenWriteThenPurge(t *testing.T) {
	s, path := openTestSQLite(t)
	s.db.SetMaxOpenConns(2) // hold, and one
	writeOK(t, s, sealAll(chainRecords("c", 1, 10)))
	recs := chainRecords("c", 1, 2*cancelCheck+3)
	recs[5].Outcome = "failure" // seq 6 is stored otherwise
	if err := s.Write(context.Background(), sealAll(recs)); !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	db := rawDB(t, path)
	if n := countRows(t, db); n != 10 {
		t.Fatalf("%d rows after a refused batch, want 10", n)
	}
	all := append(chainRecords("c", 1, 2*cancelCheck+3), purgeRecord("c", 2*cancelCheck+4, 99, baseTS.Add(time.Hour)))
	writeOK(t, s, sealAll(all))
	if n := countRows(t, db); n != len(all) {
		t.Fatalf("%d rows, want %d", n, len(all))
	}
	if err := s.Purge(context.Background(), Purge{Chain: "c", Seq: 2*cancelCheck + 4, Through: 99, Cutoff: baseTS.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db); n != len(all)-99 {
		t.Fatalf("%d rows after the purge, want %d", n, len(all)-99)
	}
	// And a Write after the purge still works.
	writeOK(t, s, sealAll(chainRecords("d", 1, cancelCheck+1)))
}

// A sealed record whose decoded prev (Indexed.PrevMAC) disagrees with the
// prev its payload names never makes the sink store a prev column other
// than the payload's.
func TestSQLiteWrite_PrevMACMustBeThePayloads(t *testing.T) {
	s, _ := openTestSQLite(t)
	key, err := chain.NewKey("k1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sl := chain.NewSealer("c", key, chain.Head{})
	var batch []record.Sealed
	for i := range 3 {
		r := &record.Record{TS: baseTS.Add(time.Duration(i) * time.Second), IngestedAt: baseTS, Action: record.ActionToolCall}
		batch = append(batch, sl.Seal(r))
	}
	ix := *batch[2].Indexed
	ix.PrevMAC[0] ^= 1
	batch[2].Indexed = &ix
	if err := s.Write(context.Background(), batch); err != nil && !errors.Is(err, ErrBadRecord) {
		t.Fatalf("err = %v, want nil or ErrBadRecord", err)
	}
	err = s.Scan(context.Background(), "c", func(r Row) error {
		p, err := record.Index(r.Payload)
		if err != nil {
			return err
		}
		if hex.EncodeToString(r.Prev) != p.Prev {
			return fmt.Errorf("seq %d: stored prev %x, payload's %s", r.Seq, r.Prev, p.Prev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

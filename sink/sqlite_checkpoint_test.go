package sink

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// bigRecords returns records from..to of chain with about a kilobyte of
// arguments each, as the bench workload's.
func bigRecords(chain string, from, to uint64) []record.Sealed {
	recs := chainRecords(chain, from, to)
	pad := strings.Repeat("x", 1000)
	for _, r := range recs {
		r.Arguments = []byte(`{"note":"` + pad + `"}`)
	}
	return sealAll(recs)
}

// walFrames is how many frames the WAL file at path can hold (its size:
// SQLite writes it over from the start when it starts it over, and does
// not shrink it).
func walFrames(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size() / (sqlitePageSize + 24)
}

// A writer that never pauses, as a deliverer with a backlog, keeps the
// WAL within its bound while the checkpointer's checkpoints race its
// writes (TestSQLite_WriterStartsAnOversizedWALOver: when they never find
// the WAL whole).
func TestSQLite_SteadyWriterKeepsTheWALBounded(t *testing.T) {
	s, path := openTestSQLite(t)
	const batches, per = 80, 1000 // about 90 MB of payload: 2.7 times the bound
	payload := 0
	var most int64
	for b := range uint64(batches) {
		batch := bigRecords("c", b*per+1, (b+1)*per)
		for i := range batch {
			payload += len(batch[i].Payload)
		}
		writeOK(t, s, batch)
		most = max(most, walFrames(t, path))
	}
	if pages := int64(payload / sqlitePageSize); pages < 2*walMaxFrames {
		t.Fatalf("the test wrote %d pages of payload, too few to prove a bound of %d frames", pages, walMaxFrames)
	}
	// The bound, and what may come on top of it: the frames written
	// while the checkpoint that found the WAL over it ran, a kick's
	// worth, and a write the restart may have had to wait for.
	if limit := int64(walMaxFrames + 3*checkpointEvery/sqlitePageSize + 2*per*1200/sqlitePageSize); most > limit {
		t.Fatalf("the WAL grew to %d frames, bound %d (with its slack, %d)", most, walMaxFrames, limit)
	}
	if n := countRows(t, rawDB(t, path)); n != batches*per {
		t.Fatalf("%d rows, want %d", n, batches*per)
	}
}

// The checkpointer copies committed frames into the database file
// without a Write asking: a store that went quiet has its records in its
// file, not only in the WAL.
func TestSQLite_CheckpointerMovesFramesWhileTheWriterIsQuiet(t *testing.T) {
	s, path := openTestSQLite(t)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	payload := 0
	for b := uint64(0); payload < checkpointEvery; b++ {
		batch := bigRecords("c", b*500+1, (b+1)*500)
		for i := range batch {
			payload += len(batch[i].Payload)
		}
		writeOK(t, s, batch)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= before.Size()+int64(payload) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file is %d bytes after %d of payload were written (%d before): not checkpointed", fi.Size(), payload, before.Size())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A reader that keeps a snapshot open keeps the WAL from starting over,
// but never stalls the writer: the writer's own checkpoint does not wait.
// Once the reader is gone the WAL starts over again.
func TestSQLite_ReaderHoldingASnapshotDoesNotStallTheWriter(t *testing.T) {
	s, path := openTestSQLite(t)
	writeOK(t, s, bigRecords("c", 1, 10))
	reader := rawDB(t, path)
	tx, err := reader.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM audit_records`).Scan(&n); err != nil || n != 10 {
		t.Fatalf("reader: %d rows, %v", n, err)
	}
	const per = 1000
	next := uint64(11)
	write := func(batches int) {
		for range batches {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := s.Write(ctx, bigRecords("c", next, next+per-1))
			cancel()
			if err != nil {
				t.Fatalf("write at %d with a reader holding a snapshot: %v", next, err)
			}
			next += per
		}
	}
	write(45) // past the bound, while the reader holds the WAL
	held := walFrames(t, path)
	if held <= walMaxFrames {
		t.Fatalf("the WAL holds %d frames with a reader on it, want more than %d: the test proves nothing", held, walMaxFrames)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	reader.Close()
	// The WAL file does not shrink, but it starts over: writing as much
	// again does not grow it.
	write(45)
	if after := walFrames(t, path); after > held {
		t.Fatalf("the WAL grew from %d to %d frames after the reader left: it did not start over", held, after)
	}
	if got := countRows(t, rawDB(t, path)); got != int(next-1) {
		t.Fatalf("%d rows, want %d", got, next-1)
	}
}

// The writer's own checkpoint, when the checkpointer finds the WAL over
// its bound, lets the WAL start over even if the checkpointer's own
// checkpoints never find it whole (here: it does one only, which a reader
// keeps from copying the last frames).
func TestSQLite_WriterStartsAnOversizedWALOver(t *testing.T) {
	s, path := openTestSQLite(t)
	s.stopCheckpointer() // kicks now go nowhere: no checkpoint but those below
	const per = 1000
	next := uint64(1)
	write := func(batches int) {
		for range batches {
			writeOK(t, s, bigRecords("c", next, next+per-1))
			next += per
		}
	}
	write(40)
	reader := rawDB(t, path)
	tx, err := reader.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM audit_records`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	write(2) // frames past the reader's snapshot
	grown := walFrames(t, path)
	if grown <= walMaxFrames {
		t.Fatalf("the WAL holds %d frames, want more than %d: the test proves nothing", grown, walMaxFrames)
	}
	if s.ckpt.restart.Load() {
		t.Fatal("restart asked for without a checkpoint")
	}
	s.checkpoint() // what the goroutine does when kicked: copies up to the reader's frames
	if !s.ckpt.restart.Load() {
		t.Fatalf("a checkpoint of a WAL of %d frames did not ask the writer to start it over", grown)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	write(1)
	if s.ckpt.restart.Load() {
		t.Fatal("the writer's checkpoint did not take")
	}
	write(30)
	if after := walFrames(t, path); after > grown {
		t.Fatalf("the WAL grew from %d to %d frames: the writer did not start it over", grown, after)
	}
	if got := countRows(t, rawDB(t, path)); got != int(next-1) {
		t.Fatalf("%d rows, want %d", got, next-1)
	}
}

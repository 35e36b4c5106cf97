package spool

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
)

// advPayload is the payload of seq: size bytes, which say their seq.
func advPayload(seq uint64, size int) []byte {
	p := fmt.Appendf(nil, `{"seq":%d}`, seq)
	for len(p) < size {
		p = append(p, byte('a'+seq%26))
	}
	return p
}

// checkRead checks a Read of r after after against the records appended
// (want, by seq; head the last seq): consecutive from after+1, each as
// appended, and as many as Range allows: Max, MaxBytes (at least one, and
// stopping at the first that reaches it), or what is there (head is the
// spool's head before the read; appends may add more meanwhile).
func checkRead(got []record.Sealed, after, head uint64, r Range, want map[uint64][]byte) error {
	size := 0
	for i, rec := range got {
		seq := after + 1 + uint64(i)
		if rec.Seq != seq || rec.Chain != "c" || rec.MAC[0] != byte(seq) || !bytes.Equal(rec.Payload, want[seq]) {
			return fmt.Errorf("record %d of a read after %d: seq %d (%d bytes), want seq %d (%d bytes)", i, after, rec.Seq, len(rec.Payload), seq, len(want[seq]))
		}
		if r.MaxBytes > 0 && i > 0 && size >= r.MaxBytes {
			return fmt.Errorf("read after %d: record %d past MaxBytes %d (%d bytes before it)", after, i, r.MaxBytes, size)
		}
		size += len(rec.Payload)
	}
	n := uint64(len(got))
	full := n == uint64(r.Max) || after+n >= head || (r.MaxBytes > 0 && size >= r.MaxBytes)
	if after < head && !full {
		return fmt.Errorf("read after %d (head %d, max %d, max bytes %d): %d records of %d bytes, want more", after, head, r.Max, r.MaxBytes, n, size)
	}
	return nil
}

// Records around recent's bound (smaller, as large, larger, batches that
// straddle it) read by two sinks at different positions, while appends
// go on: every read returns the records appended, as many as it may, and
// records read earlier do not change afterwards.
func TestSpool_RecentAroundItsBound(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "spool.db"), 0)
	defer s.Close()
	if err := s.Register([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	sizes := []int{20, 1000, recentMax/3 + 1, recentMax - 32, recentMax, recentMax + 1, 2*recentMax + 7, recentMax / 1000}
	var mu sync.Mutex
	want := map[uint64][]byte{}
	var head uint64
	rng := rand.New(rand.NewPCG(1, 2))
	appendBatch := func() {
		n := 1 + rng.IntN(6)
		batch := make([]record.Sealed, n)
		mu.Lock()
		for i := range batch {
			seq := head + 1 + uint64(i)
			p := advPayload(seq, sizes[rng.IntN(len(sizes))])
			batch[i] = record.Sealed{Chain: "c", Seq: seq, Payload: p}
			batch[i].MAC[0] = byte(seq)
			batch[i].Indexed = &record.Indexed{Chain: "c", Seq: seq} // says a read came from memory
			want[seq] = p
		}
		mu.Unlock()
		if err := s.Append(batch, nil); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		head += uint64(n)
		mu.Unlock()
	}
	type kept struct {
		got   []record.Sealed
		after uint64
	}
	const appends = 150
	var fromMemory, fromFile atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readers := make([][]kept, 2)
	for i, sink := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rr := rand.New(rand.NewPCG(uint64(i)+10, 3))
			for {
				select {
				case <-stop:
					return
				default:
				}
				cur, _ := s.Cursor(sink)
				h := s.State().HeadSeq
				after := cur
				if h > cur && rr.IntN(3) == 0 {
					after = cur + uint64(rr.IntN(int(h-cur)+1)) // batches in flight
				}
				r := Range{After: after, Max: 1 + rr.IntN(8)}
				if rr.IntN(2) == 0 {
					r.MaxBytes = sizes[rr.IntN(len(sizes))]
				}
				got, err := s.Read(sink, r)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				err = checkRead(got, after, h, r, want)
				mu.Unlock()
				if err != nil {
					t.Errorf("sink %s: %v", sink, err)
					return
				}
				if len(got) > 0 {
					if got[0].Indexed != nil {
						fromMemory.Add(1)
					} else {
						fromFile.Add(1)
					}
					readers[i] = append(readers[i], kept{got, after})
					// The slow sink acknowledges less often.
					if i == 0 || rr.IntN(4) == 0 {
						if err := s.Ack(sink, got[len(got)-1].Seq); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}
		}()
	}
	for range appends {
		appendBatch()
		if t.Failed() {
			break
		}
	}
	close(stop)
	wg.Wait()
	if fromMemory.Load() == 0 || fromFile.Load() == 0 {
		t.Fatalf("%d reads from memory, %d from the file: the test wants both", fromMemory.Load(), fromFile.Load())
	}
	for i, ks := range readers {
		for _, k := range ks {
			for j, rec := range k.got {
				if seq := k.after + 1 + uint64(j); rec.Seq != seq || !bytes.Equal(rec.Payload, want[seq]) {
					t.Fatalf("reader %d: a record read earlier (seq %d) changed to seq %d", i, seq, rec.Seq)
				}
			}
		}
	}
	// Both sinks read the rest, from the file or from memory.
	for _, sink := range []string{"a", "b"} {
		cur, _ := s.Cursor(sink)
		for cur < head {
			r := Range{Max: 3, MaxBytes: recentMax}
			got, err := s.Read(sink, r)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkRead(got, cur, head, r, want); err != nil {
				t.Fatalf("sink %s: %v", sink, err)
			}
			cur = got[len(got)-1].Seq
			if err := s.Ack(sink, cur); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p := s.PendingBytes(); p != 0 {
		t.Fatalf("%d bytes pending after both sinks acknowledged everything", p)
	}
}

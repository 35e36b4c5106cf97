package spool

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
)

// ReleaseMemory, called without pause, races appends that grow the file
// (bbolt remaps it), reads of a backlog from the file, acknowledgements
// that trim it and the marks' reads, then Close: every record read is the
// one appended, nothing deadlocks, and a ReleaseMemory after Close does
// nothing.
func TestSpool_ReleaseMemoryRaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := open(t, path, 0)
	if err := s.Register([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	payload := func(seq uint64) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("%08d", seq)), 256) // 2 KiB
	}
	const batches, per = 120, 64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				s.ReleaseMemory()
			}
		})
	}
	var head atomic.Uint64
	errs := make(chan error, 8)
	// Sink a keeps up; sink b reads behind, from the file (a's cursor
	// holds nothing back, b's does until it acknowledges).
	reader := func(sink string, lag uint64) {
		after := uint64(0)
		for !stop.Load() || after < head.Load() {
			if h := head.Load(); after+lag > h && !stop.Load() {
				continue
			}
			recs, err := s.Read(sink, Range{After: after, Max: 500})
			if err != nil {
				errs <- err
				return
			}
			for _, r := range recs {
				if r.Seq != after+1 || !bytes.Equal(r.Payload, payload(r.Seq)) {
					errs <- fmt.Errorf("%s read seq %d after %d: wrong record", sink, r.Seq, after)
					return
				}
				after = r.Seq
			}
			if len(recs) > 0 {
				if err := s.Ack(sink, after); err != nil {
					errs <- err
					return
				}
			}
		}
	}
	var rw sync.WaitGroup
	rw.Go(func() { reader("a", 0) })
	rw.Go(func() { reader("b", 3000) })
	rw.Go(func() {
		for !stop.Load() {
			if _, err := s.Marks(); err != nil {
				errs <- err
				return
			}
		}
	})
	seq := uint64(0)
	for range batches {
		batch := make([]record.Sealed, 0, per)
		for range per {
			seq++
			batch = append(batch, record.Sealed{Chain: "c", Seq: seq, Payload: payload(seq)})
		}
		if err := s.Append(batch, []byte("pos")); err != nil {
			t.Fatal(err)
		}
		head.Store(seq)
	}
	stop.Store(true)
	rw.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := s.Delivered(); d != seq {
		t.Errorf("delivered %d, want %d", d, seq)
	}
	// Close while releases go on, then release a closed spool.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s.ReleaseMemory()
}

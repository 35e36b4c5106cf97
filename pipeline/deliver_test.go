package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
)

// pipe is a sink.Pipeliner (and Purger) that keeps what is committed and
// checks the deliverer's side of the contract as it goes: batches
// committed in seq order with no gap, each after the previous one was
// acknowledged in the spool, no purge while a batch is prepared, and some
// prepare started while an earlier batch was still uncommitted.
type pipe struct {
	sp   *spool.Spool
	name string

	mu          sync.Mutex
	stored      []uint64
	open        map[uint64]bool // first seq of each prepared, not yet ended batch
	maxOpen     int
	aborted     []uint64
	failPrepare map[uint64]int // first seq → failures left
	failCommit  map[uint64]int
	purges      int
	violations  []string
	second      chan struct{} // closed at the second prepare
	secondOnce  sync.Once
}

func newPipe(sp *spool.Spool, name string) *pipe {
	return &pipe{sp: sp, name: name, open: map[uint64]bool{}, failPrepare: map[uint64]int{},
		failCommit: map[uint64]int{}, second: make(chan struct{})}
}

func (p *pipe) violate(format string, args ...any) {
	p.violations = append(p.violations, fmt.Sprintf(format, args...))
}

func (p *pipe) Prepare(ctx context.Context, batch []record.Sealed) (sink.Prepared, error) {
	first := batch[0].Seq
	if first == 1 {
		// The first batch waits (a while at most) for the deliverer to
		// start preparing the next one: batches are in flight together.
		select {
		case <-p.second:
		case <-time.After(10 * time.Second):
		}
	} else {
		p.secondOnce.Do(func() { close(p.second) })
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failPrepare[first] > 0 {
		p.failPrepare[first]--
		return nil, errors.New("prepare failed")
	}
	p.open[first] = true
	p.maxOpen = max(p.maxOpen, len(p.open))
	return &pipeBatch{p, batch}, nil
}

func (p *pipe) InFlight() int { return 2 }
func (p *pipe) MaxBatch() int { return 100 }
func (p *pipe) Close() error  { return nil }

func (p *pipe) Write(ctx context.Context, batch []record.Sealed) error {
	b, err := p.Prepare(ctx, batch)
	if err != nil {
		return err
	}
	return b.Commit(ctx)
}

func (p *pipe) Purge(ctx context.Context, _ sink.Purge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.purges++
	if len(p.open) > 0 {
		p.violate("purge with batches %v prepared", p.open)
	}
	return nil
}

type pipeBatch struct {
	p     *pipe
	batch []record.Sealed
}

func (b *pipeBatch) Commit(ctx context.Context) error {
	p, first := b.p, b.batch[0].Seq
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.open[first] {
		p.violate("commit of batch %d, not prepared or already ended", first)
	}
	delete(p.open, first)
	if p.failCommit[first] > 0 {
		p.failCommit[first]--
		return errors.New("commit failed")
	}
	if cur, _ := p.sp.Cursor(p.name); cur != first-1 {
		p.violate("commit of batch %d with the spool cursor at %d", first, cur)
	}
	if n := len(p.stored); n > 0 && p.stored[n-1] != first-1 {
		p.violate("commit of batch %d after seq %d", first, p.stored[n-1])
	}
	for _, r := range b.batch {
		p.stored = append(p.stored, r.Seq)
	}
	return nil
}

func (b *pipeBatch) Abort() {
	p := b.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.open[b.batch[0].Seq] {
		p.violate("abort of batch %d, not prepared or already ended", b.batch[0].Seq)
	}
	delete(p.open, b.batch[0].Seq)
	p.aborted = append(p.aborted, b.batch[0].Seq)
}

// spoolOf returns a spool holding n sealed records of one chain, the one
// at seq purgeAt (if not 0) a retention_purge.
func spoolOf(t *testing.T, n int, purgeAt uint64) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	if err := sp.Register([]string{"s"}); err != nil {
		t.Fatal(err)
	}
	sealer := chain.NewSealer("c", testKey(t), chain.Head{})
	var batch []record.Sealed
	for seq := uint64(1); seq <= uint64(n); seq++ {
		r := &record.Record{TS: time.Now(), IngestedAt: time.Now(), Action: record.ActionDecision}
		if seq == purgeAt {
			r.Action = record.ActionRetentionPurge
			r.Detail, _ = json.Marshal(map[string]any{"through_seq": 10, "cutoff": time.Now().Format(time.RFC3339Nano)})
		}
		batch = append(batch, sealer.Seal(r))
	}
	if err := sp.Append(batch, nil); err != nil {
		t.Fatal(err)
	}
	return sp
}

func deliverAll(t *testing.T, sp *spool.Spool, s sink.Sink) {
	t.Helper()
	drain := make(chan struct{})
	close(drain)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := NewDeliverer("s", s, sp, nil, nil).Run(ctx, drain); err != nil {
		t.Fatal(err)
	}
}

// A sink.Pipeliner has two batches in flight; they commit in order, each
// acknowledged before the next commits; a failed prepare or commit aborts
// the batch behind it and delivery resumes from the cursor, so the sink
// ends with every record once, in order.
func TestDeliver_PipelinedInOrderThroughFailures(t *testing.T) {
	sp := spoolOf(t, 1000, 0)
	p := newPipe(sp, "s")
	p.failCommit[301] = 1
	p.failPrepare[601] = 1
	deliverAll(t, sp, p)
	want := make([]uint64, 1000)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if !slices.Equal(p.stored, want) {
		t.Errorf("stored %d records, not 1..1000 in order once each", len(p.stored))
	}
	for _, v := range p.violations {
		t.Error(v)
	}
	if p.maxOpen != 2 {
		t.Errorf("at most %d batches prepared at once, want 2", p.maxOpen)
	}
	if !slices.Contains(p.aborted, 401) {
		t.Errorf("aborted %v: the batch behind the failed commit of 301 was not aborted", p.aborted)
	}
	if len(p.open) != 0 {
		t.Errorf("batches %v left prepared", p.open)
	}
	if c, _ := sp.Cursor("s"); c != 1000 {
		t.Errorf("cursor %d", c)
	}
}

// A delivered retention_purge record is carried out only once no batch is
// prepared: a purge drops partitions, which waits for open transactions.
func TestDeliver_PurgeWithNothingInFlight(t *testing.T) {
	sp := spoolOf(t, 500, 150)
	p := newPipe(sp, "s")
	deliverAll(t, sp, p)
	if p.purges != 1 {
		t.Errorf("%d purges, want 1", p.purges)
	}
	for _, v := range p.violations {
		t.Error(v)
	}
	if len(p.stored) != 500 || len(p.open) != 0 {
		t.Errorf("stored %d, %v left prepared", len(p.stored), p.open)
	}
}

// Stopping the deliverer aborts what it has in flight.
func TestDeliver_StopAbortsInFlight(t *testing.T) {
	sp := spoolOf(t, 1000, 0)
	p := newPipe(sp, "s")
	p.failCommit[101] = 1 << 30 // never succeeds: the deliverer keeps retrying
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewDeliverer("s", p, sp, nil, nil).Run(ctx, nil) }()
	// Stopped once it has batches in flight behind the failing one (it
	// aborted them at least once: it is retrying).
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.aborted)
		p.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the deliverer to abort a batch behind the failing one")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.open) != 0 {
		t.Errorf("batches %v left prepared after the stop", p.open)
	}
	if len(p.stored) != 100 {
		t.Errorf("stored %d, want the first batch only", len(p.stored))
	}
	for _, v := range p.violations {
		t.Error(v)
	}
}

// Drain is closed after the last append (the shutdown closes it once
// ingestion has committed its sidecar_stop): a deliverer that was
// between an empty read and its look at drain when both happened must
// still deliver the last records before it returns. It returned without
// them in about one run in twenty.
func TestDeliver_DrainClosedRightAfterTheLastAppend(t *testing.T) {
	for it := range 100 {
		sp := newSpool(t)
		k := &keep{}
		d := NewDeliverer("s", k, sp, nil, nil)
		sealer := chain.NewSealer("c", testKey(t), chain.Head{})
		add := func(n int) {
			var batch []record.Sealed
			for range n {
				batch = append(batch, sealer.Seal(&record.Record{TS: time.Unix(0, 0), IngestedAt: time.Unix(0, 0), Action: record.ActionDecision}))
			}
			if err := sp.Append(batch, nil); err != nil {
				t.Fatal(err)
			}
		}
		drain := make(chan struct{})
		done := make(chan error, 1)
		add(2)
		go func() { done <- d.Run(context.Background(), drain) }()
		for sp.Delivered() < 2 { // the deliverer is idle, about to read again
			time.Sleep(50 * time.Microsecond)
		}
		add(2)
		close(drain)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if c, _ := sp.Cursor("s"); c != 4 {
			t.Fatalf("run %d: returned after delivering through %d of 4", it, c)
		}
	}
}

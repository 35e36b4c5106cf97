package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// storedEpoch is one call of IngestConfig.EpochStore: the epoch, its key's
// bytes, and the spool's head seq when it was made.
type storedEpoch struct {
	epoch  uint64
	secret []byte
	head   uint64
}

// With epochs on, the key of the first epoch is stored once the start is
// committed, and each next epoch's key once the seal of the epoch before
// is: a restart needs no key file and never finds a stored key older
// than the spool's records.
func TestIngest_EpochKeyStoredOnceItsSealIsCommitted(t *testing.T) {
	sp := newSpool(t)
	want := map[uint64][]byte{1: testKey(t).Secret(), 2: testKey(t).AtEpoch(2).Secret()}
	stored := make(chan storedEpoch, 64)
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, BatchWait: time.Hour,
		Epoch: 10 * time.Millisecond,
		EpochStore: func(k chain.Key, e uint64) error {
			stored <- storedEpoch{e, k.Secret(), sp.State().HeadSeq}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, make(chan tailer.Line)) }()
	var got []storedEpoch
	deadline := time.After(10 * time.Second) // a bound for a broken build, not a measure
	for len(got) == 0 || got[len(got)-1].epoch < 2 {
		select {
		case s := <-stored:
			got = append(got, s)
		case err := <-done:
			t.Fatalf("Run ended (%v) with epoch keys stored %v", err, got)
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("the key of epoch 2 was never stored; stored: %v", got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	seals := map[uint64]uint64{} // epoch sealed -> seq of its seal record
	for _, s := range spooled(t, sp) {
		r, err := record.Parse(s.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if r.Action == record.ActionSeal {
			var d struct {
				Epoch uint64 `json:"epoch"`
			}
			json.Unmarshal(r.Detail, &d)
			seals[d.Epoch] = r.Seq
		}
	}
	for i, s := range got[:2] {
		if s.epoch != uint64(i+1) || !bytes.Equal(s.secret, want[s.epoch]) {
			t.Errorf("store %d: epoch %d, key of epoch 1 or 2: %v; want epoch %d and its key", i, s.epoch, bytes.Equal(s.secret, want[s.epoch]), i+1)
		}
	}
	if seal, ok := seals[1]; !ok || got[1].head < seal {
		t.Errorf("the key of epoch 2 was stored with the spool's head at seq %d, before the seal of epoch 1 (seq %d, found %v) was committed", got[1].head, seal, ok)
	}
	if got[0].head == 0 {
		t.Error("the key of epoch 1 was stored before the start was committed")
	}
}

// A key that cannot be stored at start stops Run, unless the store holds
// a key of this kid already (EpochKept: an earlier epoch's, from which the
// current one derives): then Run goes on and the store is retried at the
// next commit, as after a seal.
func TestIngest_EpochKeyStoreFailsAtStart(t *testing.T) {
	for _, kept := range []bool{false, true} {
		t.Run(map[bool]string{false: "nothing kept", true: "an earlier key kept"}[kept], func(t *testing.T) {
			sp := newSpool(t)
			var fail atomic.Bool
			fail.Store(true)
			stored := make(chan uint64, 64)
			in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, BatchWait: time.Hour,
				Epoch: time.Hour, EpochKept: kept,
				EpochStore: func(k chain.Key, e uint64) error {
					if fail.Load() {
						return errors.New("no space left on device")
					}
					stored <- e
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			lines := make(chan tailer.Line)
			done := make(chan error, 1)
			go func() { done <- in.Run(ctx, lines) }()
			if !kept {
				if err := <-done; !errors.Is(err, ErrEpochStore) {
					t.Fatalf("Run = %v, want ErrEpochStore", err)
				}
				return
			}
			fail.Store(false)
			select {
			case lines <- tailer.Line{Text: []byte(`{"a":1}`)}:
			case err := <-done:
				t.Fatalf("Run ended at start: %v", err)
			}
			close(lines)
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			select {
			case e := <-stored:
				if e != 1 {
					t.Errorf("stored the key of epoch %d, want 1", e)
				}
			default:
				t.Error("the key was not stored at a later commit")
			}
		})
	}
}

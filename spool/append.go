package spool

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fips-agents/audit-sidecar/record"
)

// Seed sets the chain state of an empty spool (Chain, HeadSeq, HeadMAC,
// HeadKid, Source, Tree of st), so that a chain whose spool was lost
// continues from what a sink holds.
func (s *Spool) Seed(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Chain != "" || s.state.HeadSeq != 0 {
		return fmt.Errorf("seed spool: it already holds chain %q at seq %d", s.state.Chain, s.state.HeadSeq)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyChain, []byte(st.Chain)); err != nil {
			return err
		}
		if err := meta.Put(keyHead, append(be64(st.HeadSeq), st.HeadMAC[:]...)); err != nil {
			return err
		}
		var epoch []byte
		if st.Epoch > 0 {
			epoch = be64(st.Epoch)
		}
		for _, kv := range []struct{ k, v []byte }{{keyHeadKid, []byte(st.HeadKid)}, {keySource, st.Source}, {keyTree, st.Tree}, {keyEpoch, epoch}} {
			if len(kv.v) > 0 {
				if err := meta.Put(kv.k, kv.v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed spool: %w", err)
	}
	s.state = State{Chain: st.Chain, HeadSeq: st.HeadSeq, HeadMAC: st.HeadMAC, HeadKid: st.HeadKid, Epoch: st.Epoch}
	if len(st.Source) > 0 {
		s.state.Source = append([]byte(nil), st.Source...)
	}
	if len(st.Tree) > 0 {
		s.state.Tree = append([]byte(nil), st.Tree...)
	}
	return nil
}

// Mark says where a period of the chain begins, for retention: Seq is the
// first record sealed in the period starting at Time, and Prev the MAC of
// the record before it (seq Seq-1), which a retention_purge record through
// Seq-1 names.
type Mark struct {
	Time time.Time
	Seq  uint64
	Prev [32]byte
}

// Extra is what an append may commit besides records and the position.
type Extra struct {
	Marks            []Mark // added
	DropMarksThrough uint64 // marks with Seq <= this are removed (0: none)
	// HeadKid, when set, is recorded as the kid of the key that sealed the
	// batch's last record (a key rotation needs it at the next start).
	HeadKid string
	// Tree, when set, is recorded as the Merkle tree state after the
	// batch's last record.
	Tree []byte
	// Epoch, when not 0, is recorded as the epoch of the next record.
	Epoch uint64
}

// Append stores batch (consecutive seqs continuing the head, one chain)
// and the source position after it, in one transaction. On error nothing
// of the batch is stored and the caller may retry it.
func (s *Spool) Append(batch []record.Sealed, source []byte) error {
	return s.AppendExtra(batch, source, Extra{})
}

// AppendExtra is Append that also commits x in the same transaction.
func (s *Spool) AppendExtra(batch []record.Sealed, source []byte, x Extra) error {
	if st := s.State(); len(batch) == 0 && source == nil && len(x.Marks) == 0 && x.DropMarksThrough == 0 &&
		(x.HeadKid == "" || x.HeadKid == st.HeadKid) && (x.Epoch == 0 || x.Epoch == st.Epoch) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	var added int64
	for i, r := range batch {
		if st.Chain != "" && r.Chain != st.Chain {
			return fmt.Errorf("append seq %d: %w (%q, batch %q)", r.Seq, ErrChainMismatch, st.Chain, r.Chain)
		}
		if r.Seq != st.HeadSeq+uint64(i)+1 {
			return fmt.Errorf("append seq %d after head %d: %w", r.Seq, st.HeadSeq+uint64(i), ErrNotContiguous)
		}
		added += int64(32 + len(r.Payload))
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		recs.FillPercent = 1.0 // keys only ever grow
		// bbolt keeps key and value slices until the commit, and no
		// longer: one buffer, kept for the next batch, holds them all.
		buf := s.putBuf[:0]
		if need := int(added) + 8*len(batch); cap(buf) < need {
			buf = make([]byte, 0, need)
			s.putBuf = buf
		}
		for _, r := range batch {
			k := len(buf)
			buf = binary.BigEndian.AppendUint64(buf, r.Seq)
			buf = append(buf, r.MAC[:]...)
			buf = append(buf, r.Payload...)
			if err := recs.Put(buf[k:k+8:k+8], buf[k+8:len(buf):len(buf)]); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if n := len(batch); n > 0 {
			last := batch[n-1]
			if st.Chain == "" {
				if err := meta.Put(keyChain, []byte(last.Chain)); err != nil {
					return err
				}
			}
			if err := meta.Put(keyHead, append(be64(last.Seq), last.MAC[:]...)); err != nil {
				return err
			}
			if err := meta.Put(keyPending, be64(uint64(s.pend+added))); err != nil {
				return err
			}
		}
		if source != nil {
			if err := meta.Put(keySource, source); err != nil {
				return err
			}
		}
		if x.HeadKid != "" && x.HeadKid != st.HeadKid {
			if err := meta.Put(keyHeadKid, []byte(x.HeadKid)); err != nil {
				return err
			}
		}
		if x.Tree != nil {
			if err := meta.Put(keyTree, x.Tree); err != nil {
				return err
			}
		}
		if x.Epoch != 0 && x.Epoch != st.Epoch {
			if err := meta.Put(keyEpoch, be64(x.Epoch)); err != nil {
				return err
			}
		}
		return putMarks(tx, x)
	})
	if cap(s.putBuf) > putBufMax { // a huge batch once: do not keep its buffer
		s.putBuf = nil
	}
	if err != nil {
		return fmt.Errorf("append to spool: %w", err)
	}
	s.remember(batch)
	if n := len(batch); n > 0 {
		last := batch[n-1]
		s.state.Chain = last.Chain
		s.state.HeadSeq = last.Seq
		s.state.HeadMAC = last.MAC
		if s.first == 0 {
			s.first = batch[0].Seq
		}
		s.pend += added
	}
	if source != nil {
		s.state.Source = append(s.state.Source[:0], source...)
	}
	if x.HeadKid != "" {
		s.state.HeadKid = x.HeadKid
	}
	if x.Tree != nil {
		s.state.Tree = append(s.state.Tree[:0], x.Tree...)
	}
	if x.Epoch != 0 {
		s.state.Epoch = x.Epoch
	}
	s.wake()
	return nil
}

func putMarks(tx *bolt.Tx, x Extra) error {
	if len(x.Marks) == 0 && x.DropMarksThrough == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketMarks)
	if err != nil {
		return err
	}
	if x.DropMarksThrough > 0 {
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= x.DropMarksThrough; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	for _, m := range x.Marks {
		v := append(be64(uint64(m.Time.UnixNano())), m.Prev[:]...)
		if err := b.Put(be64(m.Seq), v); err != nil {
			return err
		}
	}
	return nil
}

// Marks returns the marks held, in seq order.
func (s *Spool) Marks() ([]Mark, error) {
	var out []Mark
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMarks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 || len(v) != 40 {
				return fmt.Errorf("mark entry of %d/%d bytes", len(k), len(v))
			}
			m := Mark{Seq: binary.BigEndian.Uint64(k), Time: time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()}
			copy(m.Prev[:], v[8:])
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read spool marks: %w", err)
	}
	return out, nil
}

package spool

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// Register sets the sinks the spool delivers to. A sink seen for the first
// time starts after the records the spool no longer holds (it receives
// everything still held). Cursors of sinks no longer named are removed, so
// that they do not hold records forever; records that only they lacked are
// then trimmed.
func (s *Spool) Register(names []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketCursors)
		for name := range s.sinks {
			if !want[name] {
				s.log.Warn("spool sink cursor removed", zap.String("sink", name), zap.Uint64("cursor", s.sinks[name]))
				if err := cur.Delete([]byte(name)); err != nil {
					return err
				}
				delete(s.sinks, name)
			}
		}
		for _, name := range names {
			if _, ok := s.sinks[name]; ok {
				continue
			}
			start := s.state.HeadSeq
			if s.first != 0 {
				start = s.first - 1
			}
			if start > 0 {
				s.log.Warn("new sink starts after records no longer spooled", zap.String("sink", name), zap.Uint64("from_seq", start+1))
			}
			if err := cur.Put([]byte(name), be64(start)); err != nil {
				return err
			}
			s.sinks[name] = start
		}
		return s.trim(tx)
	})
	if err != nil {
		return fmt.Errorf("register sinks: %w", err)
	}
	return nil
}

// Ack records that sink has stored every record up to seq, and removes the
// records that every sink has.
func (s *Spool) Ack(sink string, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.sinks[sink]
	if !ok {
		return fmt.Errorf("ack %q: %w", sink, ErrUnknownSink)
	}
	if seq <= cur {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketCursors).Put([]byte(sink), be64(seq)); err != nil {
			return err
		}
		s.sinks[sink] = seq
		return s.trim(tx)
	})
	if err != nil {
		s.sinks[sink] = cur
		return fmt.Errorf("ack %q at %d: %w", sink, seq, err)
	}
	s.wake()
	return nil
}

// trim deletes the records every sink has. Called with mu held inside an
// update transaction.
func (s *Spool) trim(tx *bolt.Tx) error {
	if len(s.sinks) == 0 || s.first == 0 {
		return nil
	}
	low := s.state.HeadSeq
	for _, c := range s.sinks {
		low = min(low, c)
	}
	if low < s.first {
		return nil
	}
	recs := tx.Bucket(bucketRecords)
	c := recs.Cursor()
	var freed int64
	// Seek past each deleted key rather than First: the leaves emptied so
	// far stay in the transaction until it commits, and First would walk
	// them all again for every record.
	for k, v := c.Seek(be64(s.first)); k != nil && binary.BigEndian.Uint64(k) <= low; {
		next := binary.BigEndian.Uint64(k) + 1
		freed += int64(len(v))
		if err := c.Delete(); err != nil {
			return err
		}
		k, v = c.Seek(be64(next))
	}
	pend := s.pend - freed
	if err := tx.Bucket(bucketMeta).Put(keyPending, be64(uint64(pend))); err != nil {
		return err
	}
	// Only touch in-memory state once the transaction can no longer fail
	// because of us; bbolt may still fail the commit, in which case Open
	// recomputes nothing wrong: the pending counter is in the same tx.
	tx.OnCommit(func() {
		s.pend = pend
		s.first = 0
		if low < s.state.HeadSeq {
			s.first = low + 1
		}
		n := 0
		for n < len(s.recent) && s.recent[n].Seq <= low {
			n++
		}
		s.forget(n)
	})
	return nil
}

// Delivered returns the highest seq that every sink has stored (the head
// when no sink is registered).
func (s *Spool) Delivered() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	low := s.state.HeadSeq
	for _, c := range s.sinks {
		low = min(low, c)
	}
	return low
}

// Cursor returns the sink's cursor.
func (s *Spool) Cursor(sink string) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.sinks[sink]
	return c, ok
}

package spool

import (
	"encoding/binary"
	"fmt"
	"maps"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// Register sets the sinks the spool delivers to. A sink seen for the first
// time starts after the records the spool no longer holds (it receives
// everything still held). Cursors of sinks no longer named are removed, so
// that they do not hold records forever; records that only they lacked are
// then trimmed. On error nothing changes, in the file or in memory.
func (s *Spool) Register(names []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	cursors := maps.Clone(s.sinks)
	var removed, added []string
	var applyTrim func()
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketCursors)
		for name := range s.sinks {
			if !want[name] {
				if err := cur.Delete([]byte(name)); err != nil {
					return err
				}
				delete(cursors, name)
				removed = append(removed, name)
			}
		}
		for _, name := range names {
			if _, ok := cursors[name]; ok {
				continue
			}
			start := s.state.HeadSeq
			if s.first != 0 {
				start = s.first - 1
			}
			if err := cur.Put([]byte(name), be64(start)); err != nil {
				return err
			}
			cursors[name] = start
			added = append(added, name)
		}
		var err error
		applyTrim, err = s.trim(tx, cursors)
		return err
	})
	if err != nil {
		return fmt.Errorf("register sinks: %w", err)
	}
	for _, name := range removed {
		s.log.Warn("spool sink cursor removed", zap.String("sink", name), zap.Uint64("cursor", s.sinks[name]))
	}
	for _, name := range added {
		if start := cursors[name]; start > 0 {
			s.log.Warn("new sink starts after records no longer spooled", zap.String("sink", name), zap.Uint64("from_seq", start+1))
		}
	}
	s.sinks = cursors
	applyTrim()
	return nil
}

// Ack records that sink has stored every record up to seq, and removes the
// records that every sink has. On error nothing changes.
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
	cursors := maps.Clone(s.sinks)
	cursors[sink] = seq
	var applyTrim func()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketCursors).Put([]byte(sink), be64(seq)); err != nil {
			return err
		}
		var err error
		applyTrim, err = s.trim(tx, cursors)
		return err
	})
	if err != nil {
		return fmt.Errorf("ack %q at %d: %w", sink, seq, err)
	}
	s.sinks = cursors
	applyTrim()
	s.wake()
	return nil
}

// trim deletes, in tx, the records every sink of cursors has, and returns
// what the deletion changes in memory, for the caller to apply once tx
// has committed (never before: a transaction that fails leaves the
// spool's memory as it was). Called with mu held inside an update
// transaction.
func (s *Spool) trim(tx *bolt.Tx, cursors map[string]uint64) (apply func(), err error) {
	nothing := func() {}
	if len(cursors) == 0 || s.first == 0 {
		return nothing, nil
	}
	low := s.state.HeadSeq
	for _, c := range cursors {
		low = min(low, c)
	}
	if low < s.first {
		return nothing, nil
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
			return nil, err
		}
		k, v = c.Seek(be64(next))
	}
	pend := s.pend - freed
	if err := tx.Bucket(bucketMeta).Put(keyPending, be64(uint64(pend))); err != nil {
		return nil, err
	}
	return func() {
		s.released(s.pend - pend)
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
	}, nil
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

package spool

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fips-agents/audit-sidecar/record"
)

// Read returns up to max records after the sink's cursor, in seq order.
// The returned records are copies owned by the caller.
func (s *Spool) Read(sink string, max int) ([]record.Sealed, error) {
	return s.ReadBounded(sink, max, 0)
}

// ReadBounded is Read that also stops once the records read hold maxBytes
// of payload (0: no bound); it always returns at least one record when
// one is there, whatever its size. Records the spool still has in memory
// are returned with their sealer's Columns and share its payload bytes,
// which the caller must not change.
func (s *Spool) ReadBounded(sink string, max int, maxBytes int) ([]record.Sealed, error) {
	return s.ReadAfter(sink, 0, max, maxBytes)
}

// ReadAfter is ReadBounded from the record after seq from, or after the
// sink's cursor if that is further: a deliverer that has batches in
// flight reads the next one before acknowledging them.
func (s *Spool) ReadAfter(sink string, from uint64, max int, maxBytes int) ([]record.Sealed, error) {
	s.mu.Lock()
	after, ok := s.sinks[sink]
	if from > after {
		after = from
	}
	chain := s.state.Chain
	out, hit := s.fromRecent(after, max, maxBytes)
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("read %q: %w", sink, ErrUnknownSink)
	}
	if hit {
		return out, nil
	}
	size := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(be64(after + 1)); k != nil && len(out) < max && (maxBytes <= 0 || size < maxBytes); k, v = c.Next() {
			size += len(v) - 32
			if len(v) < 32 {
				return fmt.Errorf("spooled record %d is %d bytes", binary.BigEndian.Uint64(k), len(v))
			}
			r := record.Sealed{Chain: chain, Seq: binary.BigEndian.Uint64(k), Payload: append([]byte(nil), v[32:]...)}
			copy(r.MAC[:], v[:32])
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read spool for %q: %w", sink, err)
	}
	return out, nil
}

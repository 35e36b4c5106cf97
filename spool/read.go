package spool

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fips-agents/audit-sidecar/record"
)

// Range says which records Read returns.
type Range struct {
	// After: the records after this seq, or after the sink's cursor when
	// that is further (0: after the cursor). A deliverer with batches in
	// flight reads the next one before they are acknowledged.
	After uint64
	// Max is the most records returned.
	Max int
	// MaxBytes, when not 0, stops the read once the records read hold this
	// many payload bytes; at least one record is returned when one is
	// there, whatever its size.
	MaxBytes int
}

// Read returns the records of r for sink, in seq order. The slice is the
// caller's, its records are not all copies: the newest, which the spool
// still holds in memory, carry their sealer's Indexed and share their
// payload bytes with the spool and with other readers (nobody may change
// them); records read from the file are copies, without Indexed.
func (s *Spool) Read(sink string, r Range) ([]record.Sealed, error) {
	max, maxBytes := r.Max, r.MaxBytes
	s.mu.Lock()
	after, ok := s.sinks[sink]
	if r.After > after {
		after = r.After
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
			rec := record.Sealed{Chain: chain, Seq: binary.BigEndian.Uint64(k), Payload: append([]byte(nil), v[32:]...)}
			copy(rec.MAC[:], v[:32])
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read spool for %q: %w", sink, err)
	}
	return out, nil
}

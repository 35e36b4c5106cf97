package spool

import bolt "go.etcd.io/bbolt"

// releaseEvery is how many payload bytes the sinks acknowledge between
// two releases of the file's mapped pages. At 8 MiB the mapping's share
// of the sidecar's peak RSS on the bench workload was 16 MiB into
// PostgreSQL and 11 into SQLite; at 4 it is 13 and 7.5, for no rate
// measurably lost (bench/rss.sh, two runs of each alternated); at 2 the
// pages reads and trims touch again fault back in, about 9% of the rate.
const releaseEvery = 4 << 20

// The spool file is mapped into memory (bbolt reads through the mapping),
// and every page a read or a trim touches stays in the process's resident
// set until the mapping is dropped: with a sink behind by a hundred MB,
// the sidecar's RSS grew by that much, although those pages are the
// kernel's page cache and hold nothing the process needs. released
// has the kernel drop them from the mapping (they stay in the page
// cache; the next read maps them again, without I/O), once every
// releaseEvery bytes acknowledged.

// released counts acknowledged bytes and releases the mapping when due.
// Called with mu held, outside any transaction.
func (s *Spool) released(freed int64) {
	s.sinceRelease += freed
	if s.sinceRelease < releaseEvery {
		return
	}
	s.release()
}

// ReleaseMemory releases the file's mapped pages now, whatever was
// acknowledged since the last release: for an idle sidecar, after a burst
// (they would otherwise stay resident until the next releaseEvery bytes).
func (s *Spool) ReleaseMemory() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release()
}

// release drops the mapped pages. Called with mu held, outside any
// transaction.
func (s *Spool) release() {
	s.sinceRelease = 0
	// In a read transaction the mapping cannot move: bbolt remaps (when
	// the file grows) only while no read transaction is open.
	s.db.View(func(tx *bolt.Tx) error { //nolint:errcheck // dropping pages is advice; it cannot fail the spool
		info := s.db.Info()
		dropMapped(info.Data, uintptr(tx.Size()))
		return nil
	})
}

package spool

import (
	"github.com/fips-agents/audit-sidecar/record"
)

// recentMax bounds the payload bytes kept in Spool.recent: about one
// ingest batch of the bench workload (1 000 records of about 1 KB), which
// a sink that keeps up reads next, and not a sink's backlog, which would
// be memory held for records a sink further behind reads from the file
// anyway. It was 16 MiB, then 4; 1 took the sidecar's peak RSS on the
// bench workload from 70 to 61 MiB at the same rate (bench/rss.sh, two
// runs of each alternated): under load the sinks are behind and read the
// file, and a record in recent costs the heap about twice its payload
// (its indexed fields, and GOGC's headroom).
const recentMax = 1 << 20

// putBufMax bounds the append buffer Spool keeps from batch to batch: a
// few ingest batches of the bench workload (about 1 MB each), so that it
// is reused, and not the buffer of a huge batch once.
const putBufMax = 4 << 20

// remember adds a committed batch to recent. Called with mu held.
func (s *Spool) remember(batch []record.Sealed) {
	if need := len(s.recent) + len(batch); need > cap(s.recent) {
		// Move the kept records to the front of the buffer (forget
		// advanced past the others), or to a larger one.
		buf := s.recentBuf
		if cap(buf) < need {
			buf = make([]record.Sealed, 0, 2*need)
		}
		n := copy(buf[:len(s.recent)], s.recent)
		clear(buf[n:cap(buf)]) // stale copies would keep payloads alive
		s.recent, s.recentBuf = buf[:n], buf[:0]
	}
	for _, r := range batch {
		s.recent = append(s.recent, r)
		s.recentBytes += len(r.Payload)
	}
	drop, over := 0, s.recentBytes-recentMax
	for ; drop < len(s.recent) && over > 0; drop++ {
		over -= len(s.recent[drop].Payload)
	}
	s.forget(drop)
}

// forget drops the oldest n records of recent. Called with mu held.
func (s *Spool) forget(n int) {
	if n == 0 {
		return
	}
	for i := range n {
		s.recentBytes -= len(s.recent[i].Payload)
	}
	clear(s.recent[:n]) // let the payloads go
	s.recent = s.recent[n:]
}

// fromRecent returns the records after seq after from recent, or false
// when recent does not hold the next one. Called with mu held.
func (s *Spool) fromRecent(after uint64, max, maxBytes int) ([]record.Sealed, bool) {
	if len(s.recent) == 0 || s.recent[0].Seq > after+1 || after >= s.recent[len(s.recent)-1].Seq {
		return nil, false
	}
	rs := s.recent[after+1-s.recent[0].Seq:]
	n, size := 0, 0
	for n < len(rs) && n < max && (maxBytes <= 0 || size < maxBytes) {
		size += len(rs[n].Payload)
		n++
	}
	return append([]record.Sealed(nil), rs[:n]...), true
}

package spool

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/fips-agents/audit-sidecar/record"
)

// mappedKB returns the resident kilobytes of this process's mappings of
// the file at path (/proc/self/smaps).
func mappedKB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	defer f.Close()
	kb, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) >= 5 && strings.Contains(fields[0], "-") {
			in = len(fields) >= 6 && fields[len(fields)-1] == path
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			kb += n
		}
	}
	return kb
}

// Pages of the spool file that reads and trims touch leave the process's
// resident set once the sinks have acknowledged them: a sink far behind
// does not grow the sidecar's memory by the size of its backlog.
func TestSpool_ReleasesMappedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := open(t, path, 0)
	defer s.Close()
	if err := s.Register([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	// 48 MiB in records of 4 KiB, past what recent keeps: the sink's
	// reads go through the file's mapping.
	body := bytes.Repeat([]byte("x"), 4096)
	const n = 12 * 1024
	for from := 1; from <= n; from += 1024 {
		batch := make([]record.Sealed, 0, 1024)
		for i := from; i < from+1024; i++ {
			r := record.Sealed{Chain: "c", Seq: uint64(i), Payload: body}
			batch = append(batch, r)
		}
		if err := s.Append(batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	var peak int
	for after := uint64(0); after < n; {
		recs, err := s.Read("a", Range{After: after, Max: 1024})
		if err != nil || len(recs) == 0 {
			t.Fatalf("read after %d: %d records, %v", after, len(recs), err)
		}
		peak = max(peak, mappedKB(t, path))
		after = recs[len(recs)-1].Seq
		if err := s.Ack("a", after); err != nil {
			t.Fatal(err)
		}
	}
	end := mappedKB(t, path)
	t.Logf("resident pages of the spool's mapping: peak %d KiB, at the end %d KiB", peak, end)
	// Without the release the peak is the whole backlog read (about 48
	// MiB); with it, about releaseEvery plus a batch.
	if peak > 2*releaseEvery/1024+8*1024 || end > releaseEvery/1024+8*1024 {
		t.Errorf("the mapping kept %d KiB at its peak and %d KiB at the end; releases are due every %d KiB acknowledged", peak, end, releaseEvery/1024)
	}
}

// ReleaseMemory drops the mapped pages at once, short of releaseEvery
// bytes acknowledged: what an idle sidecar does after a burst.
func TestSpool_ReleaseMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := open(t, path, 0)
	defer s.Close()
	if err := s.Register([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	// Half of releaseEvery, read back through the mapping.
	const n = releaseEvery / 2 / 4096
	body := bytes.Repeat([]byte("x"), 4096)
	batch := make([]record.Sealed, 0, n)
	for i := 1; i <= n; i++ {
		batch = append(batch, record.Sealed{Chain: "c", Seq: uint64(i), Payload: body})
	}
	if err := s.Append(batch, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Read("a", Range{After: 0, Max: n})
	if err != nil || len(recs) != n {
		t.Fatalf("read: %d records, %v", len(recs), err)
	}
	if err := s.Ack("a", n); err != nil {
		t.Fatal(err)
	}
	// Touch the pages, as reads of a backlog would: every value of every
	// bucket, read through the mapping.
	var walk func(b *bolt.Bucket)
	var sum byte
	walk = func(b *bolt.Bucket) {
		b.ForEach(func(k, v []byte) error { //nolint:errcheck // the func returns nil
			if v == nil {
				walk(b.Bucket(k))
			} else if len(v) > 0 {
				sum += v[len(v)-1]
			}
			return nil
		})
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { walk(b); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	_ = sum
	before := mappedKB(t, path)
	s.ReleaseMemory()
	after := mappedKB(t, path)
	t.Logf("resident pages of the spool's mapping: %d KiB before, %d KiB after", before, after)
	if before < releaseEvery/2/1024 || after > 64 {
		t.Errorf("ReleaseMemory left %d of %d KiB resident", after, before)
	}
	// The spool appends and reads on after the release.
	if err := s.Append([]record.Sealed{{Chain: "c", Seq: n + 1, Payload: body}}, nil); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.Read("a", Range{After: n, Max: 10}); err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Payload, body) {
		t.Fatalf("read after the release: %d records, %v", len(recs), err)
	}
}

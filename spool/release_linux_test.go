package spool

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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

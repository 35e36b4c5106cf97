package sink

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// A purge may delete the newest rows of the table: a chain's records
// stored after its retention_purge record (the store takes a chain's
// records in any order: a gap filled later). SQLite then gives the next
// rows rowids at or below the trace table's watermark, and a trace
// search must still find them.
func TestAdvTrace_PurgeOfTheNewestRows(t *testing.T) {
	defer func(n int64) { traceIndexEvery = n }(traceIndexEvery)
	traceIndexEvery = 3
	s, _ := openTestSQLite(t)
	ctx := context.Background()
	recs := chainRecords("c", 1, 8)
	for _, r := range recs {
		r.Trace = "t"
	}
	writeOK(t, s, sealAll(recs[:5]))
	writeOK(t, s, sealAll([]*record.Record{purgeRecord("c", 10, 8, baseTS.Add(time.Hour))}))
	writeOK(t, s, sealAll(recs[5:8]))
	if err := s.Purge(ctx, Purge{Chain: "c", Seq: 10, Through: 8, Cutoff: baseTS.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	later := chainRecords("d", 1, 5)
	var want []string
	for _, r := range later {
		r.Trace = "t"
		want = append(want, fmt.Sprintf("d/%d", r.Seq))
	}
	for i := range later {
		writeOK(t, s, sealAll(later[i:i+1]))
		got, err := s.Search(ctx, Filter{Trace: "t", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(positions(got), want[:i+1]) {
			t.Fatalf("after d/%d: trace t holds %v, want %v", i+1, positions(got), want[:i+1])
		}
	}
}

package pipeline

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/fips-agents/audit-sidecar/internal/hostile"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// Lines of 4 MiB, at the default value budget (max_line_bytes / 64).
const (
	hostileLineBytes  = 4 << 20
	hostileLineValues = hostileLineBytes / 64
)

// BenchmarkIngest_HostileLine measures what one hostile line costs from
// the tailer's hand-off to the sealed record in the open batch (parse,
// redact, seal; not the spool commit): bytes and allocations per line,
// and allocated bytes per byte of the line (alloc-B/line-B). Run one
// format with -bench 'HostileLine/native/', one shape with
// -bench 'HostileLine/.*/strings$'; the process-level peak of the same
// lines is e2e/linememory_test.go's.
func BenchmarkIngest_HostileLine(b *testing.B) {
	red, err := redact.New(redact.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range hostile.Formats {
		for _, shape := range hostile.Shapes {
			b.Run(format+"/"+shape, func(b *testing.B) {
				sp, err := spool.Open(filepath.Join(b.TempDir(), "spool.db"), spool.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer sp.Close()
				mk, err := parse.New(parse.Config{Format: format, Mapping: parse.Mapping{"action": {Path: "action"}}, MaxValues: hostileLineValues})
				if err != nil {
					b.Fatal(err)
				}
				key := testKey(&testing.T{})
				in, err := NewIngester(IngestConfig{ChainID: "c", Key: key, Spool: sp, Redactor: red, Dialect: mk})
				if err != nil {
					b.Fatal(err)
				}
				text := hostile.Line(format, shape, hostileLineBytes, hostileLineValues)
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for b.Loop() {
					in.handle(tailer.Line{Text: text, Path: "/log"})
					in.batch, in.batchBytes = in.batch[:0], 0
				}
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(text)), "alloc-B/line-B")
			})
		}
	}
}

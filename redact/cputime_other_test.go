//go:build !unix

package redact

import "time"

// cpuTime is not measured here; benchmarks then report no CPU-time metric.
func cpuTime() time.Duration { return 0 }

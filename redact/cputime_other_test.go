//go:build !linux

package redact

import "time"

var cpuStart = time.Now()

// threadCPU falls back to elapsed time where thread CPU time is not read.
func threadCPU() time.Duration { return time.Since(cpuStart) }

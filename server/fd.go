package server

import (
	"fmt"
	"math"
	"os"
)

// FDReserve is how many file descriptors the listeners leave free for the
// pipeline, besides those open when they start: the tailer's generations
// and directory listings, rotated siblings being drained, SQLite's journal
// files, PostgreSQL connections, the epoch key's temporary file, witness
// and checkpoint files.
const FDReserve = 256

// MinConns is the smallest per-listener cap ConnBudget accepts.
const MinConns = 8

// ConnBudget returns how many connections each of n listeners may hold
// open so that FDReserve descriptors stay free: (soft open-file limit -
// descriptors open now - FDReserve) / n. limit is the soft limit. It fails
// when that leaves fewer than MinConns per listener.
func ConnBudget(n int) (perListener int, limit uint64, err error) {
	limit, ok := openFileLimit()
	if !ok || n < 1 {
		return math.MaxInt32, limit, nil
	}
	open := openFDs()
	free := int64(min(limit, math.MaxInt32)) - int64(open) - FDReserve
	per := free / int64(n)
	if per < MinConns {
		return 0, limit, fmt.Errorf("the open-file limit (%d, with %d open) leaves fewer than %d connections per listener after the %d kept for the pipeline; raise it (ulimit -n, or the container runtime's nofile)", limit, open, MinConns, FDReserve)
	}
	return int(per), limit, nil
}

// openFDs counts the descriptors open now (0 when the system does not say).
func openFDs() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err == nil {
			return len(names)
		}
	}
	return 0
}

package tailer

import (
	"bytes"
	"context"
	"runtime"
	"testing"
)

// bytesAllocated is what f allocates on the heap.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A long line assembled from many reads costs about twice its length: its
// buffer grows by doubling (append's quarter steps would allocate about
// five times it) and is handed out without a copy.
func TestGen_LongLineAllocatesTwiceItsLength(t *testing.T) {
	const lineLen = 8 << 20
	for _, maxLen := range []int{lineLen, 2 * lineLen} {
		line := bytes.Repeat([]byte("a"), lineLen)
		out := make(chan Line, 1)
		g := &gen{}
		var l Line
		n := bytesAllocated(func() {
			for off := 0; off < lineLen; off += readBufSize {
				if err := g.consume(context.Background(), out, line[off:off+readBufSize], maxLen, carry{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := g.consume(context.Background(), out, []byte("\n"), maxLen, carry{}); err != nil {
				t.Fatal(err)
			}
			l = <-out
		})
		if !bytes.Equal(l.Text, line) || l.FullLen != lineLen || l.Truncated {
			t.Fatalf("max %d: line of %d bytes (full %d, truncated %v), want the %d bytes written", maxLen, len(l.Text), l.FullLen, l.Truncated, lineLen)
		}
		if n > 2*lineLen+lineLen/4 {
			t.Errorf("max %d: a line of %d bytes allocated %d bytes (%.1fx)", maxLen, lineLen, n, float64(n)/lineLen)
		}
	}
}

package tailer

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkGen_Consume hands out the lines of one read (64 KiB of
// 200-byte lines), with the position each line carries (its tail
// fingerprint and the read history included).
func BenchmarkGen_Consume(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 199), '\n')
	chunk := bytes.Repeat(line, readBufSize/len(line))
	out := make(chan Line, len(chunk)/len(line))
	read := make([]ReadGen, 8)
	g := &gen{}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := g.consume(context.Background(), out, chunk, DefaultMaxLineBytes, carry{read: read}); err != nil {
			b.Fatal(err)
		}
		for range len(chunk) / len(line) {
			<-out
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(len(chunk)/len(line))), "ns/line")
}

package verify

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
)

var benchExport = flag.String("bench-export", "", "write the benchmark's export file here too (for timing `audit-sidecar verify --file`)")

// writeExport writes an export of one chain of n records as the sidecar
// seals them: tool calls with arguments, a checkpoint record every 1000
// records, epochs sealed every 10000 records. It returns the epoch-1 key
// and the checkpoint verifier.
func writeExport(tb testing.TB, path string, n int) (chain.Key, *chain.NoteVerifier) {
	tb.Helper()
	key, err := chain.NewKey("", []byte("benchmark-key-0123456789abcdef-0123456789"))
	if err != nil {
		tb.Fatal(err)
	}
	seed := make([]byte, ed25519.SeedSize)
	der, _ := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed))
	signer, err := chain.ParseSigner("bench", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	s := chain.NewSealer("bench-chain", key, chain.Head{})
	s.SetEpoch(1)
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var line []byte
	write := func(r *record.Record) {
		sealed := s.Seal(r)
		line = append(record.AppendJSON(line[:0], sealed.Payload, sealed.MAC), '\n')
		w.Write(line)
	}
	for i := 1; i <= n; {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		r := &record.Record{TS: now, IngestedAt: now, Action: record.ActionToolCall, User: "u-" + strconv.Itoa(i%97),
			Tenant: "acme", Session: "s-" + strconv.Itoa(i/50), Model: "granite-3.3-8b", Tool: "payments.refund",
			Arguments: json.RawMessage(`{"amount":` + strconv.Itoa(i) + `,"email":"[REDACTED:EMAIL]","reason":"duplicate charge"}`)}
		switch {
		case i == 1:
			r = &record.Record{TS: now, IngestedAt: now, Action: record.ActionChainStart}
		case i%10000 == 0:
			r = &record.Record{TS: now, IngestedAt: now, Action: record.ActionSeal, Detail: json.RawMessage(`{"epoch":` + strconv.FormatUint(s.Epoch(), 10) + `}`)}
			write(r)
			s.Ratchet()
			i++
			continue
		case i%1000 == 0:
			h, tr := s.Head(), s.Tree()
			note, err := chain.Sign(chain.Checkpoint{Chain: "bench-chain", Size: h.Seq, Root: tr.Root(), HeadMAC: h.MAC, Time: now}, signer)
			if err != nil {
				tb.Fatal(err)
			}
			r = &record.Record{TS: now, IngestedAt: now, Action: record.ActionCheckpoint, Detail: chain.CheckpointDetail(note, tr)}
		}
		write(r)
		i++
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	base, _ := chain.NewKey("", []byte("benchmark-key-0123456789abcdef-0123456789"))
	return base, signer.Verifier()
}

// BenchmarkVerify_1M verifies an export of 1 000 000 records (MACs with
// derived epoch keys, 1000 checkpoint signatures and Merkle roots) from a
// file, as `audit-sidecar verify --file` does. Run with -benchtime=1x.
// It reports the peak heap in use sampled during the run (MiB).
func BenchmarkVerify_1M(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "export.ndjson")
	if *benchExport != "" {
		path = *benchExport
	}
	key, ver := writeExport(b, path, n)
	fs, err := OpenFile(path)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ResetTimer()
	var peak uint64
	for range b.N {
		done := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		rep, err := Run(context.Background(), fs, Options{Keys: chain.Keyring{key.ID: key}, Trusted: chain.Verifiers{ver}}, nil)
		close(done)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Verdict != Valid || rep.Chains[0].Records != n || rep.Chains[0].Checkpoints != n/1000-n/10000 {
			b.Fatalf("verdict %s, %+v, problems %v", rep.Verdict, rep.Chains, rep.Problems)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

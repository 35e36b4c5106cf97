package redact

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// toolArgs builds n tool-call argument objects of about 600 bytes, 30% of
// them carrying 1-2 PII literals, deterministically.
func toolArgs(n int) [][]byte {
	rng := rand.New(rand.NewPCG(42, 7))
	words := strings.Fields(`the a customer order account invoice refund policy ticket request
		status pending shipped delayed billing cycle plan upgrade region warehouse item sku total
		deploy config rollout cluster node metric alert incident review approve because next step`)
	sentence := func(k int) string {
		var sb strings.Builder
		for i := 0; i < k; i++ {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[rng.IntN(len(words))])
		}
		return sb.String()
	}
	hex := func(k int) string {
		const d = "0123456789abcdef"
		b := make([]byte, k)
		for i := range b {
			b[i] = d[rng.IntN(16)]
		}
		return string(b)
	}
	pii := []string{
		"dana.scully@example.com", "4111 1111 1111 1111", "5555555555554444", "078-05-1120",
		"(415) 555-0132", "415.555.0132", "+1 415 555 0132", "10.20.30.40", "fox_mulder42@fbi.gov",
	}
	out := make([][]byte, n)
	for i := range out {
		body := sentence(30 + rng.IntN(20))
		to := "cus_" + hex(14)
		if rng.IntN(10) < 3 {
			to = pii[rng.IntN(len(pii))]
			body += " Reach me at " + pii[rng.IntN(len(pii))] + "."
		}
		out[i] = fmt.Appendf(nil, `{"tool":"email.send","call_id":"call_%s","arguments":{"to":[%q],`+
			`"subject":%q,"body":%q,"priority":%d,"tags":["billing","tier-%d"],"dry_run":false,`+
			`"trace":{"trace_id":"%s","span_id":"%s","ts":"2025-06-02T09:00:00.%09dZ"}}}`,
			hex(12), to, sentence(6), body, rng.IntN(5), rng.IntN(4), hex(32), hex(16), rng.IntN(1e9))
	}
	return out
}

func benchJSON(b *testing.B, lines [][]byte) { benchJSONWith(b, mustNew(b, Config{}), lines, false) }

// benchJSONWith redacts lines with r, through ExplainJSON (as the pipeline
// does, building each record's manifest) when explain is set.
func benchJSONWith(b *testing.B, r *Redactor, lines [][]byte, explain bool) {
	total := 0
	for _, l := range lines {
		total += len(l)
	}
	b.SetBytes(int64(total / len(lines)))
	b.ReportAllocs()
	dst := make([]byte, 0, 64<<10)
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		var err error
		if explain {
			dst, _, err = r.ExplainJSON(dst[:0], lines[i%len(lines)], "", nil)
		} else {
			dst, err = r.JSON(dst[:0], lines[i%len(lines)], nil)
		}
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		// Throughput per CPU-second: what one core does, whatever else
		// runs on the machine.
		b.ReportMetric(float64(total)/float64(len(lines))*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
	}
}

// BenchmarkJSON: synthetic tool-call arguments (~600 B, 30% with PII).
func BenchmarkJSON(b *testing.B) { benchJSON(b, toolArgs(1000)) }

// eventLines reads the bench workload sample: whole event lines from the
// bench generator (testdata/events.jsonl: bench/cmd/gen -n 300 -seed 42),
// or the file named by REDACT_BENCH_EVENTS (a larger run of the same
// generator).
func eventLines(b *testing.B) [][]byte {
	name := "testdata/events.jsonl"
	if env := os.Getenv("REDACT_BENCH_EVENTS"); env != "" {
		name = env
	}
	f, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

// BenchmarkJSON_Events: the bench workload with the default packs.
func BenchmarkJSON_Events(b *testing.B) { benchJSON(b, eventLines(b)) }

// BenchmarkJSON_EventsPacks: the bench workload per pack selection, to
// read the cost of each pack against "none" (the JSON walk alone) and
// "default" (core, secrets); "all" is hipaa, gdpr, in and br (names
// included). "default+manifest" is what the pipeline runs:
// ExplainJSON, which also returns every replacement with its path.
func BenchmarkJSON_EventsPacks(b *testing.B) {
	lines := eventLines(b)
	for _, tc := range []struct {
		name  string
		packs []string
	}{
		{"none", []string{}},
		{"core", []string{"core"}},
		{"secrets", []string{"secrets"}},
		{"default", nil},
		{"default+manifest", nil},
		{"us", []string{"us"}},
		{"eu", []string{"eu"}},
		{"in", []string{"in"}},
		{"br", []string{"br"}},
		{"names", []string{"names"}},
		{"all", allPacks},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchJSONWith(b, mustNew(b, Config{Packs: tc.packs}), lines, tc.name == "default+manifest")
		})
	}
}

func BenchmarkString_NoPII(b *testing.B) {
	r := mustNew(b, Config{})
	vals := []string{
		"Column coupon delayed address match. Discount renewal customer tool a compliance incident. Config allowed address node automatic table primary item renewal.",
		"2025-06-02T09:00:00.001261673Z",
		"8b1d80ceb337c836ede58c0576b0f10f",
		"claude-3-5-haiku-20241022",
		"Team rollout metric log. Cohort warehouse update sku trace. Verify sku automatic denied at 10:30:00, build 1.2.3.",
	}
	total := 0
	for _, v := range vals {
		total += len(v)
	}
	b.SetBytes(int64(total / len(vals)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if s := r.String(vals[i%len(vals)], nil); len(s) == 0 {
			b.Fatal("empty")
		}
		i++
	}
}

func BenchmarkString_PII(b *testing.B) {
	r := mustNew(b, Config{})
	s := "Customer email dana@example.com, card 4111 1111 1111 1111, phone (415) 555-0132, IP 10.1.2.3."
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		r.String(s, nil)
	}
}

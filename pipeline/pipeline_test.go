package pipeline

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/envelope"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upper is a stand-in redactor: it replaces the literal "secret" and
// fails on the literal "boom", so fail-closed handling can be observed.
type upper struct{}

func (upper) ExplainJSON(dst, src []byte, root string, counts map[string]int) ([]byte, []redact.Hit, error) {
	s := string(src)
	if s == `"boom"` || s == `{"x":"boom"}` {
		return dst, nil, errors.New("cannot")
	}
	var hits []redact.Hit
	for i := 0; i+6 <= len(s); i++ {
		if s[i:i+6] == "secret" {
			s = s[:i] + "XXXXXX" + s[i+6:]
			counts["TEST"]++
			hits = append(hits, redact.Hit{Rule: "rule:test", Type: "TEST", Path: root})
		}
	}
	return append(dst, s...), hits, nil
}

func (upper) Policy() string { return "rp1-test" }

// ruleCount is the count of a rule in a record's manifest.
func ruleCount(r *record.Record, rule string) int {
	if r.Manifest == nil {
		return 0
	}
	for _, rh := range r.Manifest.Rules {
		if rh.Rule == rule {
			return rh.Count
		}
	}
	return 0
}

func testKey(t *testing.T) chain.Key {
	k, err := chain.NewKey("", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func line(n int, text string) tailer.Line {
	return tailer.Line{Text: []byte(text), Path: "/log", Dev: 1, Ino: 2, Offset: int64(n * 100),
		Next: tailer.Position{Path: "/log", Dev: 1, Ino: 2, Offset: int64(n*100 + 100)}}
}

// collect is a sink that records what it gets and can be made to fail.
type collect struct {
	mu    sync.Mutex
	fails int
	got   map[uint64][]byte
	calls int
}

func (c *collect) Write(ctx context.Context, batch []record.Sealed) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.fails > 0 {
		c.fails--
		return errors.New("sink down")
	}
	for _, r := range batch {
		c.got[r.Seq] = r.Payload
	}
	return nil
}
func (c *collect) Close() error { return nil }
func (c *collect) count() int   { c.mu.Lock(); defer c.mu.Unlock(); return len(c.got) }

func TestIngestAndDeliver(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sp.Register([]string{"s"})
	key := testKey(t)
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: key, Spool: sp, Redactor: upper{}, BatchRecords: 7, BatchWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sk := &collect{got: map[uint64][]byte{}, fails: 3}
	d := NewDeliverer("s", sk, sp, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan tailer.Line)
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, lines) }()
	drain := make(chan struct{})
	ddone := make(chan error, 1)
	dctx, dcancel := context.WithCancel(context.Background())
	defer dcancel()
	go func() { ddone <- d.Run(dctx, drain) }()

	const n = 50
	for i := 0; i < n; i++ {
		text := fmt.Sprintf(`{"action":"tool_call","arguments":{"q":"my secret %d"}}`, i)
		switch i {
		case 10:
			text = "not json"
		case 20:
			text = `{"action":"tool_call","arguments":"boom"}`
		}
		lines <- line(i, text)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(drain)
	if err := <-ddone; err != nil {
		t.Fatal(err)
	}
	// chain_start, sidecar_start, n lines, sidecar_stop; all delivered
	// despite three failed writes, each exactly once, in a valid chain.
	if got := sk.count(); got != n+3 {
		t.Fatalf("sink has %d records, want %d", got, n+3)
	}
	if sk.calls < 4 {
		t.Fatalf("sink failures were not retried: %d calls", sk.calls)
	}
	var problems []string
	v := chain.NewVerifier("c", chain.Keyring{key.ID: key}, func(e *chain.VerifyError) { problems = append(problems, e.Error()) })
	var actions []string
	for seq := uint64(1); seq <= n+3; seq++ {
		p := sk.got[seq]
		r, err := record.Parse(p)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		actions = append(actions, r.Action)
		mac := chain.MAC(key, prevOf(t, r), p)
		v.Add(seq, p, mac[:])
		if seq == 14 && (ruleCount(r, "rule:test") != 1 || r.Manifest.Policy != "rp1-test" || r.Manifest.Rules[0].Paths[0] != "arguments" || string(r.Arguments) != `{"q":"my XXXXXX 11"}`) {
			t.Errorf("line 11 not redacted: %s %+v", r.Arguments, r.Manifest)
		}
		if seq == 23 && (string(r.Arguments) != `"[REDACTED:UNPROCESSABLE]"` || ruleCount(r, "builtin:UNPROCESSABLE") != 1) {
			t.Errorf("failed redaction not closed: %s", r.Arguments)
		}
	}
	if s := v.Finish(); s.Invalid != 0 {
		t.Fatalf("chain invalid: %v", problems)
	}
	if actions[0] != "chain_start" || actions[1] != "sidecar_start" || actions[12] != "parse_error" || actions[n+2] != "sidecar_stop" {
		t.Fatalf("actions %v", actions)
	}
	// The committed source position is the one after the last line.
	var pos tailer.Position
	json.Unmarshal(sp.State().Source, &pos)
	if pos.Offset != n*100 {
		t.Fatalf("committed offset %d", pos.Offset)
	}
	if sp.PendingBytes() != 0 {
		t.Fatalf("spool still holds %d bytes", sp.PendingBytes())
	}

	// A second run continues the chain with sidecar_start, no chain_start.
	in2, _ := NewIngester(IngestConfig{ChainID: "c", Key: key, Spool: sp, Redactor: upper{}})
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	in2.Run(ctx2, nil)
	recs, _ := sp.Read("s", spool.Range{Max: 10})
	if len(recs) != 2 || recs[0].Seq != n+4 {
		t.Fatalf("second run: %d records", len(recs))
	}
	if r, _ := record.Parse(recs[0].Payload); r.Action != "sidecar_start" {
		t.Fatalf("second run starts with %s", r.Action)
	}
	if _, err := NewIngester(IngestConfig{ChainID: "other", Key: key, Spool: sp, Redactor: upper{}}); !errors.Is(err, spool.ErrChainMismatch) {
		t.Fatalf("other chain id accepted: %v", err)
	}
}

func prevOf(t *testing.T, r *record.Record) [32]byte {
	var p [32]byte
	b, err := hexDecode(r.Prev)
	if err != nil {
		t.Fatal(err)
	}
	copy(p[:], b)
	return p
}

func TestIngest_BackpressureWhenFull(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{MaxBytes: 4000})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sp.Register([]string{"s"})
	in, _ := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, BatchRecords: 1})
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan tailer.Line)
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, lines) }()
	sent := 0
	for !in.SpoolFull() {
		select {
		case lines <- line(sent, `{"action":"decision","pad":"`+string(make([]byte, 0))+`xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`):
			sent++
		case <-time.After(10 * time.Millisecond):
		}
	}
	// While full, no line is taken.
	select {
	case lines <- line(sent, `{"action":"decision"}`):
		t.Fatal("a line was taken while the spool was full")
	case <-time.After(200 * time.Millisecond):
	}
	// Delivering frees room and ingestion resumes.
	recs, _ := sp.Read("s", spool.Range{Max: 1000})
	sp.Ack("s", recs[len(recs)-1].Seq)
	lines <- line(sent, `{"action":"decision"}`)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }

// With an envelope, the committed position never passes a fragment whose
// message is incomplete; a message that never completes is recorded as
// received once maxHeldLines lines (its own first fragment's included)
// have passed, and only then does the position move on.
func TestIngest_EnvelopeHoldsPositionWhileAMessageIsIncomplete(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, Envelope: envelope.CRI})
	if err != nil {
		t.Fatal(err)
	}
	cri := func(stream, tag, text string) string {
		return "2026-11-27T10:00:00Z " + stream + " " + tag + " " + text
	}
	in.handle(line(0, cri("stdout", "F", `{"action":"decision","n":0}`)))
	if in.pos.single == nil || in.pos.single.Offset != 100 || len(in.batch) != 1 {
		t.Fatalf("after a whole line: pos %+v, %d records", in.pos.single, len(in.batch))
	}
	in.handle(line(1, cri("stdout", "P", `{"action":"deci`)))
	for n := 2; n <= maxHeldLines; n++ { // the fragment's line and maxHeldLines-1 more
		in.handle(line(n, cri("stderr", "F", fmt.Sprintf(`{"action":"error","n":%d}`, n))))
		if in.pos.single.Offset != 100 || len(in.batch) != 1 {
			t.Fatalf("line %d: position moved to %d with a message pending (%d records)", n, in.pos.single.Offset, len(in.batch))
		}
	}
	// One more line: the stuck message is recorded as received, then all
	// that was held, in order; the position moves past everything.
	last := maxHeldLines + 1
	in.handle(line(last, cri("stderr", "F", `{"action":"error"}`)))
	if in.pos.single.Offset != int64(last*100+100) {
		t.Errorf("position %d, want %d", in.pos.single.Offset, last*100+100)
	}
	if want := maxHeldLines + 2; len(in.batch) != want {
		t.Fatalf("%d records, want %d", len(in.batch), want)
	}
	var parseErrors int
	for _, s := range in.batch {
		r, _ := record.Parse(s.Payload)
		if r.Action == record.ActionParseError {
			parseErrors++
			if r.Source == nil || r.Source.Offset != 100 {
				t.Errorf("the incomplete message's record points at %+v, want the fragment's offset 100", r.Source)
			}
		}
	}
	if parseErrors != 1 {
		t.Errorf("%d parse_error records, want 1 (the incomplete message)", parseErrors)
	}
}

// Every metric is created and registered: a nil one would panic at the
// first event, and an unregistered one would never be exported.
func TestMetrics_AllCreatedAndRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsNil() {
			t.Errorf("metric %s is nil", v.Type().Field(i).Name)
		}
	}
	m.Records.WithLabelValues("x").Inc()
	m.Redactions.WithLabelValues("x").Inc()
	for _, vec := range []*prometheus.CounterVec{m.Delivered, m.SinkErrors, m.SinkReplaced, m.Quarantined, m.PurgeErrors, m.WitnessErrors} {
		vec.WithLabelValues("s").Inc()
	}
	m.SinkLag.WithLabelValues("s").Set(1)
	m.SinkUp.WithLabelValues("s").Set(1)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != v.NumField() {
		t.Errorf("%d metric families gathered, want %d (one per field)", len(families), v.NumField())
	}
}

// A gap from the tailer becomes a chained gap record naming the file and
// the byte range; the committed position does not move for it.
func TestIngest_GapBecomesARecord(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}})
	if err != nil {
		t.Fatal(err)
	}
	in.handle(tailer.Line{Path: "/log", Dev: 1, Ino: 2, Offset: 800, Gap: &tailer.Gap{From: 800, To: 1000, Reason: "copied and truncated"}})
	if in.pos.single != nil || len(in.batch) != 1 {
		t.Fatalf("pos %v, %d records", in.pos.single, len(in.batch))
	}
	r, err := record.Parse(in.batch[0].Payload)
	if err != nil || r.Action != record.ActionGap {
		t.Fatalf("record %v, %v", r, err)
	}
	var d struct {
		Reason   string `json:"reason"`
		File     string `json:"file"`
		From, To int64
	}
	if err := json.Unmarshal(r.Detail, &d); err != nil || d.Reason != "source copied and truncated" || d.File != "/log" || d.From != 800 || d.To != 1000 {
		t.Errorf("gap detail %s", r.Detail)
	}
}

// Huge records commit early: a batch is committed at maxBatchBytes of
// payload, not only at BatchRecords or BatchWait.
func TestIngest_CommitsLargeBatchesEarly(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, BatchRecords: 1000, BatchWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan tailer.Line)
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, lines) }()
	big := `{"action":"tool_result","detail":{"body":"` + strings.Repeat("y", 1<<20) + `"}}`
	for n := range 20 {
		lines <- line(n, big)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sp.State().HeadSeq < 16 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	head := sp.State().HeadSeq
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if head < 16 {
		t.Errorf("spool head %d while the batch held 20 MiB: no early commit", head)
	}
}

// sizes is a sink that records the size of each batch, with an optional
// MaxBatch.
type sizes struct {
	collect
	max   int
	sizes []int
}

func (s *sizes) Write(ctx context.Context, batch []record.Sealed) error {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(batch))
	s.mu.Unlock()
	return s.collect.Write(ctx, batch)
}

type batcher struct{ *sizes }

func (b batcher) MaxBatch() int { return b.max }

// A waiting backlog is delivered in batches of DeliverBatch records, or
// of the sink's MaxBatch when it is a sink.Batcher.
func TestDeliver_BatchSizes(t *testing.T) {
	for _, tc := range []struct {
		max  int
		want []int
	}{{0, []int{1000, 1000, 1000, 1000, 1000, 1000}}, {2500, []int{2500, 2500, 1000}}} {
		sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Register([]string{"s"}); err != nil {
			t.Fatal(err)
		}
		sealer := chain.NewSealer("c", testKey(t), chain.Head{})
		var batch []record.Sealed
		for range 6000 {
			batch = append(batch, sealer.Seal(&record.Record{TS: time.Now(), IngestedAt: time.Now(), Action: record.ActionDecision}))
		}
		if err := sp.Append(batch, nil); err != nil {
			t.Fatal(err)
		}
		s := &sizes{collect: collect{got: map[uint64][]byte{}}, max: tc.max}
		var sk sink.Sink = s
		if tc.max > 0 {
			sk = batcher{s}
		}
		drain := make(chan struct{})
		close(drain)
		if err := NewDeliverer("s", sk, sp, nil, nil).Run(context.Background(), drain); err != nil {
			t.Fatal(err)
		}
		sp.Close()
		if !slices.Equal(s.sizes, tc.want) || s.count() != 6000 {
			t.Errorf("max %d: batches %v, want %v (%d records)", tc.max, s.sizes, tc.want, s.count())
		}
	}
}

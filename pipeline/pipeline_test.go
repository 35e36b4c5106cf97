package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
	"github.com/fips-agents/audit-sidecar/verify"
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

// flaky is the SQLite sink, failing its first fails writes.
type flaky struct {
	*sink.SQLite
	mu    sync.Mutex
	fails int
	calls int
}

func (f *flaky) Write(ctx context.Context, batch []record.Sealed) error {
	f.mu.Lock()
	f.calls++
	fail := f.fails > 0
	if fail {
		f.fails--
	}
	f.mu.Unlock()
	if fail {
		return errors.New("sink down")
	}
	return f.SQLite.Write(ctx, batch)
}

// Lines go through parse, redact and chain into the spool and from there
// into a real SQLite store, whose records verify checks as an auditor
// would: every MAC recomputed from what the store holds, every link, the
// columns against the payloads.
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
	db, err := sink.OpenSQLite(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sk := &flaky{SQLite: db, fails: 3}
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
	if sk.calls < 4 {
		t.Fatalf("sink failures were not retried: %d calls", sk.calls)
	}
	// chain_start, sidecar_start, n lines, sidecar_stop; all delivered
	// despite three failed writes, each exactly once, in a valid chain.
	rep, err := verify.Run(context.Background(), db, verify.Options{Keys: chain.Keyring{key.ID: key}, Expect: []string{"c"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != verify.Valid || len(rep.Chains) != 1 || rep.Chains[0].Records != n+3 {
		t.Fatalf("verify: %s, chains %+v, problems %v", rep.Verdict, rep.Chains, rep.Problems)
	}
	var actions []string
	err = db.Scan(context.Background(), "c", func(row sink.Row) error {
		r, err := record.Parse(row.Payload)
		if err != nil {
			return fmt.Errorf("seq %d: %w", row.Seq, err)
		}
		actions = append(actions, r.Action)
		if row.Seq == 14 && (ruleCount(r, "rule:test") != 1 || r.Manifest.Policy != "rp1-test" || r.Manifest.Rules[0].Paths[0] != "arguments" || string(r.Arguments) != `{"q":"my XXXXXX 11"}`) {
			t.Errorf("line 11 not redacted: %s %+v", r.Arguments, r.Manifest)
		}
		if row.Seq == 23 && (string(r.Arguments) != `"[REDACTED:UNPROCESSABLE]"` || ruleCount(r, "builtin:UNPROCESSABLE") != 1) {
			t.Errorf("failed redaction not closed: %s", r.Arguments)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(actions) != n+3 || actions[0] != "chain_start" || actions[1] != "sidecar_start" || actions[12] != "parse_error" || actions[n+2] != "sidecar_stop" {
		t.Fatalf("actions %v", actions)
	}
	// The committed source position is the one after the last line.
	if pos, err := in.Resume(); err != nil || pos == nil || pos.Offset != n*100 {
		t.Fatalf("committed position %+v, %v", pos, err)
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

// While the spool is full, no line is taken from the source; once room
// is made, reading goes on. What the test waits for is observed: the
// ingester waiting for room, a line left in the channel while it looks
// at the spool again, the line taken after an ack.
func TestIngest_BackpressureWhenFull(t *testing.T) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{MaxBytes: 4000})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sp.Register([]string{"s"})
	key := testKey(t)
	in, err := NewIngester(IngestConfig{ChainID: "c", Key: key, Spool: sp, Redactor: upper{}, BatchRecords: 1})
	if err != nil {
		t.Fatal(err)
	}
	waits := make(chan struct{}, 1)
	in.roomPoll = time.Millisecond
	in.waitingForRoom = func() {
		select {
		case waits <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan tailer.Line, 1)
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, lines) }()
	pad := `{"action":"decision","pad":"` + strings.Repeat("x", 100) + `"}`
	var sent []tailer.Line
	send := func() {
		l := line(len(sent), pad)
		lines <- l
		sent = append(sent, l)
	}
	// Lines go in until the ingester waits for room.
	for waiting := false; !waiting; {
		select {
		case lines <- line(len(sent), pad):
			sent = append(sent, line(len(sent), pad))
			if len(sent) > 1000 {
				t.Fatal("1000 lines of 100 bytes taken by a spool of 4000 bytes")
			}
		case <-waits:
			waiting = true
		}
	}
	if !in.SpoolFull() {
		t.Error("waiting for room, SpoolFull says no")
	}
	// A line waits in the channel; the ingester looks at the spool again
	// (a fresh signal, after the line was queued) and leaves it there.
	if len(lines) == 0 {
		send()
	}
	select {
	case <-waits:
	default:
	}
	for seen := false; !seen; {
		select {
		case <-waits:
			seen = true
		case <-time.After(time.Millisecond):
		}
		if len(lines) == 0 {
			t.Fatal("a line was taken while the spool was full")
		}
	}
	// Delivering frees room and ingestion resumes: the line is taken.
	recs, _ := sp.Read("s", spool.Range{Max: 1000})
	if err := sp.Ack("s", recs[len(recs)-1].Seq); err != nil {
		t.Fatal(err)
	}
	for len(lines) > 0 {
		select {
		case err := <-done:
			t.Fatalf("Run ended: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, append(recs, spooled(t, sp)...), key, sent)
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

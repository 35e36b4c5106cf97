package witness

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the publisher and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A checkpoint leaves only once its record is delivered, to every target,
// and the URL is retried until the witness accepts the newest one.
func TestPublisher_WaitsForDeliveryAndRetries(t *testing.T) {
	var delivered atomic.Uint64
	var mu sync.Mutex
	changed := make(chan struct{})
	var looks atomic.Int64 // calls of Changed: one per pass of Run's loop
	bump := func(seq uint64) {
		delivered.Store(seq)
		mu.Lock()
		close(changed)
		changed = make(chan struct{})
		mu.Unlock()
	}
	var fails atomic.Int32
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Audit-Chain") != "c" || r.Method != http.MethodPost {
			t.Errorf("bad request %s %v", r.Method, r.Header)
		}
		if fails.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		got.Store(string(b))
	}))
	defer srv.Close()
	dir := t.TempDir()
	var out syncBuffer
	var errs atomic.Int32
	p, err := New(Config{Stdout: &out, Dir: dir, URL: srv.URL, RetryMin: 10 * time.Millisecond,
		OnError:   func(target string) { errs.Add(1) },
		Delivered: delivered.Load,
		Changed:   func() <-chan struct{} { looks.Add(1); mu.Lock(); defer mu.Unlock(); return changed }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()

	p.Publish(Checkpoint{Chain: "c", Size: 9, Seq: 10, Time: time.Unix(1, 0), Note: "note-9\n"})
	// Run's loop asks for Changed, then releases what is delivered. A pass
	// that began after Publish returned saw the checkpoint queued; once
	// the pass after it has begun, that one has finished: whatever it was
	// going to publish is out. Wake-ups that deliver nothing move it on.
	after := looks.Load()
	waitUntil(t, "two passes of the publisher after Publish", func() bool {
		bump(delivered.Load())
		return looks.Load() >= after+2
	})
	if out.String() != "" {
		t.Fatalf("published before delivery: %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "c"+FileSuffix)); err == nil {
		t.Fatal("witness file written before delivery")
	}
	bump(10)
	waitUntil(t, "the witness file", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "c"+FileSuffix))
		return string(b) == "note-9\n"
	})
	waitUntil(t, "the POST after two refusals", func() bool { v, _ := got.Load().(string); return v == "note-9\n" })
	if errs.Load() != 2 {
		t.Errorf("%d errors counted, want 2 (the refused POSTs)", errs.Load())
	}
	if !bytes.Contains([]byte(out.String()), []byte(`"msg":"audit checkpoint","chain":"c","size":9,"seq":10`)) {
		t.Errorf("stdout: %q", out.String())
	}

	// At shutdown, what is delivered is still published and posted.
	p.Publish(Checkpoint{Chain: "c", Size: 20, Seq: 21, Time: time.Unix(2, 0), Note: "note-20\n"})
	delivered.Store(21)
	cancel()
	<-done
	if v, _ := got.Load().(string); v != "note-20\n" {
		t.Errorf("final POST carried %q", v)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("witness folder holds %d files, want 1 (no temp files left)", len(ents))
	}
}

func TestNew_UnwritableFolder(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := New(Config{Dir: filepath.Join(f, "sub")}); err == nil {
		t.Fatal("a folder under a file was accepted")
	}
}

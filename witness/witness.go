// Package witness publishes signed checkpoints off the pod, so that a
// copy of each chain's latest signed state survives whoever controls the
// pod and its volumes: to stdout as one JSON line (the cluster's log
// collector keeps it), to a file per chain in a folder (mount another
// volume there), and by POST to an HTTP witness. A verifier given any of
// these copies (audit-sidecar verify --witness DIR | --checkpoint FILE)
// proves that the store still extends what was published: cutting or
// rolling back the newest records is then detected.
//
// A checkpoint is published only once every sink has stored the record
// that carries it (Config.Delivered): a witness then never holds a
// checkpoint that a store could lag behind, so a store that does not
// extend it has lost records, and verify says invalid. Publication never
// blocks ingestion: Publish queues; Run publishes in the background, to
// stdout and the folder at once (errors are counted and logged) and to
// the URL with retries and backoff. A newer checkpoint replaces an older
// one not yet posted (it extends it, so nothing is lost by skipping).
package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/internal/backoff"
	"github.com/fips-agents/audit-sidecar/internal/fsutil"
	"github.com/fips-agents/audit-sidecar/record"
)

// Checkpoint is one committed signed checkpoint.
type Checkpoint struct {
	Chain string
	Size  uint64 // records covered
	Seq   uint64 // the checkpoint record's own seq
	Time  time.Time
	Note  string // the signed note (docs/chain-format.md)
}

// Config says where to publish. Stdout nil and Dir and URL empty
// publish nowhere.
type Config struct {
	Stdout io.Writer
	Dir    string
	URL    string
	Client *http.Client // nil: a client with a 10 s timeout
	Logger *zap.Logger
	// OnError is called with the target ("stdout", "dir", "url") of each
	// failed attempt.
	OnError func(target string)
	// Delivered returns the highest seq every sink has stored, and Changed
	// a channel closed when that may have changed (spool.Spool's
	// Delivered and Changed). Nil: checkpoints are published at once.
	Delivered func() uint64
	Changed   func() <-chan struct{}
	// RetryMin is the first wait after a failed POST (default 1 s); it
	// doubles up to 30 s.
	RetryMin time.Duration
}

// maxRetry is the longest wait between two POSTs of a checkpoint.
const maxRetry = 30 * time.Second

// maxQueued bounds the checkpoints waiting for delivery (a long sink
// outage); the oldest are dropped first, as each newer one extends them.
const maxQueued = 1024

// FileSuffix ends the name of each chain's file in a witness folder.
const FileSuffix = ".checkpoint"

// Publisher publishes checkpoints. Publish is called by one goroutine;
// Run posts to the URL until its context ends.
type Publisher struct {
	cfg     Config
	mu      sync.Mutex
	queued  []Checkpoint // waiting for delivery
	next    *Checkpoint  // newest not yet posted
	queue   chan struct{}
	wake    chan struct{}
	stopped chan struct{}
}

// New makes a Publisher; if the folder is set it must be writable.
func New(cfg Config) (*Publisher, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.OnError == nil {
		cfg.OnError = func(string) {}
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("witness folder: %w", err)
		}
		f, err := os.CreateTemp(cfg.Dir, ".probe-*")
		if err != nil {
			return nil, fmt.Errorf("witness folder is not writable: %w", err)
		}
		f.Close()
		os.Remove(f.Name())
	}
	return &Publisher{cfg: cfg, wake: make(chan struct{}, 1), queue: make(chan struct{}, 1)}, nil
}

// line is the stdout form: one JSON object per checkpoint.
type line struct {
	Msg        string `json:"msg"`
	Chain      string `json:"chain"`
	Size       uint64 `json:"size"`
	Seq        uint64 `json:"seq"`
	Time       string `json:"time"`
	Checkpoint string `json:"checkpoint"`
}

// Publish queues c; Run publishes it once it is delivered.
func (p *Publisher) Publish(c Checkpoint) {
	p.mu.Lock()
	if len(p.queued) == maxQueued {
		p.queued = p.queued[1:]
	}
	p.queued = append(p.queued, c)
	p.mu.Unlock()
	select {
	case p.queue <- struct{}{}:
	default:
	}
}

// release publishes the queued checkpoints that are delivered.
func (p *Publisher) release() {
	delivered := ^uint64(0)
	if p.cfg.Delivered != nil {
		delivered = p.cfg.Delivered()
	}
	p.mu.Lock()
	var ready []Checkpoint
	for len(p.queued) > 0 && p.queued[0].Seq <= delivered {
		ready = append(ready, p.queued[0])
		p.queued = p.queued[1:]
	}
	p.mu.Unlock()
	for _, c := range ready {
		p.publish(c)
	}
}

// publish writes c to stdout and the folder and hands it to the URL loop.
func (p *Publisher) publish(c Checkpoint) {
	if p.cfg.Stdout != nil {
		b, _ := json.Marshal(line{Msg: "audit checkpoint", Chain: c.Chain, Size: c.Size, Seq: c.Seq,
			Time: record.FormatTime(c.Time), Checkpoint: c.Note})
		if _, err := p.cfg.Stdout.Write(append(b, '\n')); err != nil {
			p.failed("stdout", c, err)
		}
	}
	if p.cfg.Dir != "" {
		if err := writeFile(filepath.Join(p.cfg.Dir, c.Chain+FileSuffix), []byte(c.Note)); err != nil {
			p.failed("dir", c, err)
		}
	}
	if p.cfg.URL != "" {
		p.mu.Lock()
		p.next = &c
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *Publisher) failed(target string, c Checkpoint, err error) {
	p.cfg.OnError(target)
	p.cfg.Logger.Warn("checkpoint not published", zap.String("target", target),
		zap.String("chain", c.Chain), zap.Uint64("size", c.Size), zap.Error(err))
}

// writeFile replaces path with data durably: a temp file in the same
// folder, fsynced, renamed over path, and the folder fsynced.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(path))
}

// Run publishes queued checkpoints as they are delivered until ctx ends,
// then those delivered by then; it returns after a last attempt to post
// to the URL (at most the client's timeout).
func (p *Publisher) Run(ctx context.Context) {
	final := make(chan struct{})
	urlDone := make(chan struct{})
	go func() { defer close(urlDone); p.postLoop(final) }()
	var changed <-chan struct{}
	for {
		if p.cfg.Changed != nil {
			changed = p.cfg.Changed()
		}
		p.release()
		select {
		case <-ctx.Done():
			p.release()
			close(final)
			<-urlDone
			return
		case <-changed:
		case <-p.queue:
		}
	}
}

// postLoop posts the newest published checkpoint to the URL, retrying
// with backoff (RetryMin doubling to 30 s) until it is sent or
// superseded. Once final is closed it tries the newest unsent one once
// more and returns.
func (p *Publisher) postLoop(final <-chan struct{}) {
	if p.cfg.URL == "" {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-final
		cancel()
	}()
	b := backoff.New(p.cfg.RetryMin, maxRetry)
	for {
		p.mu.Lock()
		c := p.next
		p.mu.Unlock()
		if ctx.Err() != nil {
			if c != nil {
				last, stop := context.WithTimeout(context.Background(), p.cfg.Client.Timeout)
				if err := p.post(last, c); err != nil {
					p.failed("url", *c, err)
				}
				stop()
			}
			return
		}
		if c == nil {
			select {
			case <-ctx.Done():
			case <-p.wake:
			}
			continue
		}
		if err := p.post(ctx, c); err != nil {
			if ctx.Err() != nil {
				continue // the final attempt follows
			}
			p.failed("url", *c, err)
			_ = b.Wait(ctx) // once ctx is done, the final attempt follows
			continue
		}
		b.Reset()
		p.mu.Lock()
		if p.next == c {
			p.next = nil
		}
		p.mu.Unlock()
	}
}

func (p *Publisher) post(ctx context.Context, c *Checkpoint) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader([]byte(c.Note)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("X-Audit-Chain", c.Chain)
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("witness answered %s", resp.Status)
	}
	return nil
}

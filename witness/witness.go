// Package witness publishes signed checkpoints off the pod, so that a
// copy of each chain's latest signed state survives whoever controls the
// pod and its volumes: to stdout as one JSON line (the cluster's log
// collector keeps it), to a file per chain in a folder (mount another
// volume there), and by POST to an HTTP witness. A verifier given any of
// these copies (audit-sidecar verify --witness DIR | --checkpoint FILE)
// proves that the store still extends what was published: cutting or
// rolling back the newest records is then detected.
//
// Publication never blocks ingestion: stdout and the file are written at
// once (errors are counted and logged); the URL is posted by a background
// goroutine that retries with backoff, and a newer checkpoint replaces one
// not yet sent (it extends it, so nothing is lost by skipping).
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
}

// FileSuffix ends the name of each chain's file in a witness folder.
const FileSuffix = ".checkpoint"

// Publisher publishes checkpoints. Publish is called by one goroutine;
// Run posts to the URL until its context ends.
type Publisher struct {
	cfg  Config
	mu   sync.Mutex
	next *Checkpoint // newest not yet posted
	wake chan struct{}
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
	return &Publisher{cfg: cfg, wake: make(chan struct{}, 1)}, nil
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

// Publish writes c to stdout and the folder and queues it for the URL.
func (p *Publisher) Publish(c Checkpoint) {
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
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Run posts queued checkpoints to the URL until ctx ends, retrying each
// with backoff (1 s doubling to 30 s) until it is sent or superseded.
// After ctx ends it tries the newest unsent one once more, for at most
// the client's timeout.
func (p *Publisher) Run(ctx context.Context) {
	if p.cfg.URL == "" {
		return
	}
	wait := time.Second
	for {
		p.mu.Lock()
		c := p.next
		p.mu.Unlock()
		if c == nil {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		if ctx.Err() != nil {
			final, cancel := context.WithTimeout(context.Background(), p.cfg.Client.Timeout)
			if err := p.post(final, c); err != nil {
				p.failed("url", *c, err)
			}
			cancel()
			return
		}
		if err := p.post(ctx, c); err != nil {
			p.failed("url", *c, err)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(2*wait, 30*time.Second)
			continue
		}
		wait = time.Second
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

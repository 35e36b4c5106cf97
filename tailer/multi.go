package tailer

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// IsPattern reports whether path is a glob pattern (it has *, ? or [),
// for Multi, rather than one file's name.
func IsPattern(path string) bool { return strings.ContainsAny(path, "*?[") }

// Multi tails every file whose name matches a glob pattern (several agent
// containers, or a pod's restarts 0.log, 1.log, ...), each with its own
// Tailer: its own generations, rotations and position. Files that start
// to match later are found by a rescan and read from their first byte.
// Lines of all files go to one channel, each file's in order; Line.Watch
// says which file (the name that matched) a line belongs to.
type Multi struct {
	pattern string
	names   rotatedNames
	cfg     Config
	resume  map[string]Position
	log     *zap.Logger
}

// MultiRescan is how often Multi looks for new matching files.
const MultiRescan = time.Second

// NewMulti checks pattern and cfg (whose Path is ignored) and returns a
// Multi. resume holds the committed position of each file by the name that
// matched (Line.Watch); files not in it start as cfg.StartAt says when they
// exist at the first start, from their first byte when they appear later.
func NewMulti(pattern string, cfg Config, resume map[string]Position) (*Multi, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("source path pattern %q: %w", pattern, err)
	}
	cfg.Path = pattern
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, err := compileRotated(cfg.Rotated)
	if err != nil {
		return nil, err
	}
	cfg = cfg.pinned()
	for path, p := range resume {
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("resume position of %q: %w", path, err)
		}
	}
	return &Multi{pattern: pattern, names: names, cfg: cfg, resume: resume, log: cfg.Logger}, nil
}

// matches returns the files matching the pattern, without the ones that
// look like rotated generations of another match (they belong to its
// Tailer) and without compressed ones.
func (m *Multi) matches() ([]string, error) {
	all, err := filepath.Glob(m.pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range all {
		rotated := false
		for _, q := range all {
			if q != p && filepath.Dir(q) == filepath.Dir(p) && m.names.is(filepath.Base(q), filepath.Base(p)) {
				rotated = true
				break
			}
		}
		if !rotated && !isCompressed(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Run tails every matching file until ctx is done or one file's Tailer
// fails, whose error it returns. Files with a resume position are tailed
// even when their name no longer matches (the generation is found among
// the siblings, as after a rotation while stopped).
func (m *Multi) Run(ctx context.Context, out chan<- Line) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	errc := make(chan error, 1)
	started := map[string]bool{}
	start := func(path string, first bool) {
		if started[path] {
			return
		}
		c := m.cfg
		c.Path = path
		if !first {
			c.StartAt = StartBeginning
		}
		var res *Position
		if p, ok := m.resume[path]; ok {
			res = &p
		}
		t, err := New(c, res)
		if err != nil {
			m.log.Error("cannot tail a matching file", zap.String("path", path), zap.Error(err))
			return
		}
		started[path] = true
		m.log.Info("tailing a file matching the source pattern", zap.String("path", path), zap.String("pattern", m.pattern))
		lines := make(chan Line)
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(lines)
			if err := t.Run(ctx, lines); err != nil && ctx.Err() == nil {
				select {
				case errc <- fmt.Errorf("%s: %w", path, err):
				default:
				}
				cancel()
			}
		}()
		go func() { // stamps each line with the file it belongs to
			defer wg.Done()
			for l := range lines {
				l.Watch = path
				select {
				case out <- l:
				case <-ctx.Done():
				}
			}
		}()
	}
	scan := func(first bool) {
		paths, err := m.matches()
		if err != nil {
			m.log.Warn("source pattern scan failed", zap.Error(err))
			return
		}
		for _, p := range paths {
			start(p, first)
		}
	}
	for path := range m.resume {
		start(path, false)
	}
	scan(true)
	tick := time.NewTicker(MultiRescan)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			scan(false)
		case err := <-errc:
			return err
		case <-ctx.Done():
			select {
			case err := <-errc:
				return err
			default:
			}
			return ctx.Err()
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/pipeline"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// spoolCheckCmd is the child process of checkSpool: it reads every page
// of the spool file and exits 0 if it is sound. Not in the usage text.
func spoolCheckCmd(args []string) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Println("usage: audit-sidecar spool-check PATH   (the child process of run's start-up spool check)")
		return exitOK
	}
	if len(args) != 1 {
		return fail(exitUsage, "usage: audit-sidecar spool-check PATH")
	}
	err := spool.CheckFile(args[0])
	switch {
	case errors.Is(err, spool.ErrCorrupt):
		return fail(exitFailure, "%v", err)
	case err != nil:
		// Not a verdict (the file is locked by another process, or
		// unreadable): the parent's own open reports it.
		return fail(exitUsage, "%v", err)
	}
	return exitOK
}

// checkSpool reports whether the spool file at path is damaged. The check
// runs in a child process because bbolt panics, in a goroutine no caller
// can recover, on some damage: a crash of the child is a verdict, where a
// crash of the sidecar would be a crash loop. A child that cannot be run
// at all is not taken as damage.
func checkSpool(path string, log *zap.Logger) (bool, string) {
	if _, err := os.Stat(path); err != nil {
		return false, ""
	}
	self, err := os.Executable()
	if err != nil {
		log.Warn("spool check skipped: cannot find the executable", zap.Error(err))
		return false, ""
	}
	var stderr bytes.Buffer
	cmd := exec.Command(self, "spool-check", path)
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err == nil {
		return false, ""
	}
	if !errors.As(err, &ee) {
		log.Warn("spool check skipped: cannot run it", zap.Error(err))
		return false, ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
	if ee.ExitCode() == exitUsage && !strings.Contains(line, "panic") {
		log.Warn("spool check could not run", zap.String("reason", line))
		return false, ""
	}
	return true, line
}

// chainTails asks every sink that can say where the chain stands. It
// returns the tail of the sink holding most of the chain (Seq 0 if none
// holds it), each sink's head for the gap record, and the sinks that could
// not be read.
func chainTails(cfg *config.Config, sinks []namedSink, log *zap.Logger) (tail, map[string]any, []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var best tail
	heads := map[string]any{}
	var unreadable []string
	for _, s := range sinks {
		tr, ok := s.sink.(sink.TailReader)
		if !ok {
			continue
		}
		t, found, err := tr.ChainTail(ctx, cfg.Chain.ID)
		switch {
		case err != nil:
			log.Warn("cannot read where the chain stands in a sink", zap.String("sink", s.name), zap.Error(err))
			heads[s.name] = "unreadable"
			unreadable = append(unreadable, s.name)
		case !found:
			heads[s.name] = 0
		default:
			heads[s.name] = t.Seq
			if t.Seq > best.Seq {
				best = tail{Tail: t, from: s.sink}
			}
		}
	}
	return best, heads, unreadable
}

// tail is where a chain stands in the sink that holds most of it.
type tail struct {
	sink.Tail
	from sink.Sink
}

// recoverSpool moves a damaged spool file aside, opens a fresh one, and
// continues the chain from the sinks (see continueChain). If a sink that
// may hold the chain cannot be read, nothing is moved and the start fails:
// continuing without it could fork the chain, and the next start retries.
func recoverSpool(cfg *config.Config, reason string, sinks []namedSink, opts spool.Options, log *zap.Logger) (*spool.Spool, map[string]any, error) {
	best, heads, unreadable := chainTails(cfg, sinks, log)
	if len(unreadable) > 0 {
		return nil, nil, fmt.Errorf("spool file is corrupt (%s) and sinks %v cannot be read to continue the chain; start again once they can", reason, unreadable)
	}
	aside, err := spool.MoveAside(cfg.Spool.Path, time.Now())
	if err != nil {
		return nil, nil, fmt.Errorf("move the corrupt spool aside: %w", err)
	}
	log.Error("spool file is corrupt: moved aside; continuing the chain from the sinks",
		zap.String("moved_to", aside), zap.String("reason", reason))
	sp, err := spool.Open(cfg.Spool.Path, opts)
	if err != nil {
		return nil, nil, err
	}
	gap := map[string]any{"reason": "spool file corrupt", "moved_to": aside, "sink_heads": heads}
	if err := continueChain(cfg, sp, best, gap, log); err != nil {
		sp.Close()
		return nil, nil, err
	}
	return sp, gap, nil
}

// adoptChain handles an empty spool (new, or its volume lost, as an
// emptyDir when a pod moves) for a chain that sinks already hold: starting
// the chain again at seq 1 would collide with the stored records forever,
// so it continues from the sinks, with a gap record. It returns nil when
// no sink holds the chain (a new chain) or none can be read (then the
// chain starts at seq 1 as before, and a collision, if any, is reported by
// the sink as a conflict).
func adoptChain(cfg *config.Config, sp *spool.Spool, sinks []namedSink, log *zap.Logger) (map[string]any, error) {
	if st := sp.State(); st.HeadSeq != 0 || st.Source != nil {
		return nil, nil
	}
	best, heads, unreadable := chainTails(cfg, sinks, log)
	if best.Seq == 0 {
		if len(unreadable) > 0 {
			log.Warn("empty spool and sinks that cannot be read: starting the chain at seq 1; if a sink holds it already, its writes will conflict",
				zap.Strings("sinks", unreadable))
		}
		return nil, nil
	}
	log.Error("the spool is empty but sinks hold this chain: continuing it from them",
		zap.String("chain", cfg.Chain.ID), zap.Uint64("seq", best.Seq))
	gap := map[string]any{"reason": "spool empty at start while sinks hold the chain (spool volume lost?)", "sink_heads": heads}
	if err := continueChain(cfg, sp, best, gap, log); err != nil {
		return nil, err
	}
	return gap, nil
}

// continueChain seeds the empty spool sp with the chain's tail as best
// holds it: head seq and MAC, and the source position just past its newest
// source line. What the gap record says is added to gap.
func continueChain(cfg *config.Config, sp *spool.Spool, best tail, gap map[string]any, log *zap.Logger) error {
	gap["continued_from_seq"] = best.Seq
	if best.Seq == 0 {
		return nil // no sink holds the chain: it starts anew at seq 1
	}
	var pos []byte
	if best.Source != nil {
		p := resumeAfter(best.Source, log)
		var err error
		if pos, err = pipeline.EncodeFilePosition(p); err != nil {
			return err
		}
		gap["resume"] = p
	} else {
		log.Warn("no stored record names a source position; the source is read as source.start_at says")
	}
	st := spool.State{Chain: cfg.Chain.ID, HeadSeq: best.Seq, HeadMAC: best.MAC, HeadKid: best.Kid, Source: pos, Epoch: best.Epoch}
	if cfg.Chain.SigningKeyFile != "" {
		st.Tree = rebuildTree(cfg.Chain.ID, best, log)
	}
	return sp.Seed(st)
}

// rebuildTree recomputes the chain's Merkle tree state from the sink, so
// that checkpoints go on after the spool was lost: from seq 1, or, when
// the oldest records were purged, from the tree state of the first
// checkpoint record after them. It reads the whole chain; nil when the
// sink cannot be scanned or the tree cannot be rebuilt (checkpoints are
// then off until the chain is continued again; the sidecar logs it).
func rebuildTree(chainID string, best tail, log *zap.Logger) []byte {
	sc, ok := best.from.(interface {
		Scan(ctx context.Context, chain string, fn func(sink.Row) error) error
	})
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var t chain.Tree
	known, next := false, uint64(1)
	err := sc.Scan(ctx, chainID, func(row sink.Row) error {
		if row.Seq > best.Seq {
			return errStopScan
		}
		if row.Seq != next {
			known = false // a gap: wait for a checkpoint's tree state
		}
		next = row.Seq + 1
		if row.Seq == 1 {
			known = true
		}
		if !known && row.Action == record.ActionCheckpoint {
			if r, err := record.Parse(row.Payload); err == nil {
				if ct, ok := chain.CheckpointTree(r.Detail, row.Seq); ok {
					t, known = ct, true
				}
			}
		}
		if known {
			t.Append(chain.LeafHash(row.Payload))
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		log.Error("spool recovery: cannot read the chain to rebuild its merkle tree", zap.Error(err))
		return nil
	}
	if !known || t.Size != best.Seq {
		log.Error("spool recovery: the chain's merkle tree cannot be rebuilt from the sink (no checkpoint after its oldest stored records)")
		return nil
	}
	b, _ := t.MarshalBinary()
	return b
}

var errStopScan = errors.New("stop scan")

// resumeAfter is the position just past the line src names: the file is
// read from src.Offset to the line's end. If that generation is not at
// src.File any more (rotated), the position is the line's start and the
// tailer finds the generation among the siblings; that line is then read
// again (once more in the chain, never lost).
func resumeAfter(src *record.Source, log *zap.Logger) tailer.Position {
	p := tailer.Position{Path: src.File, Dev: src.Dev, Ino: src.Ino, Offset: src.Offset}
	f, err := os.Open(src.File)
	if err != nil {
		log.Warn("spool recovery: source file not found; its last delivered line will be read again", zap.Error(err))
		return p
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil || uint64(st.Dev) != src.Dev || st.Ino != src.Ino {
		log.Warn("spool recovery: the source file was rotated; its last delivered line will be read again")
		return p
	}
	if _, err := f.Seek(src.Offset, 0); err != nil {
		return p
	}
	br := bufio.NewReaderSize(f, 64<<10)
	line, err := br.ReadSlice('\n')
	for errors.Is(err, bufio.ErrBufferFull) { // a line longer than the buffer
		p.Offset += int64(len(line))
		line, err = br.ReadSlice('\n')
	}
	if err != nil {
		log.Warn("spool recovery: the last delivered line has no end; it will be read again", zap.Error(err))
		return tailer.Position{Path: src.File, Dev: src.Dev, Ino: src.Ino, Offset: src.Offset}
	}
	p.Offset += int64(len(line))
	return p
}

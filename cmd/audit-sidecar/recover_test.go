package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/pipeline"
	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// TestContinueChain_ResumesAfterTheLastStoredLine: a sidecar stores
// lines 0-4 of the log and loses its spool (gone, or corrupt: moved
// aside); the agent writes lines 5-9. The next start continues the chain
// from the sink, and the position it seeds the new spool with is the
// pipeline's own encoding, which the ingester reads back: the run that
// follows stores lines 5-9, so the sink holds every line once. For one
// file and for a pattern.
func TestContinueChain_ResumesAfterTheLastStoredLine(t *testing.T) {
	for _, tc := range []struct {
		corrupt, multi bool
	}{{false, false}, {false, true}, {true, false}, {true, true}} {
		t.Run(fmt.Sprintf("corrupt=%v,multi=%v", tc.corrupt, tc.multi), func(t *testing.T) {
			multi := tc.multi
			dir := t.TempDir()
			logPath := filepath.Join(dir, "agent.log")
			appendEvents(t, logPath, 0, 5)
			dbPath := filepath.Join(dir, "audit.db")
			db, err := sink.OpenSQLite(dbPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			store, err := sql.Open("sqlite", dbPath)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()

			spoolPath := filepath.Join(dir, "spool.db")
			first := openTestSpool(t, spoolPath)
			runUntilStored(t, first, db, store, logPath, multi, nil, 5)
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}

			appendEvents(t, logPath, 5, 10)
			cfg := &config.Config{}
			cfg.Chain.ID = "c"
			cfg.Spool.Path = spoolPath
			sinks := []namedSink{{"local", db}}
			var sp *spool.Spool
			var gap map[string]any
			if tc.corrupt { // found corrupt at start: moved aside, a new one opened
				sp, gap, err = recoverSpool(cfg, "test", sinks, spool.Options{}, zap.NewNop())
				if err != nil {
					t.Fatalf("recoverSpool: %v", err)
				}
				t.Cleanup(func() { _ = sp.Close() })
				if err := sp.Register([]string{"local"}); err != nil {
					t.Fatal(err)
				}
			} else { // lost with its volume
				if err := os.Remove(spoolPath); err != nil {
					t.Fatal(err)
				}
				sp = openTestSpool(t, spoolPath)
				if gap, err = adoptChain(cfg, sp, sinks, zap.NewNop()); err != nil {
					t.Fatalf("adoptChain: %v", err)
				}
			}
			if gap == nil || gap["continued_from_seq"] == uint64(0) {
				t.Fatalf("gap %v: the chain was not continued from the sink", gap)
			}
			in, err := pipeline.NewIngester(ingestConfig(t, sp, multi, nil))
			if err != nil {
				t.Fatal(err)
			}
			var resume tailer.Position
			if multi {
				all, err := in.ResumeAll()
				if err != nil || len(all) != 1 {
					t.Fatalf("ResumeAll: %v, %v; want one file", all, err)
				}
				resume = all[logPath]
			} else {
				p, err := in.Resume()
				if err != nil || p == nil {
					t.Fatalf("Resume: %v, %v", p, err)
				}
				resume = *p
			}
			want, err := pipeline.EncodeFilePosition(resume)
			if err != nil {
				t.Fatal(err)
			}
			if got := sp.State().Source; !bytes.Equal(got, want) {
				t.Errorf("seeded position %s, want the pipeline's encoding %s", got, want)
			}
			runUntilStored(t, sp, db, store, logPath, multi, gap, 10)

			counts := map[int]int{}
			rows, err := store.Query(`SELECT json_extract(payload, '$.detail.n') FROM audit_records
				WHERE chain = 'c' AND action = 'tool_call'`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var n int
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				counts[n]++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			for n := range 10 {
				if counts[n] != 1 {
					t.Errorf("line %d stored %d times, want once (all: %v)", n, counts[n], counts)
				}
			}
		})
	}
}

func appendEvents(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for n := from; n < to; n++ {
		fmt.Fprintf(f, `{"ts":"2026-11-01T00:00:00Z","action":"tool_call","tool":"t","n":%d}`+"\n", n)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func openTestSpool(t *testing.T, path string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	if err := sp.Register([]string{"local"}); err != nil {
		t.Fatal(err)
	}
	return sp
}

func ingestConfig(t *testing.T, sp *spool.Spool, multi bool, gap map[string]any) pipeline.IngestConfig {
	t.Helper()
	k, err := chain.NewKey("k1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	red, err := redact.New(redact.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.IngestConfig{ChainID: "c", Key: k, Spool: sp, Redactor: red, Multi: multi, BatchWait: 10 * time.Millisecond}
	if gap != nil {
		cfg.Gaps = []map[string]any{gap}
	}
	return cfg
}

// runUntilStored runs the ingest path (tailer, ingester, deliverer) on sp
// as the sidecar wires it, from the position sp holds, until the store
// holds want events, then stops it.
func runUntilStored(t *testing.T, sp *spool.Spool, db *sink.SQLite, store *sql.DB, logPath string, multi bool, gap map[string]any, want int) {
	t.Helper()
	in, err := pipeline.NewIngester(ingestConfig(t, sp, multi, gap))
	if err != nil {
		t.Fatal(err)
	}
	var src source
	tcfg := tailer.Config{Path: logPath, Poll: 20 * time.Millisecond}
	if multi {
		all, err := in.ResumeAll()
		if err != nil {
			t.Fatal(err)
		}
		src, err = tailer.NewMulti(filepath.Join(filepath.Dir(logPath), "*.log"), tcfg, all)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		resume, err := in.Resume()
		if err != nil {
			t.Fatal(err)
		}
		if src, err = tailer.New(tcfg, resume); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	dctx, dcancel := context.WithCancel(context.Background())
	defer dcancel()
	lines := make(chan tailer.Line)
	tailed, ingested, delivered := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() { tailed <- src.Run(ctx, lines) }()
	go func() { ingested <- in.Run(ctx, lines) }()
	go func() { delivered <- pipeline.NewDeliverer("local", db, sp, nil, nil).Run(dctx, nil) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := store.QueryRow(`SELECT count(*) FROM audit_records WHERE chain = 'c' AND action = 'tool_call'`).Scan(&n)
		if err == nil && n >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %d events in the store (%d, %v)", want, n, err)
		}
		time.Sleep(10 * time.Millisecond) // polling the store
	}
	cancel()
	if err := <-tailed; !errors.Is(err, context.Canceled) {
		t.Errorf("source: %v", err)
	}
	if err := <-ingested; err != nil {
		t.Errorf("ingester: %v", err)
	}
	dcancel()
	if err := <-delivered; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("deliverer: %v", err)
	}
}

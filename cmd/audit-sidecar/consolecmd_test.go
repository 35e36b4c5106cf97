package main

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// The console may be started on a stopped sidecar's SQLite store (no
// -wal file beside it) and keep running when the sidecar starts again:
// it must then read what the sidecar writes, not fail every page as a
// malformed database.
func TestConsoleStore_SidecarStartsAfterTheConsole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	write := func(from, to uint64) {
		t.Helper()
		w, err := sink.OpenSQLite(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		var batch []record.Sealed
		for seq := from; seq <= to; seq++ {
			r := &record.Record{V: record.Version, Chain: "agent-a", Seq: seq, Action: record.ActionToolCall,
				TS: time.Date(2026, 3, 4, 9, 0, int(seq%60), 0, time.UTC), IngestedAt: time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC),
				Tool: "mail.send", Kid: "k1", Prev: strings.Repeat("0", 64)}
			p := record.AppendCanonical(nil, r)
			batch = append(batch, record.Sealed{Chain: r.Chain, Seq: seq, Payload: p, MAC: sha256.Sum256(p)})
		}
		if err := w.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(1, 3) // the sidecar's store, the sidecar stopped
	cfg := &config.Config{Sinks: []config.Sink{{Type: "sqlite", Path: path}}}
	st, key, err := openConsoleStore(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	defer st.Close()
	count := func() int {
		t.Helper()
		n := 0
		err := st.SearchEach(context.Background(), sink.Filter{Chain: "agent-a", Limit: 1000}, func(*sink.Row) error { n++; return nil })
		if err != nil {
			t.Fatalf("a search after the sidecar wrote: %v", err)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d records, want 3", n)
	}
	for i := range uint64(20) { // the sidecar started again, and writes
		write(4+i*10, 13+i*10)
	}
	if n := count(); n != 203 {
		t.Fatalf("%d records read after the sidecar wrote 200 more, want them", n)
	}
}

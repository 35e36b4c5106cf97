package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/verify"
)

// exportCmd writes a sink's records, checkpoints included (they are
// records of their chains), as NDJSON that `verify --file` checks offline
// (the format is described in verify/file.go and docs/chain-format.md).
// --from and --to select records by ingested_at (the sidecar's clock,
// which grows with seq): a chain cut at the start gets a start line.
func exportCmd(args []string) int {
	var sinkName, from, to string
	cfg, code := loadConfig("export", args, func(fs *flag.FlagSet) {
		fs.StringVar(&sinkName, "sink", "", "sink to export (default: server.query_sink or the first sqlite or postgres sink)")
		fs.StringVar(&from, "from", "", "first ingested_at to export (RFC 3339)")
		fs.StringVar(&to, "to", "", "export records ingested before this time (RFC 3339)")
	})
	if cfg == nil {
		return code
	}
	var lo, hi string
	for _, b := range []struct {
		flag, v string
		dst     *string
	}{{"--from", from, &lo}, {"--to", to, &hi}} {
		if b.v == "" {
			continue
		}
		t, err := query.ParseTime(b.v)
		if err != nil {
			return fail(exitUsage, "export: %s: %v", b.flag, err)
		}
		*b.dst = record.FormatTime(t)
	}
	// Read-only: export never writes to the store it reads.
	o, code := openVerifySink(cfg, sinkName)
	if o == nil {
		return code
	}
	defer o.store.Close()
	if nas := o.notAStore; nas != nil {
		if !nas.Empty {
			return fail(exitUsage, "export: sinks %s: %v", o.cfg.Name, nas)
		}
		// No records: the export is empty, which verify never calls valid.
		fmt.Fprintf(os.Stderr, "audit-sidecar: export: sinks %s: %v: it holds no records, nothing is exported\n", o.cfg.Name, nas)
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	if err := verify.Export(ctx, out, o.store, nil, lo, hi, nil); err != nil {
		return fail(exitUsage, "export: %v", err)
	}
	if err := out.Flush(); err != nil {
		return fail(exitUsage, "export: %v", err)
	}
	if err := o.unchanged(); err != nil {
		return fail(exitUsage, "export: %v", err)
	}
	return exitOK
}

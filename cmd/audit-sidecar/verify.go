package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/verify"
)

func verifyCmd(args []string) int {
	var sinkName string
	var asJSON bool
	cfg, code := loadConfig("verify", args, func(fs *flag.FlagSet) {
		fs.StringVar(&sinkName, "sink", "", "sink to verify (default: server.query_sink or the first sqlite sink)")
		fs.BoolVar(&asJSON, "json", false, "print a machine-readable report")
	})
	if cfg == nil {
		return code
	}
	if sinkName == "" {
		sinkName = cfg.Server.QuerySink
	}
	var sc *config.Sink
	for i := range cfg.Sinks {
		s := &cfg.Sinks[i]
		if (sinkName == "" || s.Name == sinkName) && (s.Type == "sqlite" || s.Type == "postgres") {
			sc = s
			break
		}
	}
	if sc == nil {
		return fail(exitUsage, "verify: no sqlite or postgres sink named %q in the config", sinkName)
	}
	_, keyring, err := loadKeyring(cfg)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	var db interface {
		verify.Store
		Close() error
	}
	switch sc.Type {
	case "sqlite":
		// Verification reads; it must not create an empty database where
		// the file is missing.
		if _, err := os.Stat(sc.Path); err != nil {
			return fail(exitUsage, "verify: sinks %s: %v", sc.Name, err)
		}
		if db, err = sink.OpenSQLite(sc.Path, zap.NewNop()); err != nil {
			return fail(exitUsage, "verify: %v", err)
		}
	case "postgres":
		pg, err := sink.OpenPostgres(context.Background(), sc.DSN, sink.PostgresOptions{RequireServer: true})
		if err != nil {
			return fail(exitUsage, "verify: sinks %s: %v", sc.Name, err)
		}
		db = pg
	}
	defer db.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var onProblem func(*chain.VerifyError)
	if !asJSON {
		onProblem = func(e *chain.VerifyError) { fmt.Fprintln(out, "problem:", e.Error()) }
	}
	rep, err := verify.Run(ctx, db, keyring, onProblem)
	if err != nil {
		out.Flush()
		return fail(exitUsage, "verify: %v", err)
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		for _, c := range rep.Chains {
			fmt.Fprintf(out, "chain %s: %d records, head seq %d, %d problems, %d unverifiable\n",
				c.Chain, c.Records, c.Head, c.Invalid, c.Unverifiable)
		}
		for _, e := range rep.Exposure {
			fmt.Fprintln(out, "not covered:", e)
		}
		fmt.Fprintln(out, "verdict:", rep.Verdict)
	}
	switch rep.Verdict {
	case verify.Valid:
		return exitOK
	case verify.Unverifiable:
		return exitUnverifiable
	}
	return exitFailure
}

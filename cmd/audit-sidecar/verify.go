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
	path := ""
	for _, s := range cfg.Sinks {
		if (sinkName == "" || s.Name == sinkName) && s.Type == "sqlite" {
			path, sinkName = s.Path, s.Name
			break
		}
	}
	if path == "" {
		return fail(exitUsage, "verify: no sqlite sink named %q in the config", sinkName)
	}
	if _, err := os.Stat(path); err != nil {
		return fail(exitUsage, "verify: sinks %s: %v", sinkName, err)
	}
	key, err := chain.LoadKeyFile(cfg.Chain.KeyFile, cfg.Chain.KeyID)
	if err != nil {
		return fail(exitUsage, "chain.key_file: %v", err)
	}
	db, err := sink.OpenSQLite(path, zap.NewNop())
	if err != nil {
		return fail(exitUsage, "verify: %v", err)
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
	rep, err := verify.Run(ctx, db, chain.Keyring{key.ID: key}, onProblem)
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

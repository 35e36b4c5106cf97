package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/verify"
	"github.com/fips-agents/audit-sidecar/witness"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func verifyCmd(args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file (YAML): verify its sink")
	file := fs.String("file", "", "verify an export file (NDJSON) instead of a sink")
	sinkName := fs.String("sink", "", "sink to verify (default: server.query_sink or the first sqlite or postgres sink)")
	var keyFiles, pubkeys listFlag
	fs.Var(&keyFiles, "key-file", "HMAC key file (repeatable; default: the config's chain keys)")
	fs.Var(&pubkeys, "pubkey", "checkpoint public key, PEM (repeatable; default: the public half of the config's chain.signing_key_file)")
	signerName := fs.String("signer-name", "", "key name in checkpoint signatures (default: chain.signer_name or "+chain.DefaultSignerName+")")
	witnessDir := fs.String("witness", "", "folder of witnessed checkpoints (chain.witness_dir): each chain must extend them")
	ckptFile := fs.String("checkpoint", "", "a trusted checkpoint file: a signed note, or the sidecar's stdout JSON lines")
	noWitness := fs.Bool("no-witness", false, "do not read the config's chain.witness_dir (with --config it is read by default, unless --witness is given)")
	maxAge := fs.Duration("max-age", 0, "freshness bound: the newest checkpoint of each chain must be younger")
	asJSON := fs.Bool("json", false, "print a machine-readable report")
	report := fs.String("report", "", "also write the verdict for people, as a self-contained HTML file")
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "verify: unexpected argument %q", fs.Arg(0))
	}
	// Verification streams: a small live heap. Collect less often than
	// by default, within a soft limit that keeps the process near 32 MiB
	// (GOGC and GOMEMLIMIT in the environment take precedence).
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(200)
		debug.SetMemoryLimit(20 << 20)
	}
	if (*cfgPath == "") == (*file == "") {
		return fail(exitUsage, "verify: give exactly one of --config or --file")
	}
	var cfg *config.Config
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return fail(exitUsage, "%v", err)
		}
	}
	in, err := loadVerifyInputs(cfg, verifyFlags{keyFiles: keyFiles, pubkeys: pubkeys, signerName: *signerName,
		witnessDir: *witnessDir, ckptFile: *ckptFile, noWitness: *noWitness, maxAge: *maxAge})
	for _, n := range in.notes {
		fmt.Fprintln(os.Stderr, "audit-sidecar: "+n)
	}
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	opts, cfgWitness := in.opts, in.cfgWitness

	// The report's path: never a file verify reads (the report is renamed
	// over it), and its temp file created now, so that a folder that is
	// missing or read-only fails before the verification, not after.
	var rf *reportFile
	if *report != "" {
		var sc *config.Sink
		if cfg != nil && *file == "" {
			sc = selectSink(cfg, *sinkName)
		}
		reads := verifyReads(cfg, sc, *cfgPath, *file, keyFiles, pubkeys, *witnessDir, *ckptFile)
		if err := checkReportPath(*report, reads); err != nil {
			return fail(exitUsage, "verify: %v", err)
		}
		var err error
		if rf, err = createReport(*report); err != nil {
			return fail(exitUsage, "verify: %v", err)
		}
		defer rf.abort()
	}

	var st verify.Store
	var opened *openedSink
	if *file != "" {
		f, err := verify.OpenFile(*file)
		if err != nil {
			return fail(exitUsage, "verify: %v", err)
		}
		st = f
	} else {
		// Read-only: verify never writes to the evidence it checks.
		o, code := openVerifySink(cfg, *sinkName)
		if o == nil {
			return code
		}
		defer o.store.Close()
		st, opened = o.store, o
		if o.notAStore != nil {
			in.pre = append(in.pre, &chain.VerifyError{Kind: chain.KindAbsent, Reason: "the store holds no audit records: " + o.notAStore.Reason, Unverifiable: true})
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var onProblem func(*chain.VerifyError)
	if !*asJSON {
		onProblem = func(e *chain.VerifyError) { fmt.Fprintln(out, "problem:", verify.Visible(problemLine(e))) }
		for _, e := range in.pre {
			onProblem(e)
		}
	}
	rep, err := verify.Run(ctx, st, opts, onProblem)
	if err == nil && opened != nil {
		err = opened.unchanged()
	}
	if err != nil {
		out.Flush()
		return fail(exitUsage, "verify: %v", err)
	}
	in.finish(rep)
	if rep.Checked != nil {
		rep.Checked.Tool, rep.Checked.Input = toolFacts(), verifyInput(cfg, *cfgPath, *sinkName, *file)
	}
	if *asJSON {
		// Member by member: a report of many chains is not held twice.
		if err := verify.WriteJSON(out, rep); err != nil {
			return fail(exitUsage, "verify: --json: %v", err)
		}
	} else {
		if rep.Scope == verify.ScopeExport {
			fmt.Fprintln(out, "scope: export (a copy that ends where it was taken: it must match the witnessed checkpoints it reaches, not reach the newest)")
		} else {
			fmt.Fprintln(out, "scope: live store (it must reach every witnessed checkpoint: one shorter is truncated)")
		}
		if cfgWitness != "" {
			fmt.Fprintf(out, "witness: read %q, the config's chain.witness_dir file of this chain (by default; --no-witness leaves it out)\n", cfgWitness)
		}
		for _, c := range rep.Chains {
			fmt.Fprintf(out, "chain %q: %d records, head seq %d, %d checkpoints, %d problems, %d unverifiable\n",
				c.Chain, c.Records, c.Head, c.Checkpoints, c.Invalid, c.Unverifiable)
			if s := verify.Standing(c); s != "" && c.Witness != chain.WitnessExportEnds { // that one is in the exposure
				fmt.Fprintln(out, "witness:", verify.Visible(s))
			}
		}
		for _, e := range rep.Exposure {
			fmt.Fprintln(out, "exposure:", verify.Visible(e))
		}
		fmt.Fprintln(out, "verdict:", rep.Verdict)
	}
	// The report last, once the verdict is out: if it cannot be written
	// the verdict is printed all the same (see exitAfterReportFailure).
	if rf != nil {
		out.Flush()
		if err := rf.commit(rep); err != nil {
			return fail(exitAfterReportFailure(rep.Verdict), "verify: %v; the verdict printed stands, the report was not written", err)
		}
	}
	switch rep.Verdict {
	case verify.Valid:
		return exitOK
	case verify.Unverifiable:
		return exitUnverifiable
	}
	return exitFailure
}

// readWitnessDir reads every chain's checkpoint file in a witness folder:
// their notes, and their paths.
func readWitnessDir(dir string) (notes, paths []string, err error) {
	paths, err = filepath.Glob(filepath.Join(dir, "*"+witness.FileSuffix))
	if err != nil {
		return nil, nil, err
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("witness folder %q holds no *%s file", dir, witness.FileSuffix)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		notes = append(notes, string(b))
	}
	return notes, paths, nil
}

// readCheckpointFile reads a signed note, or JSON lines as the sidecar
// prints checkpoints on stdout: every checkpoint line counts, the history
// of each chain (an export taken earlier is compared with the checkpoint
// witnessed when it was taken); other lines, such as a log collector's,
// are skipped, and a note repeated is read once.
func readCheckpointFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return []string{string(b)}, nil
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range bytes.Split(b, []byte("\n")) {
		var v struct {
			Checkpoint string `json:"checkpoint"`
		}
		if json.Unmarshal(l, &v) != nil || v.Checkpoint == "" || seen[v.Checkpoint] {
			continue
		}
		seen[v.Checkpoint] = true
		out = append(out, v.Checkpoint)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no checkpoint lines", path)
	}
	return out, nil
}

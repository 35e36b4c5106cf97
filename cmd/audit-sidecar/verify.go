package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	// HMAC keys: --key-file, else the config's; none with --pubkey only.
	opts := verify.Options{Keys: chain.Keyring{}, MaxAge: *maxAge}
	if cfg != nil {
		opts.Expect = []string{cfg.Chain.ID} // an emptied store lacks it
		// Purges must follow the config's policy (none without one).
		retention := cfg.Retention.MaxAge
		opts.Retention = &retention
	}
	if *noWitness && *witnessDir != "" {
		return fail(exitUsage, "verify: give --witness or --no-witness, not both")
	}
	for _, p := range keyFiles {
		k, err := chain.LoadKeyFile(p, "")
		if err != nil {
			return fail(exitUsage, "--key-file: %v", err)
		}
		opts.Keys.Add(k)
	}
	if len(keyFiles) == 0 && cfg != nil {
		_, ring, err := loadKeyring(cfg)
		switch {
		case err == nil:
			opts.Keys = ring
		case len(pubkeys) == 0 && cfg.Chain.SigningKeyFile == "":
			return fail(exitUsage, "%v", err)
		default:
			// The key file left the pod (epochs): checkpoints still vouch.
			fmt.Fprintf(os.Stderr, "audit-sidecar: verify: %v; MACs are not checked, only signed checkpoints\n", err)
		}
	}
	if len(opts.Keys) == 0 && len(pubkeys) == 0 && (cfg == nil || cfg.Chain.SigningKeyFile == "") {
		return fail(exitUsage, "verify: give --key-file (MAC check) or --pubkey (signed checkpoints), or both")
	}

	// Trusted checkpoint keys.
	name := *signerName
	if name == "" && cfg != nil {
		name = cfg.Chain.SignerName
	}
	if name == "" {
		name = chain.DefaultSignerName
	}
	for _, p := range pubkeys {
		v, err := chain.LoadVerifier(name, p)
		if err != nil {
			return fail(exitUsage, "--pubkey: %v", err)
		}
		opts.Trusted = append(opts.Trusted, v)
	}
	if len(pubkeys) == 0 && cfg != nil && cfg.Chain.SigningKeyFile != "" {
		if s, err := chain.LoadSigner(name, cfg.Chain.SigningKeyFile); err == nil {
			opts.Trusted = append(opts.Trusted, s.Verifier())
		}
	}

	if len(opts.Keys) == 0 && len(opts.Trusted) == 0 {
		return fail(exitUsage, "verify: no HMAC key and no checkpoint public key could be loaded: nothing to verify with")
	}

	// The config's witness file (chain.witness_dir/<chain.id>.checkpoint,
	// its own chain's: the folder may be shared) is read by default, as
	// its keys are; --witness replaces it, --no-witness leaves it out.
	cfgWitness := ""
	if cfg != nil && *witnessDir == "" && !*noWitness && cfg.Chain.WitnessDir != "" {
		p := filepath.Join(cfg.Chain.WitnessDir, cfg.Chain.ID+witness.FileSuffix)
		switch _, err := os.Stat(p); {
		case err != nil:
			fmt.Fprintf(os.Stderr, "audit-sidecar: verify: the config's chain.witness_dir holds no checkpoint of this chain (%v): none compared\n", err)
		case len(opts.Trusted) == 0:
			fmt.Fprintf(os.Stderr, "audit-sidecar: verify: the config's chain.witness_dir is not read: no checkpoint public key\n")
		default:
			cfgWitness = p
		}
	}

	// Witnessed checkpoints.
	var pre []*chain.VerifyError
	if *witnessDir != "" || *ckptFile != "" || cfgWitness != "" {
		if len(opts.Trusted) == 0 {
			return fail(exitUsage, "verify: --witness and --checkpoint need --pubkey")
		}
		var notes []string
		var err error
		if *witnessDir != "" {
			notes, err = readWitnessDir(*witnessDir)
		}
		for _, f := range []string{*ckptFile, cfgWitness} {
			if err == nil && f != "" {
				var more []string
				more, err = readCheckpointFile(f)
				notes = append(notes, more...)
			}
		}
		if err != nil {
			return fail(exitUsage, "verify: %v", err)
		}
		for _, n := range notes {
			c, err := chain.OpenCheckpoint(n, opts.Trusted)
			switch {
			case err == nil:
				opts.Witnessed = append(opts.Witnessed, c)
			case errors.Is(err, chain.ErrUnknownSigner):
				pre = append(pre, &chain.VerifyError{Chain: c.Chain, Seq: c.Size, Kind: chain.KindWitness, Reason: "witnessed checkpoint is not signed by a trusted key", Unverifiable: true})
			default:
				pre = append(pre, &chain.VerifyError{Chain: c.Chain, Seq: c.Size, Kind: chain.KindWitness, Reason: "witnessed checkpoint: " + err.Error()})
			}
		}
	}

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
			pre = append(pre, &chain.VerifyError{Kind: chain.KindAbsent, Reason: "the store holds no audit records: " + o.notAStore.Reason, Unverifiable: true})
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var onProblem func(*chain.VerifyError)
	if !*asJSON {
		onProblem = func(e *chain.VerifyError) { fmt.Fprintln(out, "problem:", verify.Visible(problemLine(e))) }
		for _, e := range pre {
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
	for _, e := range pre {
		rep.Problems = append(rep.Problems, e)
		switch {
		case !e.Unverifiable:
			rep.Verdict = verify.Invalid
		case rep.Verdict == verify.Valid:
			rep.Verdict = verify.Unverifiable
		}
	}
	if rep.Checked != nil {
		rep.Checked.Tool, rep.Checked.Input = toolFacts(), verifyInput(cfg, *cfgPath, *sinkName, *file)
		var sources []string
		for _, s := range []string{*witnessDir, *ckptFile, cfgWitness} {
			if s != "" {
				sources = append(sources, s)
			}
		}
		rep.Checked.Witness.Source = strings.Join(sources, ", ")
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

// readWitnessDir reads every chain's checkpoint file in a witness folder.
func readWitnessDir(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+witness.FileSuffix))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("witness folder %q holds no *%s file", dir, witness.FileSuffix)
	}
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
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

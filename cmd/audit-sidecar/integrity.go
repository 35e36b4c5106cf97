package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/console"
	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/verify"
)

// consoleIntegrity wires the console's integrity page and evidence
// bundle to store with what `audit-sidecar verify --config` uses: the
// config's HMAC keys, the public half of chain.signing_key_file and the
// witnessed checkpoint of chain.witness_dir, read again at each
// verification and download (keys rotate, the witness grows). The
// verifications end when ctx does. nil when store cannot be verified.
func consoleIntegrity(ctx context.Context, cfg *config.Config, store query.Store, log *zap.Logger) *console.Integrity {
	vs, ok := store.(verify.Store)
	if !ok {
		return nil
	}
	input := "the console's store"
	if sc := selectSink(cfg, ""); sc != nil {
		input = fmt.Sprintf("%s sink %q (the console's store)", sc.Type, sc.Name)
	}
	return &console.Integrity{
		Store:   vs,
		Context: ctx,
		Verify: func(ctx context.Context, st verify.Store, export bool) (*verify.Report, error) {
			return consoleVerify(ctx, cfg, store, st, export, input, log)
		},
		Evidence: func() (*console.EvidenceFiles, error) { return evidenceFiles(cfg) },
	}
}

// consoleVerify verifies st as `verify --config` does (export false: st
// reads store) or as `verify --file` does with the config's keys and
// witness (export true: st is an export file of store, which need not
// hold the config's chain, and whose purges are checked against their
// own policy). A store opened as a file nobody writes must be unchanged
// once read (see sink.SQLite.Unchanged).
func consoleVerify(ctx context.Context, cfg *config.Config, store query.Store, st verify.Store, export bool, input string, log *zap.Logger) (*verify.Report, error) {
	in, err := loadVerifyInputs(cfg, verifyFlags{})
	for _, n := range in.notes {
		log.Warn("console verification input left out", zap.String("reason", n))
	}
	if err != nil {
		return nil, err
	}
	if export {
		in.opts.Expect, in.opts.Retention = nil, nil
	}
	rep, err := verify.Run(ctx, st, in.opts, nil)
	if err != nil {
		return nil, err
	}
	if u, ok := store.(interface{ Unchanged() error }); ok {
		if err := u.Unchanged(); err != nil {
			return nil, err
		}
	}
	in.finish(rep)
	if rep.Checked != nil {
		rep.Checked.Tool = toolFacts()
		if !export {
			rep.Checked.Input = input
		}
	}
	return rep, nil
}

// evidenceFiles are the public keys and the witnessed checkpoint files
// that a verification with the config reads, for the evidence bundle.
func evidenceFiles(cfg *config.Config) (*console.EvidenceFiles, error) {
	in, err := loadVerifyInputs(cfg, verifyFlags{})
	if err != nil {
		return nil, err
	}
	f := &console.EvidenceFiles{SignerName: cfg.Chain.SignerName}
	if f.SignerName == "" {
		f.SignerName = chain.DefaultSignerName
	}
	for i, v := range in.opts.Trusted {
		nv, ok := v.(*chain.NoteVerifier)
		if !ok {
			continue
		}
		name := nv.Name() + ".pem"
		if i > 0 {
			name = fmt.Sprintf("%s-%d.pem", nv.Name(), i+1)
		}
		f.PublicKeys = append(f.PublicKeys, console.File{Name: name, Data: nv.PublicKeyPEM()})
	}
	for _, p := range in.witnessFiles {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("chain.witness_dir: %w", err)
		}
		f.Checkpoints = append(f.Checkpoints, console.File{Name: filepath.Base(p), Data: b})
	}
	return f, nil
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/verify"
	"github.com/fips-agents/audit-sidecar/witness"
)

// verifyFlags are the inputs of a verification besides the store, as
// verify's flags give them. The zero value is `verify --config F` with no
// other flag, which the console's integrity page runs.
type verifyFlags struct {
	keyFiles, pubkeys                []string
	signerName, witnessDir, ckptFile string
	noWitness                        bool
	maxAge                           time.Duration
}

// verifyInputs is what one verification runs with.
type verifyInputs struct {
	opts verify.Options
	// pre are problems found before any record is read: witnessed
	// checkpoints that do not open with the trusted keys.
	pre []*chain.VerifyError
	// cfgWitness is the config's witness file of its chain, read by
	// default ("" when none was read).
	cfgWitness string
	// witnessFiles are the files the witnessed checkpoints were read
	// from; witnessSource says where, for the report.
	witnessFiles  []string
	witnessSource string
	// notes are what verify says on stderr about inputs it leaves out.
	notes []string
}

// loadVerifyInputs reads the keys and witnessed checkpoints a
// verification uses, from f and from cfg (nil for an export checked
// without a config), as `audit-sidecar verify` does. With cfg, the
// config's chain must be in the store and purges must follow its
// retention. The notes are returned with an error too, to be said first.
// Its errors name flags and config keys, never a key's text.
func loadVerifyInputs(cfg *config.Config, f verifyFlags) (*verifyInputs, error) {
	in := &verifyInputs{opts: verify.Options{Keys: chain.Keyring{}, MaxAge: f.maxAge}}
	opts := &in.opts
	if cfg != nil {
		opts.Expect = []string{cfg.Chain.ID} // an emptied store lacks it
		// Purges must follow the config's policy (none without one).
		retention := cfg.Retention.MaxAge
		opts.Retention = &retention
	}
	if f.noWitness && f.witnessDir != "" {
		return in, errors.New("verify: give --witness or --no-witness, not both")
	}
	// HMAC keys: --key-file, else the config's; none with --pubkey only.
	for _, p := range f.keyFiles {
		k, err := chain.LoadKeyFile(p, "")
		if err != nil {
			return in, fmt.Errorf("--key-file: %v", err)
		}
		opts.Keys.Add(k)
	}
	if len(f.keyFiles) == 0 && cfg != nil {
		_, ring, err := loadKeyring(cfg)
		switch {
		case err == nil:
			opts.Keys = ring
		case len(f.pubkeys) == 0 && cfg.Chain.SigningKeyFile == "":
			return in, err
		default:
			// The key file left the pod (epochs): checkpoints still vouch.
			in.notes = append(in.notes, fmt.Sprintf("verify: %v; MACs are not checked, only signed checkpoints", err))
		}
	}
	if len(opts.Keys) == 0 && len(f.pubkeys) == 0 && (cfg == nil || cfg.Chain.SigningKeyFile == "") {
		return in, errors.New("verify: give --key-file (MAC check) or --pubkey (signed checkpoints), or both")
	}

	// Trusted checkpoint keys.
	name := f.signerName
	if name == "" && cfg != nil {
		name = cfg.Chain.SignerName
	}
	if name == "" {
		name = chain.DefaultSignerName
	}
	for _, p := range f.pubkeys {
		v, err := chain.LoadVerifier(name, p)
		if err != nil {
			return in, fmt.Errorf("--pubkey: %v", err)
		}
		opts.Trusted = append(opts.Trusted, v)
	}
	if len(f.pubkeys) == 0 && cfg != nil && cfg.Chain.SigningKeyFile != "" {
		if s, err := chain.LoadSigner(name, cfg.Chain.SigningKeyFile); err == nil {
			opts.Trusted = append(opts.Trusted, s.Verifier())
		}
	}
	if len(opts.Keys) == 0 && len(opts.Trusted) == 0 {
		return in, errors.New("verify: no HMAC key and no checkpoint public key could be loaded: nothing to verify with")
	}

	// The config's witness file (chain.witness_dir/<chain.id>.checkpoint,
	// its own chain's: the folder may be shared) is read by default, as
	// its keys are; --witness replaces it, --no-witness leaves it out.
	if cfg != nil && f.witnessDir == "" && !f.noWitness && cfg.Chain.WitnessDir != "" {
		p := filepath.Join(cfg.Chain.WitnessDir, cfg.Chain.ID+witness.FileSuffix)
		switch _, err := os.Stat(p); {
		case err != nil:
			in.notes = append(in.notes, fmt.Sprintf("verify: the config's chain.witness_dir holds no checkpoint of this chain (%v): none compared", err))
		case len(opts.Trusted) == 0:
			in.notes = append(in.notes, "verify: the config's chain.witness_dir is not read: no checkpoint public key")
		default:
			in.cfgWitness = p
		}
	}

	// Witnessed checkpoints.
	if f.witnessDir == "" && f.ckptFile == "" && in.cfgWitness == "" {
		return in, nil
	}
	if len(opts.Trusted) == 0 {
		return in, errors.New("verify: --witness and --checkpoint need --pubkey")
	}
	var notes []string
	var err error
	if f.witnessDir != "" {
		notes, in.witnessFiles, err = readWitnessDir(f.witnessDir)
	}
	for _, p := range []string{f.ckptFile, in.cfgWitness} {
		if err == nil && p != "" {
			var more []string
			more, err = readCheckpointFile(p)
			notes = append(notes, more...)
			in.witnessFiles = append(in.witnessFiles, p)
		}
	}
	if err != nil {
		return in, fmt.Errorf("verify: %v", err)
	}
	for _, n := range notes {
		c, err := chain.OpenCheckpoint(n, opts.Trusted)
		switch {
		case err == nil:
			opts.Witnessed = append(opts.Witnessed, c)
		case errors.Is(err, chain.ErrUnknownSigner):
			in.pre = append(in.pre, &chain.VerifyError{Chain: c.Chain, Seq: c.Size, Kind: chain.KindWitness, Reason: "witnessed checkpoint is not signed by a trusted key", Unverifiable: true})
		default:
			in.pre = append(in.pre, &chain.VerifyError{Chain: c.Chain, Seq: c.Size, Kind: chain.KindWitness, Reason: "witnessed checkpoint: " + err.Error()})
		}
	}
	var sources []string
	for _, s := range []string{f.witnessDir, f.ckptFile, in.cfgWitness} {
		if s != "" {
			sources = append(sources, s)
		}
	}
	in.witnessSource = strings.Join(sources, ", ")
	return in, nil
}

// finish adds to rep, which verify.Run returned, the problems found
// before the store was read (an invalid one makes the verdict invalid,
// an unverifiable one a valid verdict unverifiable), and where the
// witnessed checkpoints came from.
func (in *verifyInputs) finish(rep *verify.Report) {
	for _, e := range in.pre {
		rep.Problems = append(rep.Problems, e)
		switch {
		case !e.Unverifiable:
			rep.Verdict = verify.Invalid
		case rep.Verdict == verify.Valid:
			rep.Verdict = verify.Unverifiable
		}
	}
	if rep.Checked != nil {
		rep.Checked.Witness.Source = in.witnessSource
	}
}

package main

import (
	"crypto/fips140"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/spool"
)

func versionCmd(args []string) int {
	if ok, code := parseFlags(flag.NewFlagSet("version", flag.ContinueOnError), args); !ok {
		return code
	}
	if len(args) > 0 {
		return fail(exitUsage, "version: unexpected argument %q", args[0])
	}
	f := fipsFacts()
	fmt.Printf("audit-sidecar %s (%s, %s/%s)\nfips140 mode: %v (enforced: %v)\nfips140 module: %s\nGOFIPS140 build setting: %s\n",
		version, runtime.Version(), runtime.GOOS, runtime.GOARCH, f["fips140"], f["fips140_enforced"], f["fips140_module"], f["gofips140"])
	switch t := toolFacts(); {
	case t.RevisionTime != "": // from the build's own VCS facts
		fmt.Printf("vcs revision: %s %s (modified: %v)\n", t.Revision, t.RevisionTime, t.Modified)
	case t.Revision != "": // from -X main.revision
		fmt.Printf("vcs revision: %s\n", t.Revision)
	default:
		// Built outside a VCS checkout, or with -buildvcs=false.
		fmt.Println("vcs revision: unknown")
	}
	return exitOK
}

// fipsFacts says whether Go's FIPS 140-3 mode is on, the module version
// and the GOFIPS140 setting the binary was built with ("off" when none).
func fipsFacts() map[string]any {
	build := "off"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOFIPS140" && s.Value != "" {
				build = s.Value
			}
		}
	}
	return map[string]any{"fips140": fips140.Enabled(), "fips140_enforced": fips140.Enforced(),
		"fips140_module": fips140.Version(), "gofips140": build}
}

// loadConfig parses --config (and extra flags) and loads the file.
func loadConfig(name string, args []string, extra func(*flag.FlagSet)) (*config.Config, int) {
	path, code := configFlag(name, args, extra)
	if path == "" {
		return nil, code
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fail(exitUsage, "%v", err)
	}
	return cfg, exitOK
}

// configFlag parses --config (and extra flags) and returns the path ("" and
// the exit code if there is none).
func configFlag(name string, args []string, extra func(*flag.FlagSet)) (string, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "", "config file (YAML)")
	if extra != nil {
		extra(fs)
	}
	if ok, code := parseFlags(fs, args); !ok {
		return "", code
	}
	if *path == "" {
		return "", fail(exitUsage, "%s: --config is required", name)
	}
	if fs.NArg() > 0 {
		return "", fail(exitUsage, "%s: unexpected argument %q", name, fs.Arg(0))
	}
	return *path, exitOK
}

func newLogger(level string) *zap.Logger {
	zc := zap.NewProductionConfig()
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		lvl = zapcore.InfoLevel
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Sampling = nil
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	l, err := zc.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}

func newRedactor(cfg *config.Config) (*redact.Redactor, error) {
	rc := redact.Config{Packs: cfg.Redact.Packs, Actions: cfg.Redact.Actions, HashKeyID: cfg.Redact.HashKeyID}
	for _, r := range cfg.Redact.Rules {
		rc.Rules = append(rc.Rules, redact.Rule{Name: r.Name, Pattern: r.Pattern, Action: r.Action})
	}
	for _, p := range cfg.Redact.Paths {
		rc.Paths = append(rc.Paths, redact.PathRule{Path: p.Path, Action: p.Action, Name: p.Name})
	}
	if cfg.Redact.HashKeyFile != "" {
		k, err := chain.LoadKeyFile(cfg.Redact.HashKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("redact.hash_key_file: %w", err)
		}
		rc.HashKey = k.Secret()
	}
	r, err := redact.New(rc)
	if err != nil {
		// redact names items relative to its own config; the file's keys
		// live under "redact.".
		lines := strings.Split(err.Error(), "\n")
		for i := range lines {
			lines[i] = "redact." + lines[i]
		}
		return nil, errors.New(strings.Join(lines, "; "))
	}
	return r, nil
}

// loadKeyring loads the chain key and the previous keys of the config:
// the current key, and a keyring of every key by kid.
// chainKeys returns the key to seal with and its epoch (0: epochs off),
// and the previous keys for a rotation, from the key files and, with
// epochs, the epoch key file beside the spool (see chain.EpochFile):
//
//   - without an epoch key file, the key file is the key of epoch 1; a
//     chain whose spool is past epoch 1 is continued by deriving its key;
//   - with one, it is the current key, and the key file may be gone (the
//     operator removes it from the pod once the chain runs); a key file
//     with another kid is a key rotation, sealed with the stored key.
func chainKeys(cfg *config.Config, st spool.State) (chain.Key, uint64, chain.Keyring, error) {
	fileKey, fileErr := chain.LoadKeyFile(cfg.Chain.KeyFile, cfg.Chain.KeyID)
	if fileErr != nil {
		fileErr = fmt.Errorf("chain.key_file: %w", fileErr)
	}
	prev := chain.Keyring{}
	for i, path := range cfg.Chain.PreviousKeyFiles {
		k, err := chain.LoadKeyFile(path, "")
		if err != nil {
			return chain.Key{}, 0, nil, fmt.Errorf("chain.previous_key_files[%d]: %w", i, err)
		}
		prev.Add(k)
	}
	if cfg.Chain.EpochLength() <= 0 {
		return fileKey, 0, prev, fileErr
	}
	stored, storedEpoch, ok, err := chain.NewEpochFile(epochFilePath(cfg)).Load()
	if errors.Is(err, chain.ErrBadEpochFile) {
		// Never a guessed key: every record sealed with a wrong one would
		// be unverifiable.
		return chain.Key{}, 0, nil, fmt.Errorf("chain.epoch: %w; to continue the chain, remove the file and mount the key of epoch 1 as chain.key_file for one start (the current epoch's key is derived from it)", err)
	}
	if err != nil {
		return chain.Key{}, 0, nil, fmt.Errorf("chain.epoch: %w", err)
	}
	newChain := st.HeadSeq == 0
	switch {
	case ok && !newChain && (fileErr != nil || fileKey.ID == stored.ID):
		if st.HeadKid != "" && st.HeadKid != stored.ID {
			return chain.Key{}, 0, nil, fmt.Errorf("chain.epoch: the epoch key file holds kid %q, but the chain's head was sealed with %q", stored.ID, st.HeadKid)
		}
		if st.Epoch > 0 && st.Epoch < storedEpoch {
			return chain.Key{}, 0, nil, fmt.Errorf("chain.epoch: the epoch key file is at epoch %d, ahead of the spool (epoch %d): the spool was replaced by an older copy", storedEpoch, st.Epoch)
		}
		k, e := stored, storedEpoch
		for ; e < st.Epoch; e++ {
			next := k.Ratchet(e)
			k.Erase()
			k = next
		}
		return k, e, prev, nil
	case ok && !newChain:
		// A rotation: the stored key, at the spool's epoch, seals it.
		old := stored
		for e := storedEpoch; e < st.Epoch; e++ {
			old = old.Ratchet(e)
		}
		prev.Add(old)
		return fileKey, 1, prev, nil
	case fileErr != nil:
		return chain.Key{}, 0, nil, fileErr
	case st.HeadKid == "" || st.HeadKid == fileKey.ID:
		return fileKey.AtEpoch(max(st.Epoch, 1)), max(st.Epoch, 1), prev, nil
	default:
		// A rotation from previous_key_files, whose key is at epoch 1.
		if old, ok := prev[st.HeadKid]; ok && st.Epoch > 1 {
			prev.Add(old.AtEpoch(st.Epoch))
		}
		return fileKey, 1, prev, nil
	}
}

// keyMissingHint adds to err, a key file that cannot be read, what the
// operator must do when it is chain.key_file and no epoch key file could
// stand in for it: the spool volume (an emptyDir after a reschedule) was
// lost while the key was kept offline. The key of epoch 1 derives the
// current epoch's key of the chain the sinks hold (adoptChain).
func keyMissingHint(cfg *config.Config, err error) error {
	if cfg.Chain.EpochLength() <= 0 || !strings.HasPrefix(err.Error(), "chain.key_file:") {
		return err
	}
	return fmt.Errorf("%w; there is no epoch key file at %q either (the spool volume was lost, or this is the chain's first start): "+
		"mount the key of epoch 1 as chain.key_file for one start (after a rotation, the newest key; the chain then continues from the sinks that hold it, "+
		"its current key derived from that key, and the epoch key file is written again); after that start the key file may be removed",
		err, epochFilePath(cfg))
}

// epochFilePath is where the current epoch's key is kept: beside the
// spool, on the same volume.
func epochFilePath(cfg *config.Config) string { return cfg.Spool.Path + ".epoch-key" }

func loadKeyring(cfg *config.Config) (chain.Key, chain.Keyring, error) {
	key, err := chain.LoadKeyFile(cfg.Chain.KeyFile, cfg.Chain.KeyID)
	if err != nil {
		return chain.Key{}, nil, fmt.Errorf("chain.key_file: %w", err)
	}
	ring := chain.Keyring{}
	for i, path := range cfg.Chain.PreviousKeyFiles {
		k, err := chain.LoadKeyFile(path, "")
		if err != nil {
			return chain.Key{}, nil, fmt.Errorf("chain.previous_key_files[%d]: %w", i, err)
		}
		ring.Add(k)
	}
	ring.Add(key)
	return key, ring, nil
}

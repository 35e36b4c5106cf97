package main

import (
	"crypto/fips140"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/redact"
)

func versionCmd() int {
	fmt.Printf("audit-sidecar %s (%s, %s/%s) fips140=%v\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, fips140.Enabled())
	return exitOK
}

// loadConfig parses --config (and extra flags) and loads the file.
func loadConfig(name string, args []string, extra func(*flag.FlagSet)) (*config.Config, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	path := fs.String("config", "", "config file (YAML)")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, exitUsage
	}
	if *path == "" {
		return nil, fail(exitUsage, "%s: --config is required", name)
	}
	if fs.NArg() > 0 {
		return nil, fail(exitUsage, "%s: unexpected argument %q", name, fs.Arg(0))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return nil, fail(exitUsage, "%v", err)
	}
	return cfg, exitOK
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

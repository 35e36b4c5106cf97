package main

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/server"
	"github.com/fips-agents/audit-sidecar/sink"
)

// consoleCmd is `audit-sidecar console --config F`: the read-only web
// console alone, for a central store (PostgreSQL, or SQLite), with no
// source, no spool and no write. It reads the config's query sink
// (server.query_sink, else the only sqlite or postgres sink) opened
// read-only as verify opens it, and serves /console/ and /v1/audit on
// server.listen (TLS with server.tls) with the tokens of
// server.tokens_file, and the probes and metrics as run does (on
// server.admin_listen when it is set). The integrity page verifies with
// the config's keys and witness, as `verify --config` does.
//
// Before it listens it checks what it needs (consolePreflight), every
// problem naming its key (exit 2); then it runs until SIGTERM or SIGINT
// and stops its listeners within listenerShutdown (exit 0).
func consoleCmd(args []string) int {
	cfg, code := loadConfig("console", args, nil)
	if cfg == nil {
		return code
	}
	log := newLogger(cfg.Log.Level)
	defer log.Sync()
	pre, errs := consolePreflight(cfg, log)
	if errs != nil {
		return fail(exitUsage, "%v", errors.Join(errs...))
	}
	openCtx, cancelOpen := context.WithTimeout(context.Background(), 30*time.Second)
	st, key, err := openConsoleStore(openCtx, cfg)
	cancelOpen()
	if err != nil {
		return fail(exitUsage, "%s: %v", key, err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(reg)
	cfg.Server.Console = true // what this command serves, whatever the key says
	ls, key, err := serve(cfg, st, pre.tokens, pre.tlsFiles, nil, reg, log)
	if err != nil {
		return fail(exitUsage, "%s: %v", key, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("console started", zap.String("version", version))
	<-ctx.Done()
	ls.shutdown(listenerShutdown)
	log.Info("console stopped")
	return exitOK
}

// consoleChecked is what consolePreflight read.
type consoleChecked struct {
	tokens   []query.Token
	tlsFiles *server.TLS // nil without server.tls
}

// consolePreflight checks what the console command needs before it
// opens its store, every problem naming its key: server.listen set, the
// tokens file, the TLS files, and the keys and witness that the integrity
// page verifies with (as `verify --config` reads them). It opens nothing
// that stays open; its errors name files and keys, never a key's or a
// token's text.
func consolePreflight(cfg *config.Config, log *zap.Logger) (*consoleChecked, []error) {
	var c consoleChecked
	var errs []error
	if cfg.Server.ListenAddr() == "" {
		errs = append(errs, errors.New("server.listen: required by the console command (it serves the console there)"))
	} else {
		var err error
		if c.tokens, err = query.LoadTokens(cfg.Server.TokensFile); err != nil {
			errs = append(errs, fmt.Errorf("server.tokens_file: %w", err))
		}
	}
	tlsFiles, tlsKey, err := loadTLS(cfg, log)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", tlsKey, err))
	}
	c.tlsFiles = tlsFiles
	if _, err := loadVerifyInputs(cfg, verifyFlags{}); err != nil {
		errs = append(errs, consoleVerifyKeyError(cfg, err))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &c, nil
}

// consoleVerifyKeyError names the config key of a verification input
// that cannot be read: loadKeyring's errors name theirs already.
func consoleVerifyKeyError(cfg *config.Config, err error) error {
	msg := err.Error()
	for _, k := range []string{"chain.key_file:", "chain.previous_key_files["} {
		if len(msg) >= len(k) && msg[:len(k)] == k {
			return err
		}
	}
	if cfg.Chain.WitnessDir != "" {
		return fmt.Errorf("chain.witness_dir: %w", err)
	}
	return fmt.Errorf("chain.signing_key_file: %w", err)
}

// consoleStore is the store the console reads.
type consoleStore interface {
	query.Store
	Close() error
}

// openConsoleStore opens the config's query sink read-only; on error it
// names the config key at fault. A SQLite store is opened as a reader
// beside a writer (sink.OpenSQLiteReader), never as a file nobody
// writes while it can be read otherwise: a sidecar may start writing it
// while the console runs.
func openConsoleStore(ctx context.Context, cfg *config.Config) (consoleStore, string, error) {
	sc := selectSink(cfg, "")
	if sc == nil {
		return nil, "server.query_sink", errors.New("names no sqlite or postgres sink: the console reads one")
	}
	key := "sinks"
	for i := range cfg.Sinks {
		if &cfg.Sinks[i] == sc {
			key = fmt.Sprintf("sinks[%d]", i)
		}
	}
	var st consoleStore
	var err error
	switch sc.Type {
	case "sqlite":
		st, err = sink.OpenSQLiteReader(sc.Path)
		key += ".path"
	default:
		st, err = sink.OpenPostgresReadOnly(ctx, sc.DSN)
		key += ".dsn"
	}
	if nas := (*sink.NotAStoreError)(nil); errors.As(err, &nas) {
		return nil, key, fmt.Errorf("holds no audit records (%s): run the sidecar on it first", nas.Reason)
	}
	if err != nil {
		return nil, key, err
	}
	return st, "", nil
}

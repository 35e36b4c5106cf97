package main

import (
	"context"
	"crypto/fips140"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/envelope"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/pipeline"
	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

type namedSink struct {
	name string
	sink sink.Sink
}

// openSinks opens every configured sink and returns the one named by
// server.query_sink (nil if none); on error it closes those opened.
func openSinks(ctx context.Context, cfg *config.Config, metrics *pipeline.Metrics, log *zap.Logger) ([]namedSink, query.Store, error) {
	var out []namedSink
	var queryable query.Store
	for i, sc := range cfg.Sinks {
		var s sink.Sink
		slog := log.With(zap.String("sink", sc.Name))
		switch sc.Type {
		case "sqlite":
			db, err := sink.OpenSQLite(sc.Path, slog)
			if err != nil {
				closeSinks(out)
				return nil, nil, fmt.Errorf("sinks[%d] (%s): %w", i, sc.Name, err)
			}
			if sc.Name == cfg.Server.QuerySink {
				queryable = db
			}
			s = db
		case "postgres":
			q := metrics.Quarantined.WithLabelValues(sc.Name)
			pg, err := sink.OpenPostgres(ctx, sc.DSN, sink.PostgresOptions{
				Logger:       slog,
				OnQuarantine: func(string, uint64, string) { q.Inc() },
			})
			if err != nil {
				closeSinks(out)
				return nil, nil, fmt.Errorf("sinks[%d] (%s): %w", i, sc.Name, err)
			}
			if sc.Name == cfg.Server.QuerySink {
				queryable = pg
			}
			s = pg
		case "null":
			s = sink.Null{}
		}
		out = append(out, namedSink{sc.Name, s})
	}
	return out, queryable, nil
}

func closeSinks(ss []namedSink) {
	for _, s := range ss {
		s.sink.Close()
	}
}

func runCmd(args []string) int {
	cfg, code := loadConfig("run", args, nil)
	if cfg == nil {
		return code
	}
	log := newLogger(cfg.Log.Level)
	defer log.Sync()
	if cfg.Chain.RequireFIPS && !fips140.Enabled() {
		return fail(exitUsage, "chain.require_fips: Go's FIPS 140-3 mode is off (run with GODEBUG=fips140=on, or build with GOFIPS140=v1.0.0)")
	}

	// The key files are checked before anything is created; with epochs,
	// the key file may be gone once the epoch key file holds the key.
	if _, err := os.Stat(epochFilePath(cfg)); cfg.Chain.EpochLength() <= 0 || err != nil {
		if _, _, err := loadKeyring(cfg); err != nil {
			return fail(exitUsage, "%v", err)
		}
	}
	red, err := newRedactor(cfg)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	var signer *chain.NoteSigner
	if cfg.Chain.SigningKeyFile != "" {
		if signer, err = chain.LoadSigner(cfg.Chain.SignerName, cfg.Chain.SigningKeyFile); err != nil {
			return fail(exitUsage, "chain.signing_key_file: %v", err)
		}
	}
	var tokens []query.Token
	if cfg.Server.ListenAddr() != "" {
		if tokens, err = query.LoadTokens(cfg.Server.TokensFile); err != nil {
			return fail(exitUsage, "server.tokens_file: %v", err)
		}
	}
	tlsFiles, tlsKey, err := loadTLS(cfg, log)
	if err != nil {
		return fail(exitUsage, "%s: %v", tlsKey, err)
	}
	// The spool first, so that an unusable spool path fails the start
	// before any sink file or table is created; a corrupt one is replaced
	// once the sinks, which hold the chain's tail, are open.
	spoolOpts := spool.Options{MaxBytes: cfg.Spool.MaxBytes, Logger: log}
	corrupt, reason := checkSpool(cfg.Spool.Path, log)
	var sp *spool.Spool
	if !corrupt {
		sp, err = spool.Open(cfg.Spool.Path, spoolOpts)
		if errors.Is(err, spool.ErrCorrupt) {
			corrupt, reason = true, err.Error()
		} else if err != nil {
			return fail(exitUsage, "spool.path: %v", err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := pipeline.NewMetrics(reg)
	openCtx, cancelOpen := context.WithTimeout(context.Background(), 30*time.Second)
	sinks, queryable, err := openSinks(openCtx, cfg, metrics, log)
	cancelOpen()
	if err != nil {
		if sp != nil {
			sp.Close()
		}
		return fail(exitUsage, "%v", err)
	}
	defer closeSinks(sinks)
	var gap map[string]any
	if corrupt {
		metrics.SpoolRecoveries.Inc()
		if sp, gap, err = recoverSpool(cfg, reason, sinks, spoolOpts, log); err != nil {
			return fail(exitUsage, "spool.path: %v", err)
		}
	} else if gap, err = adoptChain(cfg, sp, sinks, log); err != nil {
		sp.Close()
		return fail(exitUsage, "spool.path: %v", err)
	}
	defer sp.Close()
	var gaps []map[string]any
	if gap != nil {
		gaps = append(gaps, gap)
	}
	emptied := emptiedSinks(cfg, sp, sinks, log)
	for _, e := range emptied {
		gaps = append(gaps, e.gap)
	}
	names := make([]string, len(sinks))
	for i, s := range sinks {
		names[i] = s.name
	}
	if err := sp.Register(names); err != nil {
		return fail(exitUsage, "spool.path: %v", err)
	}

	key, keyEpoch, keyring, err := chainKeys(cfg, sp.State())
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	var epochStore func(chain.Key, uint64) error
	if keyEpoch > 0 {
		epochStore = chain.NewEpochFile(epochFilePath(cfg)).Store
	}

	env, err := envelope.ParseKind(cfg.Source.Envelope)
	if err != nil {
		return fail(exitUsage, "source.envelope: %v", err)
	}
	pcfg := parseConfig(cfg.Source)
	if cfg.Source.IdentityPath != "" {
		pcfg.Identities = parse.NewIdentities()
	}
	dialect, err := parse.New(pcfg)
	if err != nil {
		return fail(exitUsage, "source.format: %v", err)
	}
	multi := tailer.IsPattern(cfg.Source.Path)
	start := fipsFacts()
	start["version"], start["kid"], start["redaction_policy"] = version, key.ID, red.Policy()
	ckpt, pub, err := checkpoints(cfg, signer, sp, metrics, log)
	if err != nil {
		return fail(exitUsage, "chain.witness_dir: %v", err)
	}
	if signer != nil {
		start["signer"] = cfg.Chain.SignerName
		start["signer_public_key"] = string(signer.Verifier().PublicKeyPEM())
	}
	ing, err := pipeline.NewIngester(pipeline.IngestConfig{
		ChainID: cfg.Chain.ID, Key: key, Spool: sp, Redactor: red,
		BatchRecords: cfg.Spool.BatchRecords, BatchWait: cfg.Spool.BatchWait,
		StartDetail: start, Checkpoint: ckpt,
		Metrics: metrics, Logger: log,
		Retention: pipeline.Retention{MaxAge: cfg.Retention.MaxAge, Interval: cfg.Retention.Interval},
		Envelope:  env, MaxMessageBytes: cfg.Source.MaxLineBytes, Dialect: dialect,
		Gaps: gaps, Multi: multi, PreviousKeys: keyring,
		Epoch: cfg.Chain.EpochLength(), KeyEpoch: keyEpoch, EpochStore: epochStore,
	})
	if errors.Is(err, pipeline.ErrEpochsOff) {
		return fail(exitUsage, "chain.epoch: %v", err)
	}
	if errors.Is(err, pipeline.ErrHeadKeyMissing) {
		return fail(exitUsage, "chain.previous_key_files: %v", err)
	}
	if err != nil {
		return fail(exitUsage, "chain.id: %v", err)
	}
	tcfg := tailer.Config{
		Path: cfg.Source.Path, StartAt: cfg.Source.StartAt, Poll: cfg.Source.Poll,
		MaxLineBytes: cfg.Source.MaxLineBytes, RotateDrain: cfg.Source.RotateDrain, Logger: log,
		Observer:    metrics.TailerObserver(),
		AllowedDirs: cfg.Source.AllowedDirs, Rotated: cfg.Source.Rotated, Deny: cfg.OwnFiles(),
	}
	tl, key2, err := newSource(cfg, tcfg, ing, multi)
	if err != nil {
		return fail(exitUsage, "%s: %v", key2, err)
	}

	deliverers := make([]*pipeline.Deliverer, len(sinks))
	for i, s := range sinks {
		deliverers[i] = pipeline.NewDeliverer(s.name, s.sink, sp, metrics, log)
	}
	for _, e := range emptied {
		deliverers[e.index].StoreLost(e.err)
	}
	ready := func() error {
		if ing.SpoolFull() {
			return errors.New("spool full: source reading paused")
		}
		if ing.CommitFailing() {
			return errors.New("spool commits failing: source reading paused")
		}
		now := time.Now()
		for i, d := range deliverers {
			if d.LostRecords() != nil {
				return fmt.Errorf("sink %s lacks records delivered to it (see the log); not ready until the sidecar restarts", sinks[i].name)
			}
			if f := d.FailingFor(now); f > cfg.Server.ReadyGrace {
				return fmt.Errorf("sink %s failing for %s", sinks[i].name, f.Round(time.Second))
			}
		}
		return nil
	}

	srv, key3, err := serve(cfg, queryable, tokens, tlsFiles, ready, reg, log)
	if err != nil {
		return fail(exitUsage, "%s: %v", key3, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The witness URL is posted until ingestion has stopped (its final
	// checkpoint included), then once more at most.
	pubCtx, cancelPub := context.WithCancel(context.Background())
	pubDone := make(chan struct{})
	if pub != nil {
		go func() { defer close(pubDone); pub.Run(pubCtx) }()
	} else {
		close(pubDone)
	}
	stopPub := func() { cancelPub(); <-pubDone }
	defer stopPub()
	log.Info("sidecar started", zap.String("chain", cfg.Chain.ID), zap.String("kid", key.ID),
		zap.String("source", cfg.Source.Path), zap.Bool("fips140", fips140.Enabled()), zap.String("version", version))

	// Whatever the source or a sink is doing (a read stuck in the kernel, a
	// hung server), a stop request ends the process within the drain
	// deadline and a bound for the rest of the shutdown. Exiting there is
	// as safe as a kill: the spool holds everything committed.
	go func() {
		<-ctx.Done()
		time.Sleep(cfg.Shutdown.DrainTimeout + shutdownSlack)
		log.Error("shutdown did not finish in time; exiting, the spool keeps everything committed")
		_ = log.Sync()
		os.Exit(exitFailure)
	}()

	// Delivery runs until drained after ingestion stops, within the deadline.
	deliverCtx, cancelDeliver := context.WithCancel(context.Background())
	defer cancelDeliver()
	drain := make(chan struct{})
	var dwg sync.WaitGroup
	for _, d := range deliverers {
		dwg.Add(1)
		go func() { defer dwg.Done(); d.Run(deliverCtx, drain) }()
	}

	// Ingestion: the tailer feeds lines; a tailer failure stops everything.
	lines := make(chan tailer.Line, 4096)
	ingestCtx, cancelIngest := context.WithCancel(ctx)
	defer cancelIngest()
	if pcfg.Identities != nil {
		caughtUp, stopped, err := followIdentities(ingestCtx, cfg.Source, pcfg.Identities, log)
		if err != nil {
			return fail(exitUsage, "source.identity_path: %v", err)
		}
		defer func() { cancelIngest(); <-stopped }()
		select {
		case <-caughtUp:
		case <-time.After(identityCatchUp):
			log.Warn("identity log not read to its end in time; ingestion starts anyway")
		case <-ingestCtx.Done():
		}
	}
	tailErr := make(chan error, 1)
	go func() {
		err := tl.Run(ingestCtx, lines)
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("tailer failed", zap.Error(err))
			cancelIngest()
		}
		tailErr <- err
	}()
	exit := exitOK
	if err := ing.Run(ingestCtx, lines); err != nil {
		log.Error("ingestion stopped with an error", zap.Error(err))
		exit = exitFailure
	}
	cancelIngest()
	if err := <-tailErr; err != nil && !errors.Is(err, context.Canceled) {
		exit = exitFailure
	}

	// Shutdown: drain sinks for a bounded time, then stop serving.
	close(drain)
	done := make(chan struct{})
	go func() { dwg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.Shutdown.DrainTimeout):
		log.Warn("drain timeout: undelivered records stay in the spool", zap.Int64("pending_bytes", sp.PendingBytes()))
		cancelDeliver()
		<-done
	}
	stopPub() // publishes what the drain delivered
	srv.shutdown(5 * time.Second)
	log.Info("sidecar stopped", zap.Uint64("head_seq", sp.State().HeadSeq), zap.Int64("pending_bytes", sp.PendingBytes()))
	return exit
}

// shutdownSlack bounds the shutdown besides the drain: the final commit,
// the witness, the HTTP server's own 5 s.
const shutdownSlack = 10 * time.Second

// source is what feeds lines to the ingester: a tailer of one file or of
// every file matching a pattern.
type source interface {
	Run(ctx context.Context, out chan<- tailer.Line) error
}

// newSource makes the tailer for cfg.Source, resuming where the spool's
// committed positions say; on error it names the config key at fault.
func newSource(cfg *config.Config, tcfg tailer.Config, ing *pipeline.Ingester, multi bool) (source, string, error) {
	if multi {
		all, err := ing.ResumeAll()
		if err != nil {
			return nil, "spool.path", err
		}
		t, err := tailer.NewMulti(cfg.Source.Path, tcfg, all)
		if err != nil {
			return nil, "source.path", err
		}
		return t, "", nil
	}
	resume, err := ing.Resume()
	if err != nil {
		return nil, "spool.path", err
	}
	t, err := tailer.New(tcfg, resume)
	if err != nil {
		return nil, "source", err
	}
	return t, "", nil
}

// parseConfig is the parse package's view of source.
func parseConfig(s config.Source) parse.Config {
	var m parse.Mapping
	if len(s.Mapping) > 0 {
		m = parse.Mapping{}
		for k, f := range s.Mapping {
			m[k] = parse.MapField{Path: f.Path, Map: f.Map, Default: f.Default, Layout: f.Layout}
		}
	}
	return parse.Config{
		Mapping: m,
		Format:  s.Format,
		OTLP: parse.OTLPConfig{
			UserAttribute: s.OTLP.UserAttribute, TenantAttribute: s.OTLP.TenantAttribute,
			ApprovalAttribute: s.OTLP.ApprovalAttribute, ApproverAttribute: s.OTLP.ApproverAttribute,
		},
		OpenAIAgents: parse.OpenAIAgentsConfig{UserKey: s.OpenAIAgents.UserKey, TenantKey: s.OpenAIAgents.TenantKey},
		LangChain:    parse.LangChainConfig{UserKey: s.LangChain.UserKey, TenantKey: s.LangChain.TenantKey},
		MaxValues:    s.MaxLineValues,
	}
}

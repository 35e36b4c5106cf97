package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/pipeline"
	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
	"github.com/fips-agents/audit-sidecar/witness"
)

// sidecar is every part of `run`, opened and not yet started (see
// runCmd for the phases).
type sidecar struct {
	cfg        *config.Config
	log        *zap.Logger
	spool      *spool.Spool
	sinks      []namedSink
	ingester   *pipeline.Ingester
	source     source
	identities *identityFollower // nil without source.identity_path
	deliverers []*pipeline.Deliverer
	publisher  *witness.Publisher // nil without signed checkpoints
	listeners  *listeners
	kid        string // the chain key's id, for the start log line
}

// openSidecar opens every part of the sidecar in the order that fails a
// bad start before it changes anything it need not: the config's files
// first (preflight, which check-config runs too), then the spool (an
// unusable spool path fails before any sink file or table is created),
// the sinks, the chain state, the ingester,
// the source, and last the listeners. On failure it prints the reason,
// naming the config key at fault, closes what it opened and returns nil
// and the exit code.
func openSidecar(cfg *config.Config, log *zap.Logger) (_ *sidecar, code int) {
	s := &sidecar{cfg: cfg, log: log}
	defer func() {
		if code != exitOK {
			s.close()
		}
	}()
	pre, errs := preflight(cfg, log)
	if errs != nil {
		return nil, fail(exitUsage, "%v", errors.Join(errs...))
	}
	red, signer, tokens, tlsFiles := pre.redactor, pre.signer, pre.tokens, pre.tlsFiles
	var err error
	// The spool first, so that an unusable spool path fails the start
	// before any sink file or table is created; a corrupt one is replaced
	// once the sinks, which hold the chain's tail, are open.
	spoolOpts := spool.Options{MaxBytes: cfg.Spool.MaxBytes, Logger: log}
	corrupt, reason := checkSpool(cfg.Spool.Path, log)
	if !corrupt {
		s.spool, err = spool.Open(cfg.Spool.Path, spoolOpts)
		if errors.Is(err, spool.ErrCorrupt) {
			corrupt, reason = true, err.Error()
		} else if err != nil {
			return nil, fail(exitUsage, "spool.path: %v", err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(reg)
	metrics := pipeline.NewMetrics(reg)
	openCtx, cancelOpen := context.WithTimeout(context.Background(), 30*time.Second)
	sinks, queryable, err := openSinks(openCtx, cfg, metrics, log)
	cancelOpen()
	if err != nil {
		return nil, fail(exitUsage, "%v", err)
	}
	s.sinks = sinks
	var gap map[string]any
	if corrupt {
		metrics.SpoolRecoveries.Inc()
		if s.spool, gap, err = recoverSpool(cfg, reason, sinks, spoolOpts, log); err != nil {
			return nil, fail(exitUsage, "spool.path: %v", err)
		}
	} else if gap, err = adoptChain(cfg, s.spool, sinks, log); err != nil {
		return nil, fail(exitUsage, "spool.path: %v", err)
	}
	sp := s.spool
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
		return nil, fail(exitUsage, "spool.path: %v", err)
	}

	key, keyEpoch, keyring, err := chainKeys(cfg, sp.State())
	if err != nil {
		return nil, fail(exitUsage, "%v", err)
	}
	s.kid = key.ID
	var epochStore func(chain.Key, uint64) error
	epochKept := false
	if keyEpoch > 0 {
		ef := chain.NewEpochFile(epochFilePath(cfg))
		epochStore = ef.Store
		// A key of this kid in the file derives the current one: a store
		// that fails at start is then retried, not fatal.
		if stored, _, ok, err := ef.Load(); err == nil && ok {
			epochKept = stored.ID == key.ID
			stored.Erase()
		}
	}

	env, pcfg, dialect := pre.envelope, pre.parse, pre.dialect
	multi := tailer.IsPattern(cfg.Source.Path)
	start := fipsFacts()
	start["version"], start["kid"], start["redaction_policy"] = version, key.ID, red.Policy()
	ckpt, pub, err := checkpoints(cfg, signer, sp, metrics, log)
	if err != nil {
		return nil, fail(exitUsage, "chain.witness_dir: %v", err)
	}
	s.publisher = pub
	if signer != nil {
		start["signer"] = cfg.Chain.SignerName
		start["signer_public_key"] = string(signer.Verifier().PublicKeyPEM())
	}
	ing, ingKey, err := openIngester(pipeline.IngestConfig{
		ChainID: cfg.Chain.ID, Key: key, Spool: sp, Redactor: red,
		BatchRecords: cfg.Spool.BatchRecords, BatchWait: cfg.Spool.BatchWait,
		StartDetail: start, Checkpoint: ckpt,
		Metrics: metrics, Logger: log,
		Retention: pipeline.Retention{MaxAge: cfg.Retention.MaxAge, Interval: cfg.Retention.Interval},
		Envelope:  env, MaxMessageBytes: cfg.Source.MaxLineBytes, Dialect: dialect,
		Gaps: gaps, Multi: multi, PreviousKeys: keyring,
		Epoch: cfg.Chain.EpochLength(), KeyEpoch: keyEpoch, EpochStore: epochStore, EpochKept: epochKept,
	})
	if err != nil {
		return nil, fail(exitUsage, "%s: %v", ingKey, err)
	}
	s.ingester = ing
	tcfg := tailer.Config{
		Path: cfg.Source.Path, StartAt: cfg.Source.StartAt, Poll: cfg.Source.Poll,
		MaxLineBytes: cfg.Source.MaxLineBytes, RotateDrain: cfg.Source.RotateDrain, Logger: log,
		Observer:    metrics.TailerObserver(),
		AllowedDirs: cfg.Source.AllowedDirs, Rotated: cfg.Source.Rotated, Deny: cfg.OwnFiles(),
	}
	src, srcKey, err := newSource(cfg, tcfg, ing, multi)
	if err != nil {
		return nil, fail(exitUsage, "%s: %v", srcKey, err)
	}
	s.source = src
	if pcfg.Identities != nil {
		if s.identities, err = newIdentityFollower(cfg.Source, pcfg.Identities, log); err != nil {
			return nil, fail(exitUsage, "source.identity_path: %v", err)
		}
	}

	s.deliverers = make([]*pipeline.Deliverer, len(sinks))
	for i, ns := range sinks {
		s.deliverers[i] = pipeline.NewDeliverer(ns.name, ns.sink, sp, metrics, log)
	}
	for _, e := range emptied {
		s.deliverers[e.index].StoreLost(e.err)
	}
	ls, srvKey, err := serve(cfg, queryable, tokens, tlsFiles, s.ready, reg, log)
	if err != nil {
		return nil, fail(exitUsage, "%s: %v", srvKey, err)
	}
	s.listeners = ls
	return s, exitOK
}

// openIngester makes the ingester; on error it names what is at fault:
// the config key for a chain that the config does not fit, spool.path for
// a spool whose state cannot be read.
func openIngester(icfg pipeline.IngestConfig) (*pipeline.Ingester, string, error) {
	ing, err := pipeline.NewIngester(icfg)
	switch {
	case err == nil:
		return ing, "", nil
	case errors.Is(err, spool.ErrChainMismatch):
		return nil, "chain.id", err
	case errors.Is(err, pipeline.ErrEpochsOff):
		return nil, "chain.epoch", err
	case errors.Is(err, pipeline.ErrHeadKeyMissing):
		return nil, "chain.previous_key_files", err
	default:
		// The spool's committed source positions or retention marks
		// cannot be read (retention.interval is checked by the config).
		return nil, "spool.path", err
	}
}

// ready says whether the sidecar is ready (GET /readyz): not while the
// spool is full or its commits fail, nor while a sink has lost records
// delivered to it or has been failing for longer than server.ready_grace.
func (s *sidecar) ready() error {
	if s.ingester.SpoolFull() {
		return errors.New("spool full: source reading paused")
	}
	if s.ingester.CommitFailing() {
		return errors.New("spool commits failing: source reading paused")
	}
	now := time.Now()
	for i, d := range s.deliverers {
		if d.LostRecords() != nil {
			return fmt.Errorf("sink %s lacks records delivered to it (see the log); not ready until the sidecar restarts", s.sinks[i].name)
		}
		if f := d.FailingFor(now); f > s.cfg.Server.ReadyGrace {
			return fmt.Errorf("sink %s failing for %s", s.sinks[i].name, f.Round(time.Second))
		}
	}
	return nil
}

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
			db, err := sink.OpenSQLiteWith(sc.Path, slog, sink.SQLiteOptions{QueryIndexes: sc.QueryIndexes})
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

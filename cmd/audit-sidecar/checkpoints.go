package main

import (
	"os"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/pipeline"
	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/witness"
)

// checkpoints wires signed checkpoints: the ingester seals them with
// signer, and each one goes to the publisher (stdout, chain.witness_dir,
// chain.witness_url) once every sink of sp stores it. Without a signer it
// returns the zero config and no publisher.
func checkpoints(cfg *config.Config, signer *chain.NoteSigner, sp *spool.Spool, metrics *pipeline.Metrics, log *zap.Logger) (pipeline.CheckpointConfig, *witness.Publisher, error) {
	if signer == nil {
		return pipeline.CheckpointConfig{}, nil, nil
	}
	pub, err := witness.New(witness.Config{Stdout: os.Stdout, Dir: cfg.Chain.WitnessDir, URL: cfg.Chain.WitnessURL, Logger: log,
		OnError:   func(target string) { metrics.WitnessErrors.WithLabelValues(target).Inc() },
		Delivered: sp.Delivered, Changed: sp.Changed})
	if err != nil {
		return pipeline.CheckpointConfig{}, nil, err
	}
	return pipeline.CheckpointConfig{Signer: signer, Every: cfg.Chain.CheckpointEvery,
		Interval: cfg.Chain.CheckpointInterval, Heartbeat: cfg.Chain.CheckpointHeartbeat,
		Publish: func(p pipeline.Published) {
			pub.Publish(witness.Checkpoint{Chain: p.Chain, Size: p.Size, Seq: p.Seq, Time: p.Time, Note: p.Note})
		}}, pub, nil
}

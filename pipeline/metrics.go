package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fips-agents/audit-sidecar/tailer"
)

// Metrics are the pipeline's Prometheus metrics.
type Metrics struct {
	Lines        prometheus.Counter
	SourceBytes  prometheus.Counter
	Rotations    prometheus.Counter
	Truncations  prometheus.Counter
	SourceLosses prometheus.Counter     // times source bytes could not be read
	LostBytes    prometheus.Counter     // of those, the bytes counted
	Refused      *prometheus.CounterVec // source files refused, by reason
	Records      *prometheus.CounterVec // by action
	Redactions   *prometheus.CounterVec // by type
	ParseErrors  prometheus.Counter
	// InvalidUTF8 counts messages whose decoding replaces some of what
	// the agent wrote with U+FFFD (their records carry source.raw_sha256).
	InvalidUTF8  prometheus.Counter
	Commits      prometheus.Counter
	CommitErrors prometheus.Counter
	SpoolFull    prometheus.Gauge
	SpoolBytes   prometheus.Gauge
	HeadSeq      prometheus.Gauge
	Delivered    *prometheus.CounterVec // by sink
	SinkErrors   *prometheus.CounterVec // by sink
	SinkLag      *prometheus.GaugeVec   // records not yet in the sink, by sink
	SinkUp       *prometheus.GaugeVec   // 1 when the last write succeeded and the store lost nothing
	// SinkReplaced counts, by sink, the times its store was found without
	// records delivered to it: a file deleted or replaced while open, or
	// an empty store at start where the spool says records were delivered.
	SinkReplaced *prometheus.CounterVec
	Quarantined  *prometheus.CounterVec // records a sink could not store and moved aside, by sink
	// RetentionThrough is the seq through which the newest
	// retention_purge record purges the chain.
	RetentionThrough prometheus.Gauge
	PurgeErrors      *prometheus.CounterVec // failed sink purges (redone by the next purge), by sink
	// SpoolRecoveries is 1 when this run found its spool file corrupt and
	// moved it aside.
	SpoolRecoveries prometheus.Counter
	// Checkpoints: the size of the newest committed checkpoint, signing
	// failures, and failed publications (by target).
	CheckpointSize   prometheus.Gauge
	CheckpointErrors prometheus.Counter
	WitnessErrors    *prometheus.CounterVec
	// Epoch is the current forward-secure key epoch (0: off).
	Epoch prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Lines:            prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_source_lines_total", Help: "Lines read from the agent log."}),
		SourceBytes:      prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_source_bytes_total", Help: "Bytes of the lines read from the agent log (newlines included)."}),
		Rotations:        prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_source_rotations_total", Help: "New file generations found at the source path (rotations, or the file appearing)."}),
		Truncations:      prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_source_truncations_total", Help: "Source files found truncated or rewritten, and read again from the start."}),
		SourceLosses:     prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_source_losses_total", Help: "Times source bytes could not be read (each logged as a warning): a rotated file that could not be opened or was gone, an incomplete last line."}),
		LostBytes:        prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_source_lost_bytes_total", Help: "Source bytes known to be lost (losses of unknown size are only in audit_source_losses_total)."}),
		Refused:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_source_refused_total", Help: "Files at the source path or beside it that were not read: outside source.allowed_dirs, the sidecar's own, or not regular files."}, []string{"reason"}),
		Records:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_records_total", Help: "Records sealed into the chain, by action."}, []string{"action"}),
		Redactions:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_redactions_total", Help: "Values redacted, by PII type."}, []string{"type"}),
		ParseErrors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_parse_errors_total", Help: "Lines that became parse_error records."}),
		InvalidUTF8:      prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_source_invalid_utf8_total", Help: "Messages whose decoding replaced some of what the agent wrote with U+FFFD (bytes that are not valid UTF-8, unpaired surrogate escapes): their records carry the SHA-256 of the lines (source.raw_sha256)."}),
		Commits:          prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_spool_commits_total", Help: "Spool transactions committed by ingestion."}),
		CommitErrors:     prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_spool_commit_errors_total", Help: "Spool commits that failed and were retried."}),
		SpoolFull:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "audit_spool_full", Help: "1 while the spool is full and the source is not read."}),
		SpoolBytes:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "audit_spool_pending_bytes", Help: "Bytes of records held in the spool."}),
		HeadSeq:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "audit_chain_head_seq", Help: "Seq of the newest sealed record."}),
		Delivered:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_sink_records_total", Help: "Records delivered, by sink."}, []string{"sink"}),
		SinkErrors:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_sink_errors_total", Help: "Failed sink writes (retried), by sink."}, []string{"sink"}),
		SinkLag:          prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "audit_sink_lag_records", Help: "Records sealed but not yet in the sink."}, []string{"sink"}),
		SinkUp:           prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "audit_sink_up", Help: "1 when the sink's last write succeeded and its store has not lost records delivered to it since the start (see audit_sink_replaced_total)."}, []string{"sink"}),
		SinkReplaced:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_sink_replaced_total", Help: "Times a sink's store was found without records delivered to it (a SQLite file deleted or replaced while open, or a store empty at start where the spool says records were delivered); the sink then stays down and the sidecar not ready until it restarts. Any increase needs an operator."}, []string{"sink"}),
		Quarantined:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_sink_quarantined_total", Help: "Records a sink rejected for good and kept aside (postgres: table audit_quarantine), by sink. Any increase needs an operator."}, []string{"sink"}),
		RetentionThrough: prometheus.NewGauge(prometheus.GaugeOpts{Name: "audit_retention_purged_through_seq", Help: "Seq through which the newest retention_purge record purges the chain."}),
		SpoolRecoveries:  prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_spool_recoveries_total", Help: "Spool files found corrupt at start and moved aside (the chain continued from the sinks, with a gap record)."}),
		PurgeErrors:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_sink_purge_errors_total", Help: "Retention purges a sink failed to carry out (the next purge covers them), by sink."}, []string{"sink"}),
		CheckpointSize:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "audit_checkpoint_size", Help: "Records covered by the newest committed signed checkpoint."}),
		CheckpointErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_checkpoint_errors_total", Help: "Checkpoints that could not be signed."}),
		Epoch:            prometheus.NewGauge(prometheus.GaugeOpts{Name: "audit_key_epoch", Help: "The current forward-secure key epoch (0: epochs off)."}),
		WitnessErrors:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audit_witness_errors_total", Help: "Failed publications of a checkpoint, by target (stdout, dir, url); the url is retried and a newer checkpoint supersedes an older one."}, []string{"target"}),
	}
	for _, reason := range []string{tailer.RefusedOutside, tailer.RefusedOwnFile, tailer.RefusedNotRegular} {
		m.Refused.WithLabelValues(refusedLabel(reason)) // every reason shows, at 0
	}
	if reg != nil {
		reg.MustRegister(m.Lines, m.SourceBytes, m.Rotations, m.Truncations, m.SourceLosses, m.LostBytes, m.Refused, m.Records, m.Redactions, m.ParseErrors, m.InvalidUTF8, m.Commits, m.CommitErrors,
			m.SpoolFull, m.SpoolBytes, m.HeadSeq, m.Delivered, m.SinkErrors, m.SinkLag, m.SinkUp, m.SinkReplaced, m.Quarantined, m.RetentionThrough, m.PurgeErrors, m.SpoolRecoveries,
			m.CheckpointSize, m.CheckpointErrors, m.WitnessErrors, m.Epoch)
	}
	return m
}

// TailerObserver returns a tailer.Observer that counts into m.
func (m *Metrics) TailerObserver() tailer.Observer { return tailerObserver{m} }

type tailerObserver struct{ m *Metrics }

func (o tailerObserver) Rotated()   { o.m.Rotations.Inc() }
func (o tailerObserver) Truncated() { o.m.Truncations.Inc() }
func (o tailerObserver) Refused(reason string) {
	o.m.Refused.WithLabelValues(refusedLabel(reason)).Inc()
}

// refusedLabel is the reason label of audit_source_refused_total.
func refusedLabel(reason string) string {
	switch reason {
	case tailer.RefusedOutside:
		return "outside_allowed_dirs"
	case tailer.RefusedOwnFile:
		return "own_file"
	}
	return "not_regular"
}
func (o tailerObserver) Lost(bytes int64) {
	o.m.SourceLosses.Inc()
	if bytes > 0 {
		o.m.LostBytes.Add(float64(bytes))
	}
}

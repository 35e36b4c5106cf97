package main

import (
	"context"

	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/parse"
	"github.com/fips-agents/audit-sidecar/pipeline"
	"github.com/fips-agents/audit-sidecar/tailer"
)

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

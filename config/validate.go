package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/redact"
	"github.com/fips-agents/audit-sidecar/tailer"
)

var (
	chainIDRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	keyIDRE    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// Validate checks every value and returns all problems joined, each naming
// its key. Redaction patterns are compiled by the redact package.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	oneOf := func(key, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			bad(key, "%q is not one of %v", v, allowed)
		}
	}
	s := c.Source
	if s.Path == "" {
		bad("source.path", "required")
	}
	oneOf("source.format", s.Format, formats...)
	switch {
	case s.Format == "mapping" && len(s.Mapping) == 0:
		bad("source.mapping", "required when source.format is mapping")
	case s.Format != "mapping" && len(s.Mapping) > 0:
		bad("source.mapping", "only for source.format mapping")
	case s.Format == "mapping":
		errs = append(errs, validateMapping(s.Mapping)...)
	}
	if s.IdentityPath != "" {
		if strings.ContainsAny(s.IdentityPath, "*?[") {
			bad("source.identity_path", "must be one file, not a pattern")
		} else if s.IdentityPath == s.Path {
			bad("source.identity_path", "must not be source.path")
		}
	}
	oneOf("source.envelope", s.Envelope, "none", "cri", "docker", "auto")
	oneOf("source.start_at", s.StartAt, "beginning", "end")
	if s.Poll < 0 {
		bad("source.poll", "must be positive")
	}
	if s.RotateDrain < 0 {
		bad("source.rotate_drain", "must not be negative")
	}
	if s.MaxLineBytes < 4096 || s.MaxLineBytes > 1<<30 {
		bad("source.max_line_bytes", "must be between 4096 and 1073741824")
	}
	if s.MaxLineValues < 64 || s.MaxLineValues > max(s.MaxLineBytes, 64) {
		bad("source.max_line_values", "must be between 64 and source.max_line_bytes")
	}
	for i, d := range s.AllowedDirs {
		if d == "" || strings.ContainsAny(d, "*?[") {
			bad(fmt.Sprintf("source.allowed_dirs[%d]", i), "must be a folder, not empty or a pattern")
		}
	}
	if err := tailer.ValidateRotated(s.Rotated); err != nil {
		errs = append(errs, fmt.Errorf("source.%w", err))
	}

	if c.Chain.ID == "" {
		bad("chain.id", "required")
	} else if !chainIDRE.MatchString(c.Chain.ID) {
		bad("chain.id", "must be 1-128 of [A-Za-z0-9._-], starting with a letter or digit")
	}
	if c.Chain.KeyFile == "" {
		bad("chain.key_file", "required")
	}
	if e := c.Chain.EpochLength(); e < 0 || e > 0 && e < 100*time.Millisecond {
		bad("chain.epoch", "must be 0 (off) or at least 100ms")
	}
	if ch := c.Chain; ch.SigningKeyFile == "" {
		for _, k := range []struct {
			key string
			set bool
		}{{"chain.signer_name", ch.SignerName != ""}, {"chain.checkpoint_every", ch.CheckpointEvery != 0},
			{"chain.checkpoint_interval", ch.CheckpointInterval != 0}, {"chain.checkpoint_heartbeat", ch.CheckpointHeartbeat != 0},
			{"chain.witness_dir", ch.WitnessDir != ""}, {"chain.witness_url", ch.WitnessURL != ""}} {
			if k.set {
				bad(k.key, "needs chain.signing_key_file (checkpoints are off without it)")
			}
		}
	} else {
		if ch.SignerName == "" || strings.ContainsAny(ch.SignerName, " +\n\t") {
			bad("chain.signer_name", "must be non-empty, without spaces or '+'")
		}
		if ch.CheckpointEvery < 1 {
			bad("chain.checkpoint_every", "must be at least 1")
		}
		if ch.CheckpointInterval < 100*time.Millisecond {
			bad("chain.checkpoint_interval", "must be at least 100ms")
		}
		if ch.CheckpointHeartbeat < ch.CheckpointInterval {
			bad("chain.checkpoint_heartbeat", "must be at least chain.checkpoint_interval")
		}
		if u := ch.WitnessURL; u != "" {
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				bad("chain.witness_url", "must be an http or https URL")
			}
		}
	}

	hash := false
	for i, p := range c.Redact.Packs {
		if known := redact.Packs(); !slices.Contains(known, p) {
			bad(fmt.Sprintf("redact.packs[%d]", i), "unknown pack %q (known: %s)", p, strings.Join(known, ", "))
		}
	}
	names := map[string]bool{}
	for i, r := range c.Redact.Rules {
		key := fmt.Sprintf("redact.rules[%d]", i)
		if r.Name == "" {
			bad(key+".name", "required")
		} else if !ruleNameRE.MatchString(r.Name) {
			bad(key+".name", "must be 1-64 of [A-Za-z0-9_-]")
		} else if names[r.Name] {
			bad(key+".name", "duplicate rule name %q", r.Name)
		}
		names[r.Name] = true
		if r.Pattern == "" {
			bad(key+".pattern", "required")
		}
		oneOf(key+".action", r.Action, redact.Actions()...)
		hash = hash || r.Action == "hash"
	}
	for i, p := range c.Redact.Paths {
		key := fmt.Sprintf("redact.paths[%d]", i)
		if p.Path == "" {
			bad(key+".path", "required")
		}
		if p.Name != "" && !ruleNameRE.MatchString(p.Name) {
			bad(key+".name", "must be 1-64 of [A-Za-z0-9_-]")
		}
		oneOf(key+".action", p.Action, redact.Actions()...)
		hash = hash || p.Action == "hash"
	}
	for _, name := range slices.Sorted(maps.Keys(c.Redact.Actions)) {
		a := c.Redact.Actions[name]
		key := "redact.actions." + name
		if redact.PackTypes(name) == nil && !slices.Contains(redact.TypeNames(), name) {
			bad(key, "not a pack or a type")
		}
		oneOf(key, a, redact.Actions()...)
		hash = hash || a == "hash"
	}
	if id := c.Redact.HashKeyID; id != "" && !keyIDRE.MatchString(id) {
		bad("redact.hash_key_id", "must be 1-64 of [A-Za-z0-9._-]")
	}
	if hash && c.Redact.HashKeyFile == "" {
		bad("redact.hash_key_file", "required when a rule, path or type uses action hash")
	}

	if c.Spool.Path == "" {
		bad("spool.path", "required")
	}
	if c.Spool.MaxBytes < 1<<20 {
		bad("spool.max_bytes", "must be at least 1048576")
	}
	if c.Spool.BatchRecords < 1 || c.Spool.BatchRecords > 100000 {
		bad("spool.batch_records", "must be between 1 and 100000")
	}
	if c.Spool.BatchWait < 0 {
		bad("spool.batch_wait", "must not be negative")
	}

	if len(c.Sinks) == 0 {
		bad("sinks", "at least one sink is required")
	}
	sinkNames := map[string]string{}
	for i, k := range c.Sinks {
		key := fmt.Sprintf("sinks[%d]", i)
		if k.Name == "" {
			bad(key+".name", "required")
		} else if _, dup := sinkNames[k.Name]; dup {
			bad(key+".name", "duplicate sink name %q", k.Name)
		}
		sinkNames[k.Name] = k.Type
		switch k.Type {
		case "sqlite":
			if k.Path == "" {
				bad(key+".path", "required")
			}
			if k.DSN != "" {
				bad(key+".dsn", "only for type postgres")
			}
			seen := map[string]bool{}
			for j, ix := range k.QueryIndexes {
				switch {
				case ix != "user" && ix != "session":
					bad(fmt.Sprintf("%s.query_indexes[%d]", key, j), "%q is not one of [user session]", ix)
				case seen[ix]:
					bad(fmt.Sprintf("%s.query_indexes[%d]", key, j), "%q given twice", ix)
				}
				seen[ix] = true
			}
		case "postgres":
			if k.DSN == "" {
				bad(key+".dsn", "required")
			}
			if k.Path != "" {
				bad(key+".path", "only for type sqlite")
			}
			if len(k.QueryIndexes) > 0 {
				bad(key+".query_indexes", "only for type sqlite (a PostgreSQL store has them all)")
			}
		case "null":
			if len(k.QueryIndexes) > 0 {
				bad(key+".query_indexes", "only for type sqlite")
			}
		case "":
			bad(key+".type", "required")
		default:
			bad(key+".type", "%q is not one of [sqlite postgres null]", k.Type)
		}
	}

	if c.Retention.MaxAge < 0 {
		bad("retention.max_age", "must not be negative")
	}
	if c.Retention.MaxAge > 0 {
		if c.Retention.Interval <= 0 {
			bad("retention.interval", "must be positive")
		} else if c.Retention.Interval > c.Retention.MaxAge {
			bad("retention.interval", "must not exceed retention.max_age")
		}
	}

	if addr := c.Server.ListenAddr(); addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("server.listen", "must be host:port")
		}
		if c.Server.TokensFile == "" {
			bad("server.tokens_file", "required when server.listen is set")
		}
		switch t, ok := sinkNames[c.Server.QuerySink]; {
		case c.Server.QuerySink == "":
			bad("server.query_sink", "required when there is more than one sink")
		case !ok:
			bad("server.query_sink", "no sink named %q", c.Server.QuerySink)
		case t != "sqlite" && t != "postgres":
			bad("server.query_sink", "sink %q of type %s cannot be queried", c.Server.QuerySink, t)
		}
	}
	if c.Server.ReadyGrace < 0 {
		bad("server.ready_grace", "must not be negative")
	}
	errs = append(errs, c.Server.validateListeners()...)
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	if c.Shutdown.DrainTimeout < 0 {
		bad("shutdown.drain_timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

// formats are the values of source.format.
var formats = []string{"auto", "native", "fipsagents", "otlp", "openai-agents", "langchain", "mapping"}

// mapFields are the record fields a mapping may set.
var mapFields = []string{"ts", "action", "user", "tenant", "agent", "session", "trace", "model", "tool", "arguments", "outcome", "approver", "call_id"}

// agentActions and outcomes are the values a mapping may produce.
var (
	agentActions = []string{"decision", "model_call", "tool_call", "tool_result", "approval_requested", "approval_granted", "approval_denied", "error", "other"}
	outcomes     = []string{"success", "failure", "pending", "approved", "denied", "unknown"}
	mapPathRE    = regexp.MustCompile(`^[^.]+(\.[^.]+)*$`)
)

func validateMapping(m map[string]MapField) []error {
	var errs []error
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if _, ok := m["action"]; !ok {
		errs = append(errs, errors.New("source.mapping.action: required"))
	}
	for _, k := range keys {
		f, key := m[k], "source.mapping."+k
		if !slices.Contains(mapFields, k) {
			errs = append(errs, fmt.Errorf("%s: not a record field (one of %v)", key, mapFields))
			continue
		}
		if f.Path == "" && f.Default == "" {
			errs = append(errs, fmt.Errorf("%s.path: required (or a default)", key))
		} else if f.Path != "" && !mapPathRE.MatchString(f.Path) {
			errs = append(errs, fmt.Errorf("%s.path: %q is not a dotted path", key, f.Path))
		}
		if f.Layout != "" && k != "ts" {
			errs = append(errs, fmt.Errorf("%s.layout: only for ts", key))
		}
		if k == "ts" && f.Layout != "" && !slices.Contains([]string{"rfc3339", "unix", "unix_ms", "unix_ns"}, f.Layout) {
			errs = append(errs, fmt.Errorf("%s.layout: %q is not one of [rfc3339 unix unix_ms unix_ns]", key, f.Layout))
		}
		var allowed []string
		switch k {
		case "action":
			allowed = agentActions
		case "outcome":
			allowed = outcomes
		}
		if allowed == nil {
			continue
		}
		if f.Default != "" && !slices.Contains(allowed, f.Default) {
			errs = append(errs, fmt.Errorf("%s.default: %q is not one of %v", key, f.Default, allowed))
		}
		from := make([]string, 0, len(f.Map))
		for v := range f.Map {
			from = append(from, v)
		}
		slices.Sort(from)
		for _, v := range from {
			if to := f.Map[v]; !slices.Contains(allowed, to) {
				errs = append(errs, fmt.Errorf("%s.map.%s: %q is not one of %v", key, v, to, allowed))
			}
		}
	}
	return errs
}

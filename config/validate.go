package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/fips-agents/audit-sidecar/redact"
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
	switch s.Format {
	case "auto", "native":
	case "fipsagents", "otlp", "openai-agents", "langchain", "mapping":
		bad("source.format", "%q is not supported yet (supported: auto, native)", s.Format)
	default:
		bad("source.format", "%q is not one of [auto native]", s.Format)
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

	if c.Chain.ID == "" {
		bad("chain.id", "required")
	} else if !chainIDRE.MatchString(c.Chain.ID) {
		bad("chain.id", "must be 1-128 of [A-Za-z0-9._-], starting with a letter or digit")
	}
	if c.Chain.KeyFile == "" {
		bad("chain.key_file", "required")
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
		case "postgres":
			if k.DSN == "" {
				bad(key+".dsn", "required")
			}
			if k.Path != "" {
				bad(key+".path", "only for type sqlite")
			}
		case "null":
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
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	if c.Shutdown.DrainTimeout < 0 {
		bad("shutdown.drain_timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

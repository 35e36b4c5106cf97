package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// EngineRevision names the detectors' behaviour. It is part of every
// policy version and changes whenever a built-in detector finds something
// different on the same input.
const EngineRevision = "2026-12.1"

// Policy returns the redaction policy version: "rp1-" and 16 hex digits of
// SHA-256 over EngineRevision and the configuration (types switched on and
// their actions, rules, paths, the hash key id; never key material). Equal
// configurations of one engine revision give equal versions; records carry
// it in their redaction manifest.
func (r *Redactor) Policy() string { return r.policy }

func (r *Redactor) computePolicy(cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "engine %s\n", EngineRevision)
	for k := range numBuiltin {
		if r.on.has(k) {
			fmt.Fprintf(&b, "type %s %s\n", r.kinds[k].name, actionNames[r.kinds[k].action])
		}
	}
	for _, rule := range cfg.Rules {
		fmt.Fprintf(&b, "rule %q %q %q\n", rule.Name, rule.Pattern, rule.Action)
	}
	for _, p := range cfg.Paths {
		fmt.Fprintf(&b, "path %q %q %q\n", p.Path, p.Action, p.Name)
	}
	fmt.Fprintf(&b, "hash_key_id %q\n", cfg.HashKeyID)
	sum := sha256.Sum256([]byte(b.String()))
	return "rp1-" + hex.EncodeToString(sum[:8])
}

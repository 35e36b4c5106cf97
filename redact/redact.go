package redact

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// MaxValueBytes is the largest string value that is scanned. A longer
// value is replaced whole by Unprocessable: bounding the work per value
// matters more than keeping a value nobody can audit by eye anyway.
const MaxValueBytes = 1 << 20

// MinHashKeyBytes is the shortest HashKey New accepts when a rule hashes.
const MinHashKeyBytes = 32

// MaxRules bounds the number of custom rules (each one can cost a regexp
// pass over every string).
const MaxRules = 1000

// Unprocessable replaces a whole value that could not be redacted safely.
const Unprocessable = "[REDACTED:UNPROCESSABLE]"

// DefaultPacks is used when Config.Packs is nil.
var DefaultPacks = []string{"core", "secrets"}

// Config selects the rules. Packs: names from [Packs] (nil means
// DefaultPacks; an empty non-nil slice means none). Rules: custom regular
// expressions.
type Config struct {
	Packs []string
	Rules []Rule
	// Paths redact whole values by where they are in a JSON document.
	Paths []PathRule
	// Actions sets the action of built-in types: the key is a type
	// ("CARD") or a pack ("core", for all its types), the value an action
	// (mask, hash, partial, drop). A type's entry wins over a pack's; pack
	// entries apply in the order of their names.
	Actions map[string]string
	// HashKey keys action "hash" (HMAC-SHA256). Required, at least
	// MinHashKeyBytes long, only if a rule hashes. New copies it.
	HashKey []byte
	// HashKeyID, if set, is written into hash output:
	// "hmac-sha256:<kid>:<hex>" instead of "hmac-sha256:<hex>".
	HashKeyID string
}

// Rule is a custom rule: a Go regexp whose matches are masked as
// "[REDACTED:<NAME>]" (NAME is Name upper-cased, '-' replaced by '_') or
// replaced as Action says.
type Rule struct {
	Name    string
	Pattern string
	Action  string // "mask" (default), "hash", "partial" or "drop"
}

type kind struct {
	rule   string // "builtin:CARD", "rule:<name>", "path:<path>"
	name   string // counts key
	mask   string // "[REDACTED:<name>]"
	action action
	secret bool // action partial shows nothing of it
}

type customRule struct {
	re     *regexp.Regexp
	prefix string // literal every match starts with; "" = run on every string
	kind   uint16
}

// match is a span of the scanned text and what it is.
type match struct {
	start, end int
	kind       uint16
}

// Redactor finds and replaces PII and secrets. It is immutable after New
// and safe for concurrent use.
type Redactor struct {
	on         kindSet // built-in kinds switched on by the packs
	keyCtx     bool    // object keys are classified (a kind uses their context)
	rules      []customRule
	paths      []pathRule
	kinds      []kind // builtins, custom rules, then path rules
	hashPrefix string // "hmac-sha256:" or "hmac-sha256:<kid>:"
	macs       sync.Pool
	hook       func(string) // tests only: called before scanning a value
	policy     string       // see Policy
	gen        uint64       // tells Redactors apart in the walkers' key memos
}

// New validates cfg and builds a Redactor. Every problem is reported, each
// as a *ConfigError naming the item ("rules[1].pattern: ..."); several are
// joined with errors.Join. Errors never contain HashKey bytes.
func New(cfg Config) (*Redactor, error) {
	var errs []error
	bad := func(item string, err error) { errs = append(errs, &ConfigError{Item: item, Err: err}) }

	r := &Redactor{gen: redactorGen.Add(1)}
	packs := cfg.Packs
	if packs == nil {
		packs = DefaultPacks
	}
	r.on = packSet(packs, bad)
	r.keyCtx = r.on&(contextKinds|setOf(kAuth, kAWSSecretKey, kPassword, kSecret, kCVV, kPhone, kEmail)) != 0
	for k, t := range builtinTypes {
		r.kinds = append(r.kinds, kind{name: t, mask: "[REDACTED:" + t + "]", secret: secretKinds.has(k), rule: "builtin:" + t})
	}
	needKey := r.setActions(cfg.Actions, bad)
	if len(cfg.Rules) > MaxRules {
		bad("rules", fmt.Errorf("at most %d rules", MaxRules))
		cfg.Rules = cfg.Rules[:MaxRules]
	}
	for i, rule := range cfg.Rules {
		item := fmt.Sprintf("rules[%d]", i)
		if err := checkRuleName(rule.Name); err != nil {
			bad(item+".name", err)
		}
		var re *regexp.Regexp
		if rule.Pattern == "" {
			bad(item+".pattern", errors.New("required"))
		} else if x, err := regexp.Compile(rule.Pattern); err != nil {
			bad(item+".pattern", err)
		} else {
			re = x
		}
		act, err := parseAction(rule.Action)
		if err != nil {
			bad(item+".action", err)
		}
		needKey = needKey || act == actHash
		if re == nil {
			continue
		}
		prefix, _ := re.LiteralPrefix()
		t := ruleType(rule.Name)
		r.rules = append(r.rules, customRule{re: re, prefix: prefix, kind: uint16(len(r.kinds))})
		r.kinds = append(r.kinds, kind{name: t, mask: "[REDACTED:" + t + "]", action: act, rule: "rule:" + rule.Name})
	}
	if r.compilePaths(cfg.Paths, bad) {
		needKey = true
	}
	if needKey && len(cfg.HashKey) < MinHashKeyBytes {
		bad("hash_key", fmt.Errorf("must be at least %d bytes when a rule, path or type uses action hash", MinHashKeyBytes))
	}
	if cfg.HashKeyID != "" && !validKeyID(cfg.HashKeyID) {
		bad("hash_key_id", errors.New("must be 1-64 of [A-Za-z0-9._-]"))
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r.policy = r.computePolicy(cfg)
	r.hashPrefix = "hmac-sha256:"
	if cfg.HashKeyID != "" {
		r.hashPrefix += cfg.HashKeyID + ":"
	}
	if needKey {
		key := append([]byte(nil), cfg.HashKey...)
		r.macs.New = func() any { return hmac.New(sha256.New, key) }
	}
	return r, nil
}

// setActions applies Config.Actions to the built-in kinds and reports
// whether one of them hashes.
func (r *Redactor) setActions(actions map[string]string, bad func(string, error)) bool {
	keys := make([]string, 0, len(actions))
	for k := range actions {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		_, pa := packs[a]
		_, pb := packs[b]
		if pa != pb { // packs first, so that a type's entry wins
			if pa {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	hashes := false
	for _, key := range keys {
		act, err := parseAction(actions[key])
		if err != nil {
			bad("actions."+key, err)
			continue
		}
		var set kindSet
		if p, ok := packs[key]; ok {
			set = p
		} else if k := kindOf(key); k >= 0 {
			set = setOf(k)
		} else {
			bad("actions."+key, errors.New("not a type or pack"))
			continue
		}
		for k := range numBuiltin {
			if set.has(k) {
				r.kinds[k].action = act
				hashes = hashes || act == actHash && r.on.has(k)
			}
		}
	}
	return hashes
}

func checkRuleName(name string) error {
	if name == "" {
		return errors.New("required")
	}
	if len(name) > 64 {
		return errors.New("longer than 64 bytes")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '-' && c != '_' {
			return errors.New("must be of [A-Za-z0-9_-]")
		}
	}
	return nil
}

func ruleType(name string) string {
	return strings.ReplaceAll(strings.ToUpper(name), "-", "_")
}

func validKeyID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// Types lists every type name this Redactor can count: those of the
// selected packs in priority order, then the custom rules, then
// UNPROCESSABLE (for pre-registering metrics).
func (r *Redactor) Types() []string {
	seen := map[string]bool{}
	var out []string
	for i, k := range r.kinds {
		if i < numBuiltin && !r.on.has(i) {
			continue
		}
		if !seen[k.name] {
			seen[k.name] = true
			out = append(out, k.name)
		}
	}
	return append(out, TypeUnprocessable)
}

// String redacts one string value and adds one to counts[type] per
// replacement (counts may be nil). A string in which nothing is found is
// returned as is, without allocating. A value longer than MaxValueBytes,
// or one whose scanning fails, is replaced whole by Unprocessable.
func (r *Redactor) String(s string, counts map[string]int) string {
	return r.redactString(s, 0, counts)
}

func (r *Redactor) redactString(s string, ctx keyCtx, counts map[string]int) (out string) {
	if len(s) > MaxValueBytes {
		addCount(counts, TypeUnprocessable)
		return Unprocessable
	}
	defer func() {
		if recover() != nil {
			out = Unprocessable
			addCount(counts, TypeUnprocessable)
		}
	}()
	var buf [8]match
	ms := r.find(s, ctx, maskUnknown, buf[:0])
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 24*len(ms))
	prev := 0
	for _, m := range ms {
		b.WriteString(s[prev:m.start])
		var tmp [160]byte
		b.Write(r.appendReplacement(tmp[:0], m.kind, s[m.start:m.end]))
		prev = m.end
	}
	b.WriteString(s[prev:])
	out = b.String()
	for _, m := range ms {
		addCount(counts, r.kinds[m.kind].name)
	}
	return out
}

func addCount(counts map[string]int, t string) {
	if counts != nil {
		counts[t]++
	}
}

// find returns the spans of s to replace: sorted, non-overlapping. mask
// is triggers(s), or maskUnknown to have find compute it.
func (r *Redactor) find(s string, ctx keyCtx, mask uint16, ms []match) []match {
	if r.hook != nil {
		r.hook(s)
	}
	if mask == maskUnknown {
		mask = triggers(s)
	}
	if mask&(tPercent|tSpecial) != 0 && (hasEncoded(s) || hasFormPlus(s)) {
		ms = r.findEncoded(s, ctx, ms)
	}
	return r.findPlain(s, ctx, mask, ms)
}

// findPlain is find without looking into encoded forms.
func (r *Redactor) findPlain(s string, ctx keyCtx, mask uint16, ms []match) []match {
	if mask == maskUnknown {
		mask = triggers(s)
	}
	if r.on&secretKinds != 0 {
		ms = scanSecrets(s, ctx, mask, ms)
	}
	ms = scanCore(s, ctx, r.on, mask, ms)
	if r.on&nameKinds != 0 {
		ms = scanNames(s, ctx, r.on, ms)
	}
	for i := range r.rules {
		ms = r.rules[i].scan(s, ms)
	}
	return normalize(ms)
}

// maskUnknown asks find to compute the trigger mask itself.
const maskUnknown = 0xffff

// scan adds the rule's matches. A rule with a literal prefix runs only on
// strings containing it; one without runs the regexp on every string,
// which costs far more than all built-in scanners together.
func (c *customRule) scan(s string, ms []match) []match {
	if c.prefix != "" && !strings.Contains(s, c.prefix) {
		return ms
	}
	for _, loc := range c.re.FindAllStringIndex(s, -1) {
		if loc[1] > loc[0] {
			ms = append(ms, match{loc[0], loc[1], c.kind})
		}
	}
	return ms
}

// normalize sorts spans by start and merges overlapping ones. A merged span
// covers the union (text any detector claimed never survives). Its kind is
// that of a built-in detection containing the others (an IBAN around a
// digit run that also passes as a card, an IPv6 address ending in a dotted
// quad); when built-in spans only partly overlap, or a custom rule's span
// is involved, the highest-priority kind wins.
func normalize(ms []match) []match {
	if len(ms) < 2 {
		return ms
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].start < ms[i-1].start {
			slices.SortFunc(ms, func(a, b match) int { return cmp.Compare(a.start, b.start) })
			break
		}
	}
	out := ms[:1]
	ks, ke := ms[0].start, ms[0].end // the span that gave the last output its kind
	for _, m := range ms[1:] {
		last := &out[len(out)-1]
		if m.start >= last.end {
			out = append(out, m)
			ks, ke = m.start, m.end
			continue
		}
		builtin := m.kind < numBuiltin && last.kind < numBuiltin
		switch {
		case builtin && m.start <= ks && m.end >= ke && m.end-m.start > ke-ks:
			last.kind, ks, ke = m.kind, m.start, m.end
		case builtin && m.start >= ks && m.end <= ke && (m.start > ks || m.end < ke || m.kind > last.kind):
			// inside the span that names it (the same span: the type first in order)
		case m.kind < last.kind:
			last.kind, ks, ke = m.kind, m.start, m.end
		}
		last.end = max(last.end, m.end)
	}
	return out
}

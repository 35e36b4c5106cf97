package parse

import (
	"fmt"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
)

func TestPickKey_ConfiguredThenSpellings(t *testing.T) {
	m := map[string]string{"userId": "u-camel", "user": "u-plain", "org": "o", "tenant_id": "t"}
	get := func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	for _, c := range []struct{ configured, want, key string }{
		{"user_id", "u-camel", "userId"},
		{"user", "u-plain", "user"},
		{"uid", "u-camel", "userId"},
	} {
		if v, k := pickKey(get, c.configured, userKeys); v != c.want || k != c.key {
			t.Errorf("configured %s: %s from %s, want %s from %s", c.configured, v, k, c.want, c.key)
		}
	}
	if v, k := pickKey(get, "tenant_id", tenantKeys); v != "t" || k != "tenant_id" {
		t.Errorf("tenant: %s from %s", v, k)
	}
	delete(m, "tenant_id")
	if v, _ := pickKey(get, "tenant_id", tenantKeys); v != "o" {
		t.Errorf("tenant from org: %q", v)
	}
}

// A hostile log that opens ever new traces and runs, each with an
// identity, never ends them, cannot grow the identity state past
// MaxPending entries per table.
func TestIdentityState_Bounded(t *testing.T) {
	n := 3 * MaxPending
	o := newOTLP(OTLPConfig{}.withDefaults()).(*otlpDialect)
	lc := newLangChain(LangChainConfig{}.withDefaults()).(*langChain)
	oa := newOpenAIAgents(OpenAIAgentsConfig{}.withDefaults()).(*openAIAgents)
	emit := func(*record.Record) {}
	for i := range n {
		o.Parse(Line{Text: fmt.Appendf(nil, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"t%d","spanId":"s","name":"x","attributes":[{"key":"user.id","value":{"stringValue":"u%d"}}]}]}]}]}`, i, i)}, now, emit)
		lc.Parse(Line{Text: fmt.Appendf(nil, `{"event":"on_chain_start","run_id":"c%d","parent_run_id":"root%d","metadata":{"user_id":"u%d"}}`, i, i, i)}, now, emit)
		lc.Parse(Line{Text: fmt.Appendf(nil, `{"event":"on_chat_model_start","run_id":"m%d","parent_run_id":"c%d","metadata":{"ls_model_name":"m"}}`, i, i)}, now, emit)
		oa.Parse(Line{Text: fmt.Appendf(nil, `{"object":"trace","id":"t%d","metadata":{"user_id":"u%d"}}`, i, i)}, now, emit)
	}
	for name, size := range map[string]int{
		"otlp traces":      len(o.who.t.m),
		"langchain roots":  len(lc.who.t.m),
		"langchain runs":   len(lc.roots.m),
		"langchain models": len(lc.models.m),
		"openai traces":    len(oa.traces.m),
	} {
		if size > MaxPending {
			t.Errorf("%s: %d entries, want at most %d", name, size, MaxPending)
		}
	}
	// The newest are still known.
	var got *record.Record
	o.Parse(Line{Text: fmt.Appendf(nil, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"t%d","spanId":"c","parentSpanId":"s","name":"y"}]}]}]}`, n-1)}, now, func(r *record.Record) { got = r })
	if got == nil || got.User != fmt.Sprintf("u%d", n-1) {
		t.Errorf("newest trace's identity not carried: %+v", got)
	}
}

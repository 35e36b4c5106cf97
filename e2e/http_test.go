package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// httpEvent is the fields of agent event n of the HTTP test; every filter
// value is a function of n, so the expected answer of each query is known.
type httpEvent struct {
	n                                                int
	ts                                               time.Time
	tenant, user, action, tool, outcome, model, sess string
}

var httpBase = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func newHTTPEvent(n int) httpEvent {
	return httpEvent{
		n:       n,
		ts:      httpBase.Add(time.Duration(n) * time.Second),
		tenant:  []string{"acme", "globex", "initech"}[n%3],
		user:    fmt.Sprintf("u-%d", n%5),
		action:  []string{"tool_call", "model_call", "decision", "tool_result"}[n%4],
		tool:    []string{"search", "payments.refund"}[n%2],
		outcome: []string{"success", "failure", "pending"}[(n/3)%3],
		model:   []string{"granite-3.3-8b", "llama-3.1-70b"}[(n/7)%2],
		sess:    fmt.Sprintf("s-%d", n%11),
	}
}

func (h httpEvent) line() string {
	return event(map[string]any{
		"ts": h.ts.Format(time.RFC3339Nano), "tenant": h.tenant, "user": h.user, "action": h.action,
		"tool": h.tool, "outcome": h.outcome, "model": h.model, "session": h.sess, "n": h.n,
	})
}

func TestE2E_HTTP(t *testing.T) {
	t.Parallel()
	const total = 2500
	e := newEnv(t)
	events := make([]httpEvent, total)
	var b strings.Builder
	for n := range events {
		events[n] = newHTTPEvent(n)
		b.WriteString(events[n].line())
	}
	appendLines(t, e.logPath, b.String())
	p := e.start(t)
	addr := p.addr(t)
	db := openDB(t, e.dbPath)
	waitForEvents(t, db, total, p)

	t.Run("paging with limit 100 returns each record once, in order", func(t *testing.T) {
		recs := pageAll(t, addr, e.adminToken, nil, 100)
		seqs := map[uint64]int{}
		ns := map[int]int{}
		for i, r := range recs {
			seqs[r.Seq]++
			if n, ok := r.n(); ok {
				ns[n]++
			}
			if i > 0 {
				prev := recs[i-1]
				if r.TS < prev.TS || (r.TS == prev.TS && (r.Chain < prev.Chain || (r.Chain == prev.Chain && r.Seq <= prev.Seq))) {
					t.Errorf("record %d (seq %d) is out of (ts, chain, seq) order after seq %d", i, r.Seq, prev.Seq)
				}
			}
		}
		for seq, c := range seqs {
			if c != 1 {
				t.Errorf("seq %d served %d times", seq, c)
			}
		}
		for n := 0; n < total; n++ {
			if ns[n] != 1 {
				t.Errorf("event n=%d served %d times, want 1", n, ns[n])
			}
		}
		if len(recs) != total+2 {
			t.Errorf("%d records, want %d events + chain_start + sidecar_start", len(recs), total)
		}
	})

	all := func(*httpEvent) bool { return true }
	filters := []struct {
		name  string
		query url.Values
		token string
		match func(*httpEvent) bool
		own   int // the sidecar's own records expected (chain_start, sidecar_start)
	}{
		{"tenant", url.Values{"tenant": {"globex"}}, e.adminToken, func(h *httpEvent) bool { return h.tenant == "globex" }, 0},
		{"user", url.Values{"user": {"u-3"}}, e.adminToken, func(h *httpEvent) bool { return h.user == "u-3" }, 0},
		{"action", url.Values{"action": {"model_call"}}, e.adminToken, func(h *httpEvent) bool { return h.action == "model_call" }, 0},
		{"own action", url.Values{"action": {"chain_start"}}, e.adminToken, func(*httpEvent) bool { return false }, 1},
		{"tool", url.Values{"tool": {"search"}}, e.adminToken, func(h *httpEvent) bool { return h.tool == "search" }, 0},
		{"outcome", url.Values{"outcome": {"failure"}}, e.adminToken, func(h *httpEvent) bool { return h.outcome == "failure" }, 0},
		{"model", url.Values{"model": {"llama-3.1-70b"}}, e.adminToken, func(h *httpEvent) bool { return h.model == "llama-3.1-70b" }, 0},
		{"session", url.Values{"session": {"s-4"}}, e.adminToken, func(h *httpEvent) bool { return h.sess == "s-4" }, 0},
		{"chain", url.Values{"chain": {e.chainID}}, e.adminToken, all, 2},
		{"other chain", url.Values{"chain": {"no-such-chain"}}, e.adminToken, func(*httpEvent) bool { return false }, 0},
		{"from and to", url.Values{
			"from": {httpBase.Add(100 * time.Second).Format(time.RFC3339)},
			"to":   {httpBase.Add(250 * time.Second).Format(time.RFC3339)},
		}, e.adminToken, func(h *httpEvent) bool { return h.n >= 100 && h.n < 250 }, 0},
		{"from only", url.Values{"from": {httpBase.Add(2400 * time.Second).Format(time.RFC3339)}}, e.adminToken,
			func(h *httpEvent) bool { return h.n >= 2400 }, 2},
		{"to only", url.Values{"to": {httpBase.Add(10 * time.Second).Format(time.RFC3339)}}, e.adminToken,
			func(h *httpEvent) bool { return h.n < 10 }, 0},
		{"filters combine with AND", url.Values{"tenant": {"acme"}, "user": {"u-1"}, "action": {"decision"}}, e.adminToken,
			func(h *httpEvent) bool { return h.tenant == "acme" && h.user == "u-1" && h.action == "decision" }, 0},
		{"tenant-scoped token sees its tenant only", nil, e.acmeToken, func(h *httpEvent) bool { return h.tenant == "acme" }, 0},
		{"tenant-scoped token naming its tenant", url.Values{"tenant": {"acme"}, "outcome": {"pending"}}, e.acmeToken,
			func(h *httpEvent) bool { return h.tenant == "acme" && h.outcome == "pending" }, 0},
	}
	for _, f := range filters {
		t.Run("filter "+f.name, func(t *testing.T) {
			var want []int
			for i := range events {
				if f.match(&events[i]) {
					want = append(want, i)
				}
			}
			var got []int
			own := 0
			for _, r := range pageAll(t, addr, f.token, f.query, 1000) {
				if n, ok := r.n(); ok {
					got = append(got, n)
				} else {
					own++
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("?%s: got %d events, want %d (first got %v, first want %v)",
					f.query.Encode(), len(got), len(want), head(got), head(want))
			}
			if own != f.own {
				t.Errorf("?%s: %d of the sidecar's own records, want %d", f.query.Encode(), own, f.own)
			}
		})
	}

	errorCases := []struct {
		name   string
		token  string
		query  url.Values
		status int
	}{
		{"no token", "", nil, http.StatusUnauthorized},
		{"bad token", "not-a-configured-token", nil, http.StatusUnauthorized},
		{"tenant token asking another tenant", e.acmeToken, url.Values{"tenant": {"globex"}}, http.StatusForbidden},
		{"from is not a time", e.adminToken, url.Values{"from": {"yesterday"}}, http.StatusBadRequest},
		{"limit above 1000", e.adminToken, url.Values{"limit": {"5000"}}, http.StatusBadRequest},
		{"unknown action", e.adminToken, url.Values{"action": {"bogus"}}, http.StatusBadRequest},
	}
	for _, c := range errorCases {
		t.Run(fmt.Sprintf("%d %s", c.status, c.name), func(t *testing.T) {
			status, body := get(t, addr, c.token, "/v1/audit", c.query)
			if status != c.status {
				t.Errorf("status %d, want %d; body %s", status, c.status, body)
			}
			var eb map[string]any
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			if msg, ok := eb["error"].(string); !ok || msg == "" {
				t.Errorf("body has no \"error\" string: %s", body)
			}
			if _, ok := eb["records"]; ok {
				t.Errorf("error body carries records: %s", body)
			}
		})
	}

	t.Run("health, readiness and metrics", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			if status, body := get(t, addr, "", path, nil); status != http.StatusOK {
				t.Errorf("GET %s: status %d, body %.200s", path, status, body)
			}
		}
	})

	p.stop(t)
	requireValid(t, e.cfgPath)
}

func head(s []int) []int {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

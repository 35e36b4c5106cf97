package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/verify"
)

// sealedStore writes chains agent-a and agent-b of n records each,
// sealed with a real key (tenants acme and globex alternate), into a
// real SQLite file; it returns the store and the key.
func sealedStore(t testing.TB, n int) (*sink.SQLite, chain.Key) {
	t.Helper()
	key, err := chain.NewKey("", []byte("console-integrity-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sink.OpenSQLite(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, id := range []string{"agent-a", "agent-b"} {
		sealer := chain.NewSealer(id, key, chain.Head{})
		var batch []record.Sealed
		for i := range n {
			at := testBase.Add(time.Duration(i) * time.Minute)
			r := &record.Record{TS: at, IngestedAt: at, Action: record.ActionToolCall, Tool: "mail.send",
				Tenant: []string{"acme", "globex"}[i%2], Session: "s-1", Outcome: "success",
				Arguments: []byte(`{"email":"[EMAIL]","n":` + strings.Repeat("7", i%5+1) + `}`)}
			if i == 0 {
				r.Action, r.Tool, r.Tenant, r.Session, r.Outcome, r.Arguments = record.ActionChainStart, "", "", "", "", nil
			}
			batch = append(batch, sealer.Seal(r))
		}
		if err := s.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	return s, key
}

// verifyWith is Integrity.Verify as the command wires it, reduced to the
// package function the CLI calls: verify.Run with the HMAC keys.
func verifyWith(keys chain.Keyring) func(context.Context, verify.Store, bool) (*verify.Report, error) {
	return func(ctx context.Context, st verify.Store, export bool) (*verify.Report, error) {
		rep, err := verify.Run(ctx, st, verify.Options{Keys: keys}, nil)
		if err == nil && !export {
			rep.Checked.Input = "the test's store"
		}
		return rep, err
	}
}

// ienv is a console with an integrity page over a sealed store.
type ienv struct {
	*env
	c     *console
	store *sink.SQLite
	key   chain.Key
}

// newIntegrityEnv is a console over sealedStore(n) whose Integrity is
// set by set (after the defaults: the store, verifyWith its key, no
// evidence files, the test's temp dir).
func newIntegrityEnv(t *testing.T, n int, set func(*Integrity)) *ienv {
	t.Helper()
	st, key := sealedStore(t, n)
	reader, err := query.NewReader(query.Config{Store: st, Tokens: testTokens(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ig := &Integrity{Store: st, Verify: verifyWith(chain.Keyring{key.ID: key}), TempDir: t.TempDir()}
	if set != nil {
		set(ig)
	}
	clock := &fakeClock{now: testBase.Add(48 * time.Hour)}
	ui, err := New(Config{Reader: reader, Now: clock.Now, Integrity: ig})
	if err != nil {
		t.Fatal(err)
	}
	c := ui.(*console)
	srv := httptest.NewServer(ui)
	t.Cleanup(func() {
		srv.Close()
		if c.integrity != nil {
			c.integrity.wait()
		}
	})
	return &ienv{env: &env{srv: srv, clock: clock}, c: c, store: st, key: key}
}

// verifyNow starts a verification from the page's form and returns the
// POST's response.
func (e *ienv) verifyNow(t *testing.T, c *http.Client) resp {
	t.Helper()
	page := send(t, c, http.MethodGet, e.srv.URL+"/console/integrity", nil, nil)
	if page.code != http.StatusOK {
		t.Fatalf("integrity page: %d\n%s", page.code, page.body)
	}
	return send(t, c, http.MethodPost, e.srv.URL+"/console/integrity", url.Values{"csrf": {formCSRF(t, page.body)}}, nil)
}

var verdictAttr = regexp.MustCompile(`data-verdict="([a-z]+)"`)

// waitVerdict waits for the integrity page to show a verdict (or a
// failure) and returns the page.
func (e *ienv) waitVerdict(t *testing.T, c *http.Client) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p := send(t, c, http.MethodGet, e.srv.URL+"/console/integrity", nil, nil)
		if p.code != http.StatusOK {
			t.Fatalf("integrity page: %d", p.code)
		}
		if !strings.Contains(p.body, `id="progress"`) && (verdictAttr.MatchString(p.body) || strings.Contains(p.body, "could not run to its end")) {
			return p.body
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verdict after 60s:\n%s", p.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package query

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fips-agents/audit-sidecar/sink"
)

// waitLong bounds a wait that only a bug makes long.
const waitLong = 60 * time.Second

// blockingStore holds every SearchEach until release is closed, and
// reports each call on entered.
type blockingStore struct {
	s       *fakeStore
	entered chan struct{}
	release chan struct{}
}

func newBlockingStore() *blockingStore {
	return &blockingStore{s: newFakeStore(genRecords(30)), entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blockingStore) SearchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.s.SearchEach(ctx, f, fn)
}

func (b *blockingStore) Chains(ctx context.Context) ([]string, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.s.Chains(ctx)
}

func (b *blockingStore) Scan(ctx context.Context, chain string, fn func(sink.Row) error) error {
	return b.s.Scan(ctx, chain, fn)
}

// waitEntered waits for n calls of the store.
func (b *blockingStore) waitEntered(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-b.entered:
		case <-time.After(waitLong):
			t.Fatal("the store was not called")
		}
	}
}

func newLimitedHandler(t *testing.T, store Store, maxQueries int, reg prometheus.Registerer) *handler {
	t.Helper()
	h, err := NewHandler(Config{Store: store, Tokens: testTokens(), MaxConcurrentQueries: maxQueries, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return h.(*handler)
}

// metricValue is the value of the gauge or counter name in reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// want429 checks a refusal: 429, Retry-After, a JSON error.
func want429(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	msg := wantError(t, rec, http.StatusTooManyRequests)
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", rec.Header().Get("Retry-After"))
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("no nosniff on the 429")
	}
	if !strings.Contains(msg, "too many concurrent queries") {
		t.Errorf("error %q", msg)
	}
}

// adminTokens are n admin tokens without a tenant, each its own
// credential: tok-admin-0, tok-admin-1, ...
func adminTokens(n int) (tokens []Token, secrets []string) {
	for i := range n {
		secret := fmt.Sprintf("tok-admin-%d", i)
		tokens = append(tokens, Token{Name: fmt.Sprintf("ops-%d", i), SHA256: hashOf(secret), Role: RoleAdmin})
		secrets = append(secrets, secret)
	}
	return tokens, secrets
}

// TestAudit_ConcurrencyBound holds MaxConcurrentQueries requests (of
// several tokens) inside the store and fills the queue: the next request
// is 429 at once, with Retry-After; the queued requests are served when
// the held ones end.
func TestAudit_ConcurrencyBound(t *testing.T) {
	store := newBlockingStore()
	reg := prometheus.NewRegistry()
	tokens, secrets := adminTokens(8)
	hh, err := NewHandler(Config{Store: store, Tokens: tokens, MaxConcurrentQueries: 2, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := hh.(*handler)
	h.limit.wait = waitLong // the queued requests wait for a slot, however slow the machine

	var wg sync.WaitGroup
	results := make(chan *httptest.ResponseRecorder, 10)
	next := 0
	fire := func(n int) {
		for range n {
			wg.Add(1)
			token := secrets[next]
			next++
			go func() {
				defer wg.Done()
				results <- get(h, "/v1/audit?limit=5", token)
			}()
		}
	}
	fire(2)
	store.waitEntered(t, 2) // both slots taken
	if got := metricValue(t, reg, "audit_queries_in_flight"); got != 2 {
		t.Errorf("audit_queries_in_flight %v, want 2", got)
	}
	fire(queueFactor * 2)
	deadline := time.Now().Add(waitLong)
	for h.limit.waiting.Load() != queueFactor*2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in the queue, want %d", h.limit.waiting.Load(), queueFactor*2)
		}
		time.Sleep(time.Millisecond)
	}
	// Slots taken, queue full: refused at once, for pages and exports.
	want429(t, get(h, "/v1/audit?limit=5", secrets[next]))
	want429(t, get(h, "/v1/audit?format=ndjson", secrets[next+1]))
	if got := metricValue(t, reg, "audit_queries_rejected_total"); got != 2 {
		t.Errorf("audit_queries_rejected_total %v, want 2", got)
	}
	// What is checked before the bound is answered as always.
	wantError(t, get(h, "/v1/audit?limit=0", secrets[next]), http.StatusBadRequest)
	wantError(t, get(h, "/v1/audit", ""), http.StatusUnauthorized)

	close(store.release)
	wg.Wait()
	close(results)
	for rec := range results {
		decodePage(t, rec)
	}
	if got := metricValue(t, reg, "audit_queries_in_flight"); got != 0 {
		t.Errorf("audit_queries_in_flight %v after, want 0", got)
	}
	decodePage(t, get(h, "/v1/audit?limit=5", secrets[0]))
	if n := len(h.limit.tokens); n != 0 {
		t.Errorf("%d tokens' shares kept after every request ended", n)
	}
}

// TestAudit_TokenShare: one token holds at most half of the slots; its
// further requests wait in a queue of its own, bounded, and are refused
// when their wait ends, while every other token is still served at once.
func TestAudit_TokenShare(t *testing.T) {
	store := newBlockingStore()
	reg := prometheus.NewRegistry()
	h := newLimitedHandler(t, store, 4, reg)
	h.limit.wait = waitLong
	var wg sync.WaitGroup
	held := make(chan *httptest.ResponseRecorder, 10)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held <- get(h, "/v1/audit?limit=5", acmeToken)
		}()
	}
	store.waitEntered(t, 2) // the tenant's two slots
	// Its queue: queueFactor requests per slot of its share, then 429.
	for range queueFactor * 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held <- get(h, "/v1/audit?limit=5", acmeToken)
		}()
	}
	deadline := time.Now().Add(waitLong)
	for {
		h.limit.mu.Lock()
		n := int64(0)
		for _, ts := range h.limit.tokens {
			n += ts.waiting
		}
		h.limit.mu.Unlock()
		if n == queueFactor*2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the token's requests wait, want %d", n, queueFactor*2)
		}
		time.Sleep(time.Millisecond)
	}
	want429(t, get(h, "/v1/audit?limit=5", acmeToken))
	if h.limit.waiting.Load() != 0 {
		t.Errorf("%d requests in the shared queue: a token past its share took places in it", h.limit.waiting.Load())
	}
	// The other half is the other tokens': served while the tenant's
	// requests are held.
	other := make(chan *httptest.ResponseRecorder, 1)
	go func() { other <- get(h, "/v1/audit?limit=5", adminToken) }()
	store.waitEntered(t, 1)
	if got := metricValue(t, reg, "audit_queries_in_flight"); got != 3 {
		t.Errorf("audit_queries_in_flight %v, want 3 (the tenant's two and the admin's)", got)
	}
	close(store.release)
	decodePage(t, <-other)
	wg.Wait()
	close(held)
	for rec := range held {
		decodePage(t, rec)
	}
	// A queued request of a token whose slots stay taken is refused when
	// its wait ends.
	blocked := newBlockingStore()
	h = newLimitedHandler(t, blocked, 2, nil)
	h.limit.wait = time.Millisecond
	done := make(chan struct{})
	go func() {
		defer close(done)
		decodePage(t, get(h, "/v1/audit", acmeToken))
	}()
	blocked.waitEntered(t, 1)
	want429(t, get(h, "/v1/audit", acmeToken))
	h.limit.wait = waitLong
	go func() { blocked.waitEntered(t, 1); close(blocked.release) }()
	decodePage(t, get(h, "/v1/audit", adminToken))
	<-done
}

func TestShareOf(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 1024: 512} {
		if got := shareOf(n); got != want {
			t.Errorf("shareOf(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestAudit_ConcurrencyBound_QueueWaitEnds: a request queued while the
// slots stay taken is refused with 429 when its wait ends, or when its
// client goes away.
func TestAudit_ConcurrencyBound_QueueWaitEnds(t *testing.T) {
	store := newBlockingStore()
	h := newLimitedHandler(t, store, 1, nil)
	h.limit.wait = time.Millisecond
	done := make(chan struct{})
	go func() {
		defer close(done)
		decodePage(t, get(h, "/v1/audit", adminToken))
	}()
	store.waitEntered(t, 1)
	want429(t, get(h, "/v1/audit", adminToken))

	h.limit.wait = waitLong
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/v1/audit", nil).WithContext(ctx)
	req.Header.Set("Authorization", bearer(adminToken))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	want429(t, rec)
	close(store.release)
	<-done
}

// TestAudit_ExportHoldsASlot: an export is a query like a page.
func TestAudit_ExportHoldsASlot(t *testing.T) {
	store := newBlockingStore()
	h := newLimitedHandler(t, store, 1, nil)
	h.limit.maxWait = 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		if rec := get(h, "/v1/audit?format=ndjson", adminToken); rec.Code != http.StatusOK {
			t.Errorf("export: %d", rec.Code)
		}
	}()
	store.waitEntered(t, 1) // the export is listing the chains
	want429(t, get(h, "/v1/audit", adminToken))
	close(store.release)
	<-done
	decodePage(t, get(h, "/v1/audit", adminToken))
}

func TestNewHandler_MaxConcurrentQueries(t *testing.T) {
	if _, err := NewHandler(Config{Store: newFakeStore(nil), MaxConcurrentQueries: -1}); err == nil {
		t.Fatal("a negative bound is accepted")
	}
	h := newLimitedHandler(t, newFakeStore(nil), 0, nil)
	if cap(h.limit.slots) != DefaultMaxConcurrentQueries || h.limit.maxWait != queueFactor*DefaultMaxConcurrentQueries {
		t.Fatalf("default: %d slots, %d in the queue", cap(h.limit.slots), h.limit.maxWait)
	}
}

// stepStore yields the rows of s; after the first `first` rows it waits
// until go is closed, as a store reading its next chunk would.
type stepStore struct {
	s     *fakeStore
	first int
	goOn  chan struct{}
}

func (st *stepStore) SearchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error {
	n := 0
	return st.s.SearchEach(ctx, f, func(r *sink.Row) error {
		if n++; n == st.first+1 {
			select {
			case <-st.goOn:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return fn(r)
	})
}

// TestAudit_PageIsStreamed: the client receives the first records of a
// page while the store has not yielded the rest: a handler that built the
// page in memory before writing it would send nothing, and the store
// would wait forever.
func TestAudit_PageIsStreamed(t *testing.T) {
	store := &stepStore{s: newFakeStore(genRecords(1200)), first: 400, goOn: make(chan struct{})}
	srv := httptest.NewServer(newTestHandler(t, Config{Store: store}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/audit?limit=1000", nil)
	req.Header.Set("Authorization", bearer(adminToken))
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		got <- result{resp, err}
	}()
	var res result
	select {
	case res = <-got:
	case <-time.After(waitLong):
		close(store.goOn)
		t.Fatal("no response while the store holds the rest of the page: the page is not streamed")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.resp.Body.Close()
	br := bufio.NewReader(res.resp.Body)
	head, err := br.Peek(len(`{"records":[{`))
	if err != nil || string(head) != `{"records":[{` {
		t.Fatalf("start of the page %q, %v", head, err)
	}
	close(store.goOn)
	var p pageBody
	if err := json.NewDecoder(br).Decode(&p); err != nil || len(p.Records) != 1000 || p.NextCursor == nil {
		t.Fatalf("page: %d records, cursor %v, %v", len(p.Records), p.NextCursor, err)
	}
}

package query

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// boundedStore is a fakeStore that examines at most budget rows per
// SearchEach when the filter names a user, as the sinks do for a filter
// no index serves, and then stops with a *sink.SearchBoundError.
type boundedStore struct {
	*fakeStore
	budget int
	stops  int
}

func (b *boundedStore) SearchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error {
	if f.User == "" {
		return b.fakeStore.SearchEach(ctx, f, fn)
	}
	walk := f
	walk.User = ""
	examined, yielded := 0, 0
	for i := range b.rows {
		r := &b.rows[i]
		if !matchRow(r, &walk) {
			continue
		}
		if examined == b.budget {
			b.stops++
			prev := b.rows[i-1]
			ts, _ := time.Parse(time.RFC3339Nano, prev.TS)
			return &sink.SearchBoundError{Resume: sink.Key{TS: ts, Chain: prev.Chain, Seq: prev.Seq}, Examined: examined}
		}
		examined++
		if r.User != f.User {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
		if yielded++; yielded == f.Limit {
			return nil
		}
	}
	return nil
}

// TestAudit_PagesOfABoundedScan: when the store stops at its bound of
// rows examined, the page holds what was found (possibly nothing) and a
// next_cursor; following the cursors returns every matching record once,
// in order, as the same query on a store without the bound does.
func TestAudit_PagesOfABoundedScan(t *testing.T) {
	recs := genRecords(600)
	plain := newFakeStore(recs)
	bounded := &boundedStore{fakeStore: newFakeStore(recs), budget: 25}
	walk := func(store Store, q string, token string) (ids []string, pages, empty int) {
		h := newTestHandler(t, Config{Store: store})
		cursor := ""
		for {
			target := "/v1/audit?" + q
			if cursor != "" {
				target += "&cursor=" + url.QueryEscape(cursor)
			}
			p, got := decodePage(t, get(h, target, token))
			pages++
			if len(got) == 0 {
				empty++
			}
			for _, r := range got {
				ids = append(ids, fmt.Sprintf("%s/%d", r.Chain, r.Seq))
			}
			if p.NextCursor == nil {
				return ids, pages, empty
			}
			if pages > 1000 {
				t.Fatal("no end of the pages")
			}
			cursor = *p.NextCursor
		}
	}
	for _, tc := range []struct{ q, token string }{
		{"user=u-3&limit=7", adminToken},
		{"user=u-3&limit=1000", adminToken},
		{"user=u-3&limit=1", acmeToken},
		{"user=nobody", adminToken},
	} {
		want, _, _ := walk(plain, tc.q, tc.token)
		got, pages, empty := walk(bounded, tc.q, tc.token)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %d records %.60v, want %d %.60v", tc.q, len(got), got, len(want), want)
		}
		t.Logf("%s: %d records in %d pages, %d of them empty", tc.q, len(got), pages, empty)
	}
	if bounded.stops == 0 {
		t.Fatal("the store never stopped at its bound: the test proves nothing")
	}
}

// timeoutStore fails every search with sink.ErrSearchTimeout.
type timeoutStore struct{ *fakeStore }

func (timeoutStore) SearchEach(context.Context, sink.Filter, func(*sink.Row) error) error {
	return fmt.Errorf("sqlite search: %w", sink.ErrSearchTimeout)
}

func TestAudit_StoreStatementTimeout(t *testing.T) {
	h := newTestHandler(t, Config{Store: timeoutStore{newFakeStore(nil)}})
	rec := get(h, "/v1/audit?call_id=x", adminToken)
	msg := wantError(t, rec, http.StatusServiceUnavailable)
	if !strings.Contains(msg, "narrow") || rec.Header().Get("Retry-After") == "" {
		t.Errorf("503 %q, Retry-After %q", msg, rec.Header().Get("Retry-After"))
	}
}

// TestAudit_StalledReaderIsCut: a client that sends a request for a page
// larger than the sockets buffer and never reads it holds its query slot
// for WriteStall, not for the server's write timeout: then its
// connection is closed and the slot is free again.
func TestAudit_StalledReaderIsCut(t *testing.T) {
	recs := genRecords(1000)
	for _, r := range recs {
		r.Arguments = json.RawMessage(fmt.Sprintf(`{"text":%q}`, strings.Repeat("x", 16<<10)))
	}
	reg := prometheus.NewRegistry()
	h := newTestHandler(t, Config{Store: newFakeStore(recs), WriteStall: 300 * time.Millisecond, Registerer: reg})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = time.Hour
	srv.Start()
	defer srv.Close()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /v1/audit?limit=1000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", adminToken)
	deadline := time.Now().Add(waitLong)
	for metricValue(t, reg, "audit_queries_in_flight") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the query never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for metricValue(t, reg, "audit_queries_in_flight") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client that reads nothing still holds its query slot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The connection was closed: reading drains what the buffers held,
	// then ends without the end of the chunked body.
	c.SetReadDeadline(time.Now().Add(waitLong))
	body, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the stalled connection was not closed: %v", err)
	}
	if strings.HasSuffix(string(body), "0\r\n\r\n") {
		t.Error("the cut page ended as if whole")
	}
}

// TestHandler_UnauthorizedLogSampled: requests without a valid token are
// all counted, by reason, and logged only a few times.
func TestHandler_UnauthorizedLogSampled(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	reg := prometheus.NewRegistry()
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(5)), Logger: zap.New(core), Registerer: reg})
	const n = 1000
	for i := range n {
		token := "not-a-token"
		if i%2 == 0 {
			token = ""
		}
		wantError(t, get(h, "/v1/audit", token), http.StatusUnauthorized)
	}
	lines := logs.FilterMessage("audit query unauthorized").Len()
	if lines == 0 || lines > 2*unauthorizedLogFirst {
		t.Errorf("%d requests without a valid token wrote %d log lines, want 1 to %d", n, lines, 2*unauthorizedLogFirst)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "audit_http_unauthorized_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				got[l.GetName()+"="+l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if got["reason=missing"] != n/2 || got["reason=invalid"] != n/2 || len(got) != 2 {
		t.Errorf("audit_http_unauthorized_total %v, want %d missing and %d invalid", got, n/2, n/2)
	}
	// The lines of authenticated requests are not sampled.
	for range 20 {
		decodePage(t, get(h, "/v1/audit?limit=1", adminToken))
	}
	if served := logs.FilterMessage("audit query served").Len(); served != 20 {
		t.Errorf("%d of 20 served queries logged", served)
	}
}

// TestParseTime_OffsetOutOfRange: RFC 3339 offsets have hours 00 to 23
// and minutes 00 to 59.
func TestParseTime_OffsetOutOfRange(t *testing.T) {
	for _, s := range []string{"2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00-24:00", "2026-01-01T00:00:00+23:60", "2026-01-01T00:00:00.5+99:00"} {
		if _, err := ParseTime(s); err != ErrTimeSyntax {
			t.Errorf("%s: %v, want ErrTimeSyntax", s, err)
		}
	}
	for _, s := range []string{"2026-01-01T00:00:00+23:59", "2026-01-01T00:00:00-00:00", "2026-01-01T00:00:00.123Z"} {
		if _, err := ParseTime(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(5))})
	wantError(t, get(h, "/v1/audit?from="+url.QueryEscape("2026-01-01T00:00:00+24:00"), adminToken), http.StatusBadRequest)
	wantError(t, get(h, "/v1/audit?format=ndjson&to="+url.QueryEscape("2026-01-01T00:00:00+24:00"), adminToken), http.StatusBadRequest)
}

// TestExport_AnswersLikeAPage: an export of an empty range is 400 as a
// page is, and one of a chain the store does not hold is 404, not an
// empty 200.
func TestExport_AnswersLikeAPage(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(30))})
	at := func(d time.Duration) string { return url.QueryEscape(record.FormatTime(testBase.Add(d))) }
	for _, q := range []string{"from=" + at(time.Hour) + "&to=" + at(time.Hour), "from=" + at(2*time.Hour) + "&to=" + at(time.Hour)} {
		if msg := wantError(t, get(h, "/v1/audit?"+q, adminToken), http.StatusBadRequest); !strings.HasPrefix(msg, "from:") {
			t.Errorf("page %s: %q", q, msg)
		}
		if msg := wantError(t, get(h, "/v1/audit?format=ndjson&"+q, adminToken), http.StatusBadRequest); !strings.HasPrefix(msg, "from:") {
			t.Errorf("export %s: %q", q, msg)
		}
	}
	if msg := wantError(t, get(h, "/v1/audit?format=ndjson&chain=no-such-chain", adminToken), http.StatusNotFound); !strings.HasPrefix(msg, "chain:") {
		t.Errorf("unknown chain: %q", msg)
	}
	rec := get(h, "/v1/audit?format=ndjson&chain=chain-a", adminToken)
	if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), "\n") != 10 {
		t.Errorf("export of chain-a: %d, %d lines", rec.Code, strings.Count(rec.Body.String(), "\n"))
	}
}

package query

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// TestAudit_TraceTenantScope: a tenant token asking for a trace sees
// the trace's records of its tenant only, whether it names its tenant,
// names none, or names another (403).
func TestAudit_TraceTenantScope(t *testing.T) {
	recs := genRecords(300)
	store := newFakeStore(recs)
	h := newTestHandler(t, Config{Store: store})
	want := 0
	for _, r := range recs {
		if r.Trace == "t-3" && r.Tenant == "acme" {
			want++
		}
	}
	for _, q := range []string{"trace=t-3", "trace=t-3&tenant=acme"} {
		vals, _ := url.ParseQuery(q)
		vals.Set("limit", "7")
		got := walk(t, h, vals, acmeToken, 7)
		if len(got) != want || want == 0 {
			t.Fatalf("%s: served %d records, want the %d of acme in trace t-3", q, len(got), want)
		}
		for _, r := range got {
			if r.Tenant != "acme" {
				t.Fatalf("%s: served %s/%d of tenant %q", q, r.Chain, r.Seq, r.Tenant)
			}
		}
		if f := store.lastCall(); f.Tenant != "acme" || f.Trace != "t-3" {
			t.Fatalf("%s: store filter tenant %q trace %q", q, f.Tenant, f.Trace)
		}
	}
	if msg := wantError(t, get(h, "/v1/audit?trace=t-3&tenant=globex", acmeToken), http.StatusForbidden); msg == "" {
		t.Fatal("no error message")
	}
}

// TestAudit_TraceCursorBound: a cursor of one trace's pages is refused
// for another trace, and for the same query without the trace.
func TestAudit_TraceCursorBound(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(200))})
	p, _ := decodePage(t, get(h, "/v1/audit?trace=t-1&limit=3", adminToken))
	if p.NextCursor == nil {
		t.Fatal("no next cursor")
	}
	c := url.QueryEscape(*p.NextCursor)
	decodePage(t, get(h, "/v1/audit?trace=t-1&limit=3&cursor="+c, adminToken))
	for _, q := range []string{"trace=t-2&limit=3&cursor=" + c, "limit=3&cursor=" + c} {
		if msg := wantError(t, get(h, "/v1/audit?"+q, adminToken), http.StatusBadRequest); msg != "cursor: issued for different filters" {
			t.Fatalf("%s: %q", q, msg)
		}
	}
	// A cursor issued before the trace filter existed (no trace) stays
	// valid for the same query.
	p, _ = decodePage(t, get(h, "/v1/audit?tenant=acme&limit=3", adminToken))
	decodePage(t, get(h, "/v1/audit?tenant=acme&limit=3&cursor="+url.QueryEscape(*p.NextCursor), adminToken))
}

// TestReader_TraceOverSQLite: a trace's pages through Reader, over a
// real SQLite store, in order and whole.
func TestReader_TraceOverSQLite(t *testing.T) {
	s, err := sink.OpenSQLite(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := genRecords(120)
	batch := make([]record.Sealed, len(recs))
	for i, r := range recs {
		payload := record.AppendCanonical(nil, r)
		batch[i] = record.Sealed{Chain: r.Chain, Seq: r.Seq, Payload: payload, MAC: sha256.Sum256(payload)}
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	reader, err := NewReader(Config{Store: s, Tokens: testTokens()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := reader.Authenticate(acmeToken)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, r := range recs {
		if r.Trace == "t-4" && r.Tenant == "acme" {
			want++
		}
	}
	q := url.Values{"trace": {"t-4"}, "limit": {"5"}}
	var got []sink.Row
	for {
		page, err := reader.Page(context.Background(), p, q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Rows...)
		if page.Next == "" {
			break
		}
		q.Set("cursor", page.Next)
	}
	if len(got) != want || want == 0 {
		t.Fatalf("%d records of trace t-4, want %d", len(got), want)
	}
	for i, r := range got {
		if r.Trace != "t-4" || r.Tenant != "acme" || i > 0 && got[i-1].TS > r.TS {
			t.Fatalf("record %d: %s/%d trace %q tenant %q", i, r.Chain, r.Seq, r.Trace, r.Tenant)
		}
	}
	if _, err := reader.Page(context.Background(), p, "trace="); err == nil {
		t.Fatal("an empty trace was accepted")
	}
}

package query

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReader_SameScopeAndPagesAsTheAPI: a Reader's pages, followed by
// Next, are the API's for the same token and parameters, a tenant token
// is held to its tenant, and a record of another tenant is not found.
func TestReader_SameScopeAndPagesAsTheAPI(t *testing.T) {
	recs := genRecords(40)
	cfg := Config{Store: openSQLiteStore(t, recs), Tokens: testTokens()}
	r, err := NewReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := r.Handler(true)
	ctx := context.Background()

	if _, err := r.Authenticate("not-a-token"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unknown token: %v", err)
	}
	if _, err := r.Authenticate(readerToken); !errors.Is(err, ErrForbidden) {
		t.Errorf("reader role: %v", err)
	}
	acme, err := r.Authenticate(acmeToken)
	if err != nil || acme.Tenant() != "acme" || acme.Name() != "acme-auditor" {
		t.Fatalf("acme token: %v", err)
	}
	if _, err := r.Page(ctx, acme, "tenant=globex"); !errors.Is(err, ErrOutOfScope) {
		t.Errorf("another tenant: %v", err)
	}
	var perr *ParamError
	if _, err := r.Page(ctx, acme, "limit=0"); !errors.As(err, &perr) || perr.Param != "limit" {
		t.Errorf("bad limit: %v", err)
	}

	for _, token := range []string{adminToken, acmeToken} {
		p, _ := r.Authenticate(token)
		q := url.Values{"limit": {"7"}}
		var got []string
		var globex int
		for pages := 0; ; pages++ {
			page, err := r.Page(ctx, p, q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range page.Rows {
				got = append(got, row.Chain+"/"+row.TS)
				if row.Tenant == "globex" {
					globex++
				}
			}
			if page.Next == "" {
				break
			}
			q.Set("cursor", page.Next)
		}
		var want []string
		q = url.Values{"limit": {"7"}}
		for {
			body, served := decodePage(t, get(api, "/v1/audit?"+q.Encode(), token))
			for _, s := range served {
				want = append(want, s.Chain+"/"+s.TS)
			}
			if body.NextCursor == nil {
				break
			}
			q.Set("cursor", *body.NextCursor)
		}
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%s: reader %d records, API %d", p.Name(), len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: record %d: reader %s, API %s", p.Name(), i, got[i], want[i])
			}
		}
		if p.Tenant() == "acme" && globex != 0 {
			t.Errorf("the acme token read %d globex records", globex)
		}
	}

	admin, _ := r.Authenticate(adminToken)
	for _, rec := range recs[:4] {
		row, err := r.Record(ctx, admin, rec.Chain, rec.Seq, rec.TS)
		if err != nil || row.Chain != rec.Chain || row.Seq != rec.Seq {
			t.Fatalf("record %s/%d: %v", rec.Chain, rec.Seq, err)
		}
		_, err = r.Record(ctx, acme, rec.Chain, rec.Seq, rec.TS)
		if rec.Tenant == "acme" && err != nil || rec.Tenant != "acme" && !errors.Is(err, ErrNotFound) {
			t.Errorf("acme reading %s/%d of %s: %v", rec.Chain, rec.Seq, rec.Tenant, err)
		}
		if _, err := r.Record(ctx, admin, rec.Chain, rec.Seq, rec.TS.Add(time.Microsecond)); !errors.Is(err, ErrNotFound) {
			t.Errorf("record at another time: %v", err)
		}
	}
	if _, err := r.Record(ctx, admin, "chain-a", 0, recs[0].TS); !errors.Is(err, ErrNotFound) {
		t.Errorf("seq 0: %v", err)
	}
}

// TestReader_PageBytesBounded: Page holds its rows, payloads and all,
// until the caller is done with them (the console renders them after the
// query's slot is released). A page of 1000 large records (an agent may
// log records of source.max_line_bytes, 16 MiB by default) must not be
// read into memory whole: a page stops at about maxPageBytes of payloads,
// with a Next that resumes it, and following Next still gives every
// record once.
func TestReader_PageBytesBounded(t *testing.T) {
	recs := genRecords(40)
	big := `{"blob":"` + strings.Repeat("x", 512<<10) + `"}`
	for _, rec := range recs {
		rec.Arguments = []byte(big)
	}
	r, err := NewReader(Config{Store: newFakeStore(recs), Tokens: testTokens()})
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := r.Authenticate(adminToken)
	q := url.Values{"limit": {"1000"}}
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		page, err := r.Page(context.Background(), admin, q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		held := 0
		for _, row := range page.Rows {
			held += len(row.Payload)
			seen[row.Chain+"/"+strconv.FormatUint(row.Seq, 10)] = true
		}
		if held > maxPageBytes+len(big)+4096 {
			t.Fatalf("page %d holds %d payload bytes (%d records), want about %d at most", pages, held, len(page.Rows), maxPageBytes)
		}
		if page.Next == "" {
			break
		}
		q.Set("cursor", page.Next)
	}
	if len(seen) != len(recs) {
		t.Fatalf("following Next gave %d of %d records", len(seen), len(recs))
	}
}

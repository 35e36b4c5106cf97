package query

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// walk follows next_cursor from the first page of query and returns every
// record served, failing if a page is larger than limit.
func walk(t *testing.T, h http.Handler, query url.Values, token string, limit int) []served {
	t.Helper()
	var all []served
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
		rec := get(h, "/v1/audit?"+query.Encode(), token)
		p, recs := decodePage(t, rec)
		if len(recs) > limit {
			t.Fatalf("page of %d records, limit %d", len(recs), limit)
		}
		all = append(all, recs...)
		if p.NextCursor == nil {
			return all
		}
		if len(recs) != limit {
			t.Fatalf("page of %d records with a next cursor, want full pages of %d", len(recs), limit)
		}
		query.Set("cursor", *p.NextCursor)
	}
}

func checkOrderedOnce(t *testing.T, got []served) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range got {
		id := fmt.Sprintf("%s/%d", r.Chain, r.Seq)
		if seen[id] {
			t.Fatalf("record %s served twice", id)
		}
		seen[id] = true
		if i > 0 {
			p := got[i-1]
			if cmp.Or(cmp.Compare(p.TS, r.TS), cmp.Compare(p.Chain, r.Chain), cmp.Compare(p.Seq, r.Seq)) >= 0 {
				t.Fatalf("record %d (%s) not after record %d (%s/%d %s)", i, id, i-1, p.Chain, p.Seq, p.TS)
			}
		}
	}
}

func TestAudit_Paging_EveryRecordOnceInOrder(t *testing.T) {
	const n = 2500
	store := newFakeStore(genRecords(n))
	h := newTestHandler(t, Config{Store: store})
	for _, limit := range []int{1000, 500, 100, 7} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			q := url.Values{}
			if limit != DefaultLimit {
				q.Set("limit", fmt.Sprint(limit))
			}
			got := walk(t, h, q, adminToken, limit)
			if len(got) != n {
				t.Fatalf("served %d records, want %d", len(got), n)
			}
			checkOrderedOnce(t, got)
		})
	}
}

func TestAudit_Paging_OverHTTP(t *testing.T) {
	store := newFakeStore(genRecords(250))
	srv := httptest.NewServer(newTestHandler(t, Config{Store: store}))
	defer srv.Close()
	var got []served
	cursor := ""
	for {
		target := srv.URL + "/v1/audit?limit=40&tenant=acme"
		if cursor != "" {
			target += "&cursor=" + cursor
		}
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", bearer(adminToken))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rec := httptest.NewRecorder()
		rec.Code = resp.StatusCode
		rec.Body = bytes.NewBuffer(body)
		p, recs := decodePage(t, rec)
		got = append(got, recs...)
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(got) != 125 {
		t.Fatalf("served %d acme records, want 125", len(got))
	}
	checkOrderedOnce(t, got)
}

// TestAudit_Paging_FullLastPage checks next_cursor at the store's maximum
// page size, where the handler cannot ask for limit+1 rows.
func TestAudit_Paging_FullLastPage(t *testing.T) {
	for _, tt := range []struct {
		n        int
		wantNext bool
	}{{999, false}, {1000, false}, {1001, true}} {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			h := newTestHandler(t, Config{Store: newFakeStore(genRecords(tt.n))})
			p, recs := decodePage(t, get(h, "/v1/audit?limit=1000", adminToken))
			if got := p.NextCursor != nil; got != tt.wantNext || len(recs) != min(tt.n, 1000) {
				t.Fatalf("%d records, next cursor %v; want %d, %v", len(recs), got, min(tt.n, 1000), tt.wantNext)
			}
		})
	}
}

func TestAudit_ServesPayloadWithMAC(t *testing.T) {
	recs := genRecords(3)
	h := newTestHandler(t, Config{Store: newFakeStore(recs)})
	p, _ := decodePage(t, get(h, "/v1/audit", adminToken))
	row := rowOf(recs[0])
	var mac [32]byte
	copy(mac[:], row.MAC)
	if want := record.AppendJSON(nil, row.Payload, mac); !bytes.Equal(p.Records[0], want) {
		t.Fatalf("record\n%s\nwant\n%s", p.Records[0], want)
	}
}

func TestAudit_FiltersPassedThrough(t *testing.T) {
	recs := genRecords(600)
	from, to := testBase.Add(20*time.Millisecond), testBase.Add(70*time.Millisecond)
	tests := []struct {
		param, value string
		want         func(f sink.Filter) bool
	}{
		{"from", from.Format(time.RFC3339Nano), func(f sink.Filter) bool { return f.From.Equal(from) }},
		{"to", to.In(time.FixedZone("x", 3600)).Format(time.RFC3339Nano), func(f sink.Filter) bool { return f.To.Equal(to) }},
		{"tenant", "globex", func(f sink.Filter) bool { return f.Tenant == "globex" }},
		{"user", "u-3", func(f sink.Filter) bool { return f.User == "u-3" }},
		{"action", record.ActionModelCall, func(f sink.Filter) bool { return f.Action == record.ActionModelCall }},
		{"tool", "mail.send", func(f sink.Filter) bool { return f.Tool == "mail.send" }},
		{"outcome", "denied", func(f sink.Filter) bool { return f.Outcome == "denied" }},
		{"model", "llama-4", func(f sink.Filter) bool { return f.Model == "llama-4" }},
		{"session", "s-4", func(f sink.Filter) bool { return f.Session == "s-4" }},
		{"chain", "chain-b", func(f sink.Filter) bool { return f.Chain == "chain-b" }},
		{"call_id", "c-3", func(f sink.Filter) bool { return f.CallID == "c-3" }},
		{"trace", "t-2", func(f sink.Filter) bool { return f.Trace == "t-2" }},
	}
	for _, tt := range tests {
		t.Run(tt.param, func(t *testing.T) {
			store := newFakeStore(recs)
			h := newTestHandler(t, Config{Store: store})
			q := url.Values{tt.param: {tt.value}, "limit": {"50"}}
			got := walk(t, h, q, adminToken, 50)
			f := store.lastCall()
			if !tt.want(f) {
				t.Fatalf("store got filter %+v", f)
			}
			// Exactly one field set: check against a filter with only it.
			single := f
			single.After, single.Limit = nil, 0
			var want int
			for i := range store.rows {
				if matchRow(&store.rows[i], &single) {
					want++
				}
			}
			if want == 0 || want == len(recs) || len(got) != want {
				t.Fatalf("served %d records, want %d of %d", len(got), want, len(recs))
			}
			checkOrderedOnce(t, got)
		})
	}
}

func TestAudit_FiltersCombineAndLimit(t *testing.T) {
	store := newFakeStore(genRecords(100))
	h := newTestHandler(t, Config{Store: store})
	rec := get(h, "/v1/audit?tenant=acme&user=u-2&limit=3&from=2026-11-26T10:00:00Z&to=2026-11-26T11:00:00Z", adminToken)
	decodePage(t, rec)
	f := store.lastCall()
	want := sink.Filter{Tenant: "acme", User: "u-2", Limit: 4, From: testBase, To: testBase.Add(time.Hour)}
	if f.Tenant != want.Tenant || f.User != want.User || f.Limit != want.Limit || !f.From.Equal(want.From) ||
		!f.To.Equal(want.To) || f.After != nil || f.Action != "" || f.Chain != "" {
		t.Fatalf("filter %+v, want %+v", f, want)
	}
	get(h, "/v1/audit", adminToken)
	if f := store.lastCall(); f.Limit != DefaultLimit+1 {
		t.Fatalf("default limit: store asked for %d", f.Limit)
	}
}

func TestAudit_TenantToken(t *testing.T) {
	store := newFakeStore(genRecords(300))
	h := newTestHandler(t, Config{Store: store})
	for _, q := range []string{"", "tenant=acme"} {
		t.Run(q, func(t *testing.T) {
			vals, _ := url.ParseQuery(q)
			vals.Set("limit", "40")
			got := walk(t, h, vals, acmeToken, 40)
			if len(got) != 150 {
				t.Fatalf("served %d records, want the 150 of acme", len(got))
			}
			for _, r := range got {
				if r.Tenant != "acme" {
					t.Fatalf("tenant token saw %s/%d of tenant %q", r.Chain, r.Seq, r.Tenant)
				}
			}
			if f := store.lastCall(); f.Tenant != "acme" {
				t.Fatalf("store filter tenant %q", f.Tenant)
			}
		})
	}
}

func TestAudit_BadRequest(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(10))})
	tests := []struct {
		name, query, wantPrefix string
	}{
		{"bad from", "from=yesterday", "from: "},
		{"date only", "from=2026-11-26", "from: "},
		{"bad to", "to=2026-11-26T25:00:00Z", "to: "},
		{"limit 5000", "limit=5000", "limit: "},
		{"limit 0", "limit=0", "limit: "},
		{"limit negative", "limit=-1", "limit: "},
		{"limit not a number", "limit=ten", "limit: "},
		{"unknown action", "action=delete_everything", "action: "},
		{"unknown outcome", "outcome=maybe", "outcome: "},
		{"unknown param", "usr=u-1", "usr: unknown parameter"},
		{"unknown param with filters", "tenant=acme&tennant=globex", "tennant: unknown parameter"},
		{"repeated param", "user=u-1&user=u-2", "user: repeated parameter"},
		{"repeated limit", "limit=10&limit=10", "limit: repeated parameter"},
		{"empty value", "user=", "user: must not be empty"},
		{"empty trace", "trace=", "trace: must not be empty"},
		{"repeated trace", "trace=t-1&trace=t-2", "trace: repeated parameter"},
		{"bad cursor", "cursor=not-a-cursor!", "cursor: malformed"},
		{"cursor not json", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte("hello")), "cursor: malformed"},
		{"cursor empty json", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte("{}")), "cursor: malformed"},
		{"cursor extra key", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte(
			`{"v":1,"ts":"2026-11-26T10:00:00Z","chain":"c","seq":1,"f":"00000000000000000000000000000000","x":1}`)), "cursor: malformed"},
		{"cursor padded", "cursor=" + base64.URLEncoding.EncodeToString([]byte(`{"v":1}`)), "cursor: malformed"},
		{"cursor forged binding", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte(
			`{"v":1,"ts":"2026-11-26T10:00:00Z","chain":"c","seq":1,"f":"00000000000000000000000000000000"}`)), "cursor: issued for different filters"},
		{"from equals to", "from=2026-11-26T10:00:00Z&to=2026-11-26T10:00:00Z", "from: must be before to"},
		{"from after to", "from=2026-11-26T11:00:00Z&to=2026-11-26T10:00:00Z", "from: must be before to"},
		{"from after to across zones", "from=2026-11-26T10:30:00Z&to=2026-11-26T11:00:00%2B01:00", "from: must be before to"},
		{"malformed query", "user=%zz", "query: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := wantError(t, get(h, "/v1/audit?"+tt.query, adminToken), http.StatusBadRequest)
			if !strings.HasPrefix(msg, tt.wantPrefix) {
				t.Fatalf("error %q, want prefix %q", msg, tt.wantPrefix)
			}
		})
	}
}

func TestAudit_BadRequestNeedsAuth(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(nil)})
	wantError(t, get(h, "/v1/audit?limit=5000", ""), http.StatusUnauthorized)
}

func TestAudit_CursorBoundToFilters(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(100))})
	p, _ := decodePage(t, get(h, "/v1/audit?action=tool_call&limit=5", adminToken))
	if p.NextCursor == nil {
		t.Fatal("no next cursor")
	}
	c := url.QueryEscape(*p.NextCursor)
	tests := []struct {
		name, query, token string
		wantStatus         int
	}{
		{"same filters", "action=tool_call&limit=5&cursor=" + c, adminToken, http.StatusOK},
		{"other page size", "action=tool_call&limit=50&cursor=" + c, adminToken, http.StatusOK},
		{"other action", "action=model_call&limit=5&cursor=" + c, adminToken, http.StatusBadRequest},
		{"filter dropped", "limit=5&cursor=" + c, adminToken, http.StatusBadRequest},
		{"filter added", "action=tool_call&user=u-1&limit=5&cursor=" + c, adminToken, http.StatusBadRequest},
		{"trace added", "action=tool_call&trace=t-1&limit=5&cursor=" + c, adminToken, http.StatusBadRequest},
		{"time range added", "action=tool_call&from=2026-01-01T00:00:00Z&cursor=" + c, adminToken, http.StatusBadRequest},
		{"tenant token narrows scope", "action=tool_call&limit=5&cursor=" + c, acmeToken, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(h, "/v1/audit?"+tt.query, tt.token)
			if tt.wantStatus == http.StatusOK {
				decodePage(t, rec)
				return
			}
			if msg := wantError(t, rec, tt.wantStatus); msg != "cursor: issued for different filters" {
				t.Fatalf("error %q", msg)
			}
		})
	}
}

func TestAudit_EmptyResult(t *testing.T) {
	h := newTestHandler(t, Config{Store: newFakeStore(genRecords(10))})
	rec := get(h, "/v1/audit?user=nobody", adminToken)
	if got := strings.TrimSpace(rec.Body.String()); got != `{"records":[],"next_cursor":null}` {
		t.Fatalf("body %s", got)
	}
	if !json.Valid(rec.Body.Bytes()) || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", rec.Header())
	}
}

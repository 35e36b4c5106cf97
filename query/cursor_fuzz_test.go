package query

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzHandler_Cursor sends every input as a cursor, base64url-encoded (so
// that the decoder's JSON is reached) and as it is, to a handler over a
// real SQLite store and over the fake (which refuses what the PostgreSQL
// query builder refuses), with an admin token and a tenant-scoped one. A
// cursor is a 200 page or a 400 naming the cursor: never a 500, whatever
// its position (seq past int64, times outside the years 0001..9999, huge
// numbers, odd chains). The seed corpus (testdata/fuzz/FuzzHandler_Cursor)
// holds cursors with the right filter binding for both tokens, so that
// mutations of their position reach the store.
func FuzzHandler_Cursor(f *testing.F) {
	recs := genRecords(60)
	handlers := []http.Handler{
		newTestHandler(f, Config{Store: newFakeStore(recs)}),
		newTestHandler(f, Config{Store: openSQLiteStore(f, recs)}),
	}
	f.Add([]byte(`not-a-cursor!`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		values := []string{base64.RawURLEncoding.EncodeToString(data)}
		if len(data) > 0 {
			values = append(values, string(data))
		}
		for _, h := range handlers {
			for _, token := range []string{adminToken, acmeToken} {
				for _, v := range values {
					rec := get(h, "/v1/audit?limit=3&"+url.Values{"cursor": {v}}.Encode(), token)
					switch rec.Code {
					case http.StatusOK:
						var p pageBody
						if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Records == nil {
							t.Fatalf("cursor %q: 200 with a body that is not a page: %q", v, rec.Body)
						}
					case http.StatusBadRequest:
						var e struct{ Error string }
						if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.HasPrefix(e.Error, "cursor: ") {
							t.Fatalf("cursor %q: 400 %q, want a cursor error", v, rec.Body)
						}
					default:
						t.Fatalf("cursor %q (from %q): status %d, body %q", v, data, rec.Code, rec.Body)
					}
				}
			}
		}
	})
}

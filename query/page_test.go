package query

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// referencePage is the 200 body as it was built in memory before pages
// were streamed: the format clients depend on, byte for byte.
func referencePage(rows []sink.Row, more bool, f *sink.Filter) []byte {
	dst := []byte(`{"records":[`)
	for i := range rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = record.AppendJSON(dst, rows[i].Payload, [32]byte(rows[i].MAC))
	}
	dst = append(dst, `],"next_cursor":`...)
	if more && len(rows) > 0 {
		c, err := encodeCursor(&rows[len(rows)-1], f)
		if err != nil {
			panic(err)
		}
		dst = append(dst, '"')
		dst = append(dst, c...)
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, "}\n"...)
}

// TestAudit_PageBytes compares streamed pages, small and larger than the
// write buffer, the last page, a full page at the maximum limit and an
// empty one, with the reference body.
func TestAudit_PageBytes(t *testing.T) {
	store := newFakeStore(genRecords(2100))
	h := newTestHandler(t, Config{Store: store})
	tests := []struct {
		query string
		f     sink.Filter
		n     int
		more  bool
	}{
		{"limit=1", sink.Filter{}, 1, true},
		{"limit=100", sink.Filter{}, 100, true},
		{"limit=1000", sink.Filter{}, 1000, true},
		{"limit=1000&tenant=acme", sink.Filter{Tenant: "acme"}, 1000, true},
		{"limit=1000&tenant=globex", sink.Filter{Tenant: "globex"}, 1000, true},
		{"limit=1000&chain=chain-b", sink.Filter{Chain: "chain-b"}, 700, false},
		{"limit=700&chain=chain-b", sink.Filter{Chain: "chain-b"}, 700, false},
		{"limit=699&chain=chain-b", sink.Filter{Chain: "chain-b"}, 699, true},
		{"user=nobody", sink.Filter{User: "nobody"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var rows []sink.Row
			for i := range store.rows {
				if matchRow(&store.rows[i], &tt.f) {
					rows = append(rows, store.rows[i])
				}
			}
			rows = rows[:tt.n]
			rec := get(h, "/v1/audit?"+tt.query, adminToken)
			if want := referencePage(rows, tt.more, &tt.f); !bytes.Equal(rec.Body.Bytes(), want) {
				t.Fatalf("body of %d bytes differs from the reference of %d bytes (%s)", rec.Body.Len(), len(want), firstDiff(rec.Body.Bytes(), want))
			}
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
			}
		})
	}
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: %q vs %q", i, a[max(0, i-20):min(len(a), i+20)], b[max(0, i-20):min(len(b), i+20)])
		}
	}
	return "one is a prefix of the other"
}

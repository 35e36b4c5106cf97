package query

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// TestReader_Overview: the counts of a window over a real SQLite store;
// a tenant token's are its tenant's alone; a bad window is a
// *ParamError; a store that cannot count is ErrNoOverview.
func TestReader_Overview(t *testing.T) {
	s, err := sink.OpenSQLite(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := genRecords(100)
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
	admin, _ := reader.Authenticate(adminToken)
	acme, _ := reader.Authenticate(acmeToken)
	w := Window{From: testBase.Add(-time.Hour), To: testBase.Add(time.Hour), Max: 1000}
	for _, tt := range []struct {
		p    *Principal
		want int64
	}{{admin, 100}, {acme, 50}} {
		_, c, err := reader.CountByHour(context.Background(), tt.p, w)
		if err != nil || c.N != tt.want {
			t.Fatalf("%s: counted %d (%v), want %d", tt.p.Name(), c.N, err, tt.want)
		}
	}
	if _, c, err := reader.CountRedactions(context.Background(), acme, w); err != nil || c.N != 50 {
		t.Fatalf("redactions of acme: counted %d (%v), want 50", c.N, err)
	}
	for _, bad := range []Window{
		{From: w.To, To: w.From, Max: 10},
		{From: time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), To: w.To, Max: 10},
		{From: w.From, To: w.To, Max: 0},
		{From: w.From, To: w.To, Max: sink.MaxOverviewRecords + 1},
	} {
		if _, _, err := reader.CountByHour(context.Background(), admin, bad); !errors.As(err, new(*ParamError)) {
			t.Errorf("window %+v: %v, want a *ParamError", bad, err)
		}
	}
	fake, err := NewReader(Config{Store: newFakeStore(recs), Tokens: testTokens()})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := fake.Authenticate(adminToken)
	if _, _, err := fake.CountByHour(context.Background(), p, w); !errors.Is(err, ErrNoOverview) {
		t.Fatalf("a store that cannot count: %v", err)
	}
}

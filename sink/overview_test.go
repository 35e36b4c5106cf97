package sink

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// overviewStore is what the overview tests read.
type overviewStore interface {
	store
	CountByHour(ctx context.Context, f OverviewFilter) ([]HourCount, Counted, error)
	CountRedactions(ctx context.Context, f OverviewFilter) (map[string]int64, Counted, error)
}

// overviewFixture is 30 records, one every 10 minutes from baseTS, of
// tenants acme and globex; every third is an approval_denied, the others
// tool calls; each has an EMAIL redaction, every second a CARD one too
// (newRecord's manifest has both), and one is a version 1 record.
func overviewFixture() []*record.Record {
	var recs []*record.Record
	for i := range 30 {
		r := newRecord("c1", uint64(i+1), baseTS.Add(time.Duration(i)*10*time.Minute))
		r.Tenant = []string{"acme", "globex"}[i%2]
		if i%3 == 0 {
			r.Action = record.ActionApprovalDenied
		}
		if i%2 == 1 {
			r.Manifest.Rules = r.Manifest.Rules[1:] // EMAIL only
		}
		if i == 29 {
			r.V, r.Manifest, r.Redactions = 1, nil, map[string]int{"PHONE": 3}
		}
		recs = append(recs, r)
	}
	return recs
}

func TestOverview_Counts(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) store) {
		s := open(t).(overviewStore)
		recs := overviewFixture()
		writeOK(t, s, sealAll(recs))
		ctx := context.Background()
		all := OverviewFilter{From: baseTS.Add(-time.Hour), To: baseTS.Add(24 * time.Hour), Max: 1000}
		hours, c, err := s.CountByHour(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, h := range hours {
			got[h.Hour+" "+h.Action] = h.N
		}
		want := map[string]int64{}
		for _, r := range recs {
			want[record.FormatTime(r.TS)[:13]+" "+r.Action]++
		}
		if !maps.Equal(got, want) || c.N != 30 || c.Oldest != record.FormatTime(recs[0].TS) {
			t.Fatalf("by hour %v (%+v), want %v", got, c, want)
		}
		// The newest 7 only, of acme only.
		cut := all
		cut.Max, cut.Tenant = 7, "acme"
		hours, c, err = s.CountByHour(ctx, cut)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, h := range hours {
			n += h.N
		}
		if n != 7 || c.N != 7 || c.Oldest != record.FormatTime(recs[28-12].TS) {
			t.Fatalf("the newest 7 of acme: %d counted, %+v; want 7, oldest %s", n, c, record.FormatTime(recs[16].TS))
		}
		red, c, err := s.CountRedactions(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int64{"EMAIL": 29, "CARD": 15, "PHONE": 3}; !maps.Equal(red, want) || c.N != 30 {
			t.Fatalf("redactions %v (%+v), want %v", red, c, want)
		}
		red, c, err = s.CountRedactions(ctx, cut)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int64{"EMAIL": 7, "CARD": 7}; !maps.Equal(red, want) || c.N != 7 {
			t.Fatalf("redactions of the newest 7 of acme: %v (%+v), want %v", red, c, want)
		}
		// A window without records.
		empty := OverviewFilter{From: baseTS.Add(48 * time.Hour), To: baseTS.Add(72 * time.Hour), Max: 10}
		if hours, c, err := s.CountByHour(ctx, empty); err != nil || len(hours) != 0 || c.N != 0 {
			t.Fatalf("an empty window: %v %+v %v", hours, c, err)
		}
		if red, c, err := s.CountRedactions(ctx, empty); err != nil || len(red) != 0 || c.N != 0 || c.Oldest != "" {
			t.Fatalf("an empty window: %v %+v %v", red, c, err)
		}
		for _, bad := range []OverviewFilter{
			{From: baseTS, To: baseTS, Max: 10},
			{To: baseTS, Max: 10},
			{From: baseTS, To: baseTS.Add(time.Hour)},
			{From: baseTS, To: baseTS.Add(time.Hour), Max: MaxOverviewRecords + 1},
		} {
			if _, _, err := s.CountByHour(ctx, bad); !errors.Is(err, ErrInvalidFilter) {
				t.Errorf("CountByHour(%+v): %v, want ErrInvalidFilter", bad, err)
			}
		}
	})
}

// TestSQLite_OverviewPlans: each figure walks the time index (or the
// tenant's) backwards and sorts nothing but its groups.
func TestSQLite_OverviewPlans(t *testing.T) {
	s, _ := openTestSQLite(t)
	writeOK(t, s, sealAll(overviewFixture()))
	for _, tenant := range []string{"", "acme"} {
		f := OverviewFilter{From: baseTS, To: baseTS.Add(time.Hour), Tenant: tenant, Max: 100}
		for name, build := range map[string]func(*OverviewFilter, dialect) (string, []any, error){"hours": hoursSQL, "redactions": redactionsSQL} {
			q, args, err := build(&f, sqliteDialect)
			if err != nil {
				t.Fatal(err)
			}
			p := queryPlan(t, s.db, q, args)
			t.Logf("%s tenant=%q: %s", name, tenant, p)
			wantIndex := "INDEX audit_records_ts"
			if tenant != "" {
				wantIndex = "INDEX audit_records_tenant"
			}
			if !strings.Contains(p, wantIndex) || strings.Contains(p, "SCAN audit_records") || strings.Contains(p, "TEMP B-TREE FOR ORDER BY") {
				t.Errorf("%s tenant=%q: plan %q does not walk %s", name, tenant, p, wantIndex)
			}
		}
	}
}

// TestSQLite_OverviewHostilePayload: a stored payload that is not JSON
// (written past the sidecar, by whoever can write the file) counts for
// no redaction and does not stop the figure.
func TestSQLite_OverviewHostilePayload(t *testing.T) {
	// Not openTestSQLite: its clean-up check would refuse these rows.
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := OpenSQLite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	writeOK(t, s, sealAll(overviewFixture()[:3]))
	db := rawDB(t, path)
	for i, payload := range []string{`not json {`, `{"v":2,"redactions":{"rules":[{"type":"<script>","count":"9"}]}}`, `{"v":1,"redactions":{"X":"many"}}`} {
		if _, err := db.Exec(`INSERT INTO audit_records (chain, seq, ts, ingested_at, action, kid, prev, mac, payload) VALUES ('evil', ?, ?, ?, 'tool_call', 'k', zeroblob(32), zeroblob(32), ?)`,
			i+1, record.FormatTime(baseTS.Add(time.Duration(i)*time.Second)), record.FormatTime(baseTS), []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	red, c, err := s.CountRedactions(context.Background(), OverviewFilter{From: baseTS, To: baseTS.Add(24 * time.Hour), Max: 100})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(red) != "map[CARD:2 EMAIL:3]" || c.N != 6 {
		t.Fatalf("redactions %v (%+v), want the 3 real records' only", red, c)
	}
}

// BenchmarkSQLite_Overview measures the overview's two statements over a
// window of n records, at five times the console's caps (50 000 counted
// by hour, 5 000 read for their redactions). Run with -benchtime=3x; the
// store is filled once.
func BenchmarkSQLite_Overview(b *testing.B) {
	const n = 250_000
	s, _ := openTestSQLite(b)
	ctx := context.Background()
	for lo := 0; lo < n; lo += 5000 {
		var recs []*record.Record
		for i := lo; i < lo+5000; i++ {
			recs = append(recs, newRecord("c1", uint64(i+1), baseTS.Add(time.Duration(i)*300*time.Millisecond)))
		}
		writeOK(b, s, sealAll(recs))
	}
	f := OverviewFilter{From: baseTS, To: baseTS.Add(24 * time.Hour)}
	b.Run("hours_250k", func(b *testing.B) {
		f.Max = 250_000
		for b.Loop() {
			if _, c, err := s.CountByHour(ctx, f); err != nil || c.N != n {
				b.Fatal(c.N, err)
			}
		}
	})
	b.Run("redactions_50k", func(b *testing.B) {
		f.Max = 50_000
		for b.Loop() {
			if _, c, err := s.CountRedactions(ctx, f); err != nil || c.N != 50_000 {
				b.Fatal(c.N, err)
			}
		}
	})
}

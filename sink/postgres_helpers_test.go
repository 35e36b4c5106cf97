package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fips-agents/audit-sidecar/record"
)

// pgDSN returns the test server's DSN from AUDIT_TEST_PG_DSN. Without it
// the test is skipped, or fails when AUDIT_TEST_REQUIRE_PG=1 (as in CI),
// so a CI run cannot pass with the PostgreSQL tests skipped.
func pgDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("AUDIT_TEST_PG_DSN")
	if dsn == "" {
		if os.Getenv("AUDIT_TEST_REQUIRE_PG") == "1" {
			t.Fatal("AUDIT_TEST_PG_DSN is not set and AUDIT_TEST_REQUIRE_PG=1")
		}
		t.Skip("AUDIT_TEST_PG_DSN not set")
	}
	return dsn
}

// pgTestSchema creates a fresh schema on the test server, dropped when the
// test ends, and returns a DSN whose search_path is that schema, so every
// test has its own tables.
func pgTestSchema(t testing.TB) string {
	t.Helper()
	base := pgDSN(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin := pgAdmin(t, base)
	if _, err := admin.Exec(context.Background(), `CREATE SCHEMA `+quoteIdent(schema)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := pgAdmin(t, base)
		if _, err := c.Exec(context.Background(), `DROP SCHEMA `+quoteIdent(schema)+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return withSearchPath(t, base, schema)
}

// withSearchPath returns dsn with search_path set to schema.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal("AUDIT_TEST_PG_DSN must be a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// pgAdmin connects to dsn for test setup and inspection; closed at the end
// of the test.
func pgAdmin(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect test server: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// testClock is the sink's clock in the tests: fixed at baseTS, so the
// partitions created at open are those of the test records' months
// whatever the day the test runs (a test that took the wall clock for
// the partitions and fixed dates for the records broke on 2026-12-01).
func testClock() time.Time { return baseTS }

// partitionOf names the monthly partition of the rows ingested at t.
func partitionOf(t time.Time) string { return "audit_records_" + t.UTC().Format("2006_01") }

// openTestPostgres opens the sink on a fresh schema, its clock at baseTS;
// closed when the test ends, after checking that every stored row's
// columns equal its payload.
func openTestPostgres(t testing.TB) *Postgres {
	t.Helper()
	dsn := pgTestSchema(t)
	p, err := OpenPostgres(context.Background(), dsn, PostgresOptions{Now: testClock})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		checkPostgresRows(t, p)
		p.Close()
	})
	return p
}

func checkPostgresRows(t testing.TB, p *Postgres) {
	t.Helper()
	rows, _, err := p.queryRows(context.Background(), chunkSize{rows: math.MaxInt, bytes: math.MaxInt}, `SELECT `+rowColumns+` FROM audit_records`)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range rows {
		var mac [32]byte
		copy(mac[:], got.MAC)
		want, err := rowOf(&record.Sealed{Chain: got.Chain, Seq: got.Seq, Payload: got.Payload, MAC: mac})
		if err != nil {
			t.Errorf("stored chain %q seq %d: %v", got.Chain, got.Seq, err)
			continue
		}
		if d := diffRow(got, want); d != "" {
			t.Errorf("stored chain %q seq %d: columns differ from payload: %s", got.Chain, got.Seq, d)
		}
	}
}

// quoteIdent quotes s as a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

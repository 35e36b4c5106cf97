package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/sink"
)

// pgStore writes sc's records 1..through into a PostgreSQL sink on a fresh
// schema of the server at AUDIT_TEST_PG_DSN (the test is skipped without
// it, and fails with AUDIT_TEST_REQUIRE_PG=1), and returns the sink and an
// admin connection to the schema.
func pgStore(t *testing.T, sc *signedChain, through int) (*sink.Postgres, *pgx.Conn) {
	t.Helper()
	base := os.Getenv("AUDIT_TEST_PG_DSN")
	if base == "" {
		if os.Getenv("AUDIT_TEST_REQUIRE_PG") == "1" {
			t.Fatal("AUDIT_TEST_PG_DSN is not set and AUDIT_TEST_REQUIRE_PG=1")
		}
		t.Skip("AUDIT_TEST_PG_DSN not set")
	}
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect test server: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close(context.Background())
	})
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SET search_path TO `+schema); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal("AUDIT_TEST_PG_DSN must be a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	// The records' month, whatever the day the test runs.
	at := func() time.Time { return time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) }
	pg, err := sink.OpenPostgres(ctx, u.String(), sink.PostgresOptions{Now: at, RequireServer: true})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { pg.Close() })
	if err := pg.Write(ctx, sc.sealed[:through]); err != nil {
		t.Fatal(err)
	}
	return pg, admin
}

// A PostgreSQL store emptied by someone who can lift its guards (a
// superuser: triggers off, then DELETE or TRUNCATE) is never
// valid: invalid against a witnessed checkpoint, unverifiable when only
// the config names the chain. Cut short of its witness it is a
// truncation.
func TestRun_Postgres_EmptiedOrCut(t *testing.T) {
	sc := newSignedChain(t, 45, "search", nil)
	keys := chain.Keyring{sc.key.ID: sc.key}
	cases := []struct {
		name    string
		sql     string
		opts    Options
		verdict string
		want    string
	}{
		{"deleted, witnessed", `DELETE FROM audit_records`, Options{Keys: keys, Trusted: sc.trusted, Witnessed: sc.witness(t, 40), Expect: []string{witnessChain}},
			Invalid, "the store holds no record of this chain, but a witnessed checkpoint"},
		{"truncated, only the config names the chain", `TRUNCATE audit_records`, Options{Keys: keys, Trusted: sc.trusted, Expect: []string{witnessChain}},
			Unverifiable, "names this chain, but the store holds no record of it"},
		{"newest records cut", `DELETE FROM audit_records WHERE seq > 35`, Options{Keys: keys, Trusted: sc.trusted, Witnessed: sc.witness(t, 40), Expect: []string{witnessChain}},
			Invalid, "truncation or rollback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pg, admin := pgStore(t, sc, 45)
			// As the server's superuser: triggers off for the session.
			for _, q := range []string{`SET session_replication_role = replica`, tc.sql} {
				if _, err := admin.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			rep, err := Run(ctx, pg, tc.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := problemsText(rep)
			if rep.Verdict != tc.verdict || rep.Scope != ScopeStore || !strings.Contains(got, tc.want) {
				t.Fatalf("verdict %s scope %s, want %s with %q; chains %+v\n%s", rep.Verdict, rep.Scope, tc.verdict, tc.want, rep.Chains, got)
			}
		})
	}
}

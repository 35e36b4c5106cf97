package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fips-agents/audit-sidecar/record"
)

func TestPostgres_MigrationsTwiceAndConcurrently(t *testing.T) {
	dsn := pgTestSchema(t)
	ctx := context.Background()
	// Eight sidecars start at once on an empty schema.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := OpenPostgres(ctx, dsn, PostgresOptions{})
			if err == nil {
				p.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	// And again, one at a time.
	for range 2 {
		p, err := OpenPostgres(ctx, dsn, PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	c := pgAdmin(t, dsn)
	var n, v int
	if err := c.QueryRow(ctx, `SELECT count(*), max(version) FROM audit_schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != pgSchemaVersion || v != pgSchemaVersion {
		t.Errorf("audit_schema_migrations has %d rows up to version %d, want %d", n, v, pgSchemaVersion)
	}
}

func TestPostgres_RefusesNewerSchema(t *testing.T) {
	dsn := pgTestSchema(t)
	p, err := OpenPostgres(context.Background(), dsn, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	c := pgAdmin(t, dsn)
	if _, err := c.Exec(context.Background(), `INSERT INTO audit_schema_migrations (version) VALUES ($1)`, pgSchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPostgres(context.Background(), dsn, PostgresOptions{}); !errors.Is(err, ErrSchemaVersion) {
		t.Errorf("err = %v, want ErrSchemaVersion", err)
	}
}

// Even the table owner (here a superuser) is stopped by the triggers.
func TestPostgres_AppendOnlyForTheOwner(t *testing.T) {
	p := openTestPostgres(t)
	writeOK(t, p, sealAll(chainRecords("c1", 1, 5)))
	writeOK(t, p, sealAll([]*record.Record{withIngested(newRecord("c1", 6, baseTS), "2031-01-01T00:00:00.000000000Z")}))
	c := pgAdmin(t, pgDSNOf(t, p))
	// The partition of seq 1..5: an UPDATE of a partition without rows
	// fires no row trigger and would pass for the wrong reason.
	part := partitionOf(baseTS)
	var inPart int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM `+part).Scan(&inPart); err != nil || inPart != 5 {
		t.Fatalf("%s holds %d rows (%v), want 5", part, inPart, err)
	}
	for _, stmt := range []string{
		`UPDATE audit_records SET outcome = 'failure' WHERE seq = 2`,
		`DELETE FROM audit_records WHERE seq = 3`,
		`TRUNCATE audit_records`,
		`TRUNCATE ` + part,
		`TRUNCATE audit_records_default`,
		`UPDATE ` + part + ` SET outcome = 'failure'`,
		`DELETE FROM audit_records_default`,
		`INSERT INTO audit_records SELECT * FROM audit_records WHERE seq = 1 ON CONFLICT (chain, seq, ingested_at) DO UPDATE SET outcome = 'x'`,
		`TRUNCATE audit_quarantine`,
	} {
		_, err := c.Exec(context.Background(), stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only", stmt, err)
		}
	}
	if n := countStored(t, p); n != 6 {
		t.Errorf("stored %d, want 6", n)
	}
	if !slices.Equal(p.Posture.CanAlter, []string{"superuser", "owner", "UPDATE", "DELETE", "TRUNCATE"}) {
		t.Errorf("posture of the superuser owner = %v", p.Posture.CanAlter)
	}
}

// The writer role of docs/postgres.md can insert and read, and can neither
// alter rows nor remove the triggers that stop it.
func TestPostgres_WriterRoleCannotAlterRows(t *testing.T) {
	ownerDSN := pgTestSchema(t)
	owner, err := OpenPostgres(context.Background(), ownerDSN, PostgresOptions{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	owner.Close()
	ctx := context.Background()
	schema := searchPathOf(t, ownerDSN)
	role := "audit_writer_" + schema
	admin := pgAdmin(t, ownerDSN)
	for _, stmt := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + role,
		`GRANT SELECT, INSERT ON audit_records, audit_quarantine TO ` + role,
		`GRANT SELECT ON audit_schema_migrations TO ` + role,
		`GRANT EXECUTE ON FUNCTION audit_ensure_partitions(date, int) TO ` + role,
		`GRANT EXECUTE ON FUNCTION audit_drop_purged_partitions(text) TO ` + role,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		c := pgAdmin(t, ownerDSN)
		c.Exec(ctx, `DROP OWNED BY `+role)
		c.Exec(ctx, `DROP ROLE `+role)
	})
	writerDSN := withUser(t, ownerDSN, role)

	// The writer's clock is four months past the owner's (baseTS).
	later := baseTS.AddDate(0, 4, 0)
	w, err := OpenPostgres(ctx, writerDSN, PostgresOptions{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if len(w.Posture.CanAlter) != 0 || !w.Posture.CanCreatePartitions || !w.Posture.CanPurge || w.Posture.Role != role {
		t.Errorf("writer posture = %+v", w.Posture)
	}
	writeOK(t, w, sealAll(chainRecords("c1", 1, 20)))
	writeOK(t, w, sealAll(chainRecords("c1", 5, 25))) // a replay overlaps
	if n := countStored(t, w); n != 25 {
		t.Errorf("stored %d, want 25", n)
	}
	// The writer created partitions months ahead through the function.
	far := partitionOf(later.AddDate(0, pgPartitionsAhead-1, 0))
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, far).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		t.Errorf("partition %s was not created by the writer", far)
	}

	wc := pgAdmin(t, writerDSN)
	part := partitionOf(baseTS) // created by the owner, holding the records
	for _, stmt := range []string{
		`UPDATE audit_records SET outcome = 'failure'`,
		`DELETE FROM audit_records`,
		`TRUNCATE audit_records`,
		`UPDATE ` + part + ` SET outcome = 'failure'`,
		`DELETE FROM ` + part,
		`DROP TRIGGER audit_records_append_only ON audit_records`,
		`ALTER TABLE audit_records DISABLE TRIGGER USER`,
		`ALTER TABLE ` + part + ` DISABLE TRIGGER ALL`,
		`ALTER TABLE audit_records DETACH PARTITION ` + part,
		`DROP TABLE ` + part,
		`DROP FUNCTION audit_reject_change() CASCADE`,
		`CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$`,
		`SET session_replication_role = replica`,
		`CREATE OR REPLACE FUNCTION audit_drop_purged_partitions(before text) RETURNS SETOF text LANGUAGE sql AS $$ SELECT ''::text $$`,
		`DELETE FROM audit_quarantine`,
	} {
		_, err := wc.Exec(ctx, stmt)
		if err == nil {
			t.Errorf("writer role ran %q", stmt)
			continue
		}
		if m := err.Error(); !strings.Contains(m, "permission denied") && !strings.Contains(m, "must be owner") {
			t.Errorf("%s: err = %v, want a privilege error", stmt, err)
		}
	}
	if n := countStored(t, w); n != 25 {
		t.Errorf("stored %d after the attempts, want 25", n)
	}
}

func TestPostgres_ForkWithOtherIngestedAtIsAConflict(t *testing.T) {
	p := openTestPostgres(t)
	stored := chainRecords("c1", 1, 5)
	writeOK(t, p, sealAll(stored))
	fork := *stored[2]
	fork.Outcome = "failure"
	fork.IngestedAt = fork.IngestedAt.Add(time.Second)
	err := p.Write(context.Background(), sealAll([]*record.Record{&fork}))
	var re *RecordError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &re) || re.Seq != 3 {
		t.Fatalf("err = %v, want ErrConflict at seq 3", err)
	}
	if n := countStored(t, p); n != 5 {
		t.Errorf("stored %d, want 5", n)
	}
}

// Records the server rejects for good go to audit_quarantine, whole, in the
// same transaction; the rest of the batch is stored; Scan returns both in
// seq order, so verification still sees every record.
func TestPostgres_PoisonRecordsAreQuarantined(t *testing.T) {
	var got []string
	dsn := pgTestSchema(t)
	p, err := OpenPostgres(context.Background(), dsn, PostgresOptions{
		OnQuarantine: func(c string, seq uint64, reason string) { got = append(got, fmt.Sprintf("%s/%d %s", c, seq, reason)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	recs := chainRecords("c1", 1, 10)
	recs[3].User = "nul\x00inside"
	big := make([]byte, 8000)
	rand.Read(big)
	recs[6].Tenant = hex.EncodeToString(big) // an index entry over the btree limit
	batch := sealAll(recs)
	writeOK(t, p, batch)
	writeOK(t, p, batch) // a replay quarantines nothing twice
	if len(got) != 2 || !strings.HasPrefix(got[0], "c1/4 22") || !strings.HasPrefix(got[1], "c1/7 54") {
		t.Fatalf("quarantined %q, want c1/4 (22xxx) and c1/7 (54xxx), once each", got)
	}
	for _, q := range got {
		if strings.Contains(q, "nul") || strings.Contains(q, recs[6].Tenant[:40]) {
			t.Errorf("reason %q quotes the value", q)
		}
	}
	var seqs []uint64
	var flagged []uint64
	err = p.Scan(context.Background(), "c1", func(r Row) error {
		seqs = append(seqs, r.Seq)
		if r.Quarantined {
			flagged = append(flagged, r.Seq)
			if string(r.Payload) != string(batch[r.Seq-1].Payload) || string(r.MAC) != string(batch[r.Seq-1].MAC[:]) {
				t.Errorf("quarantined seq %d payload or mac changed", r.Seq)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(seqs, want) {
		t.Errorf("scan seqs %v, want %v", seqs, want)
	}
	if !slices.Equal(flagged, []uint64{4, 7}) {
		t.Errorf("quarantined rows %v, want [4 7]", flagged)
	}
	rows, err := p.Search(context.Background(), Filter{Limit: 100})
	if err != nil || len(rows) != 8 {
		t.Errorf("search: %d rows, %v; want the 8 stored", len(rows), err)
	}
	chains, err := p.Chains(context.Background())
	if err != nil || !slices.Equal(chains, []string{"c1"}) {
		t.Errorf("chains %v, %v", chains, err)
	}
}

func TestPostgres_PartitionsAheadAndDefault(t *testing.T) {
	dsn := pgTestSchema(t)
	ctx := context.Background()
	var now atomic.Pointer[time.Time]
	setNow := func(t time.Time) { now.Store(&t) }
	setNow(time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC))
	p, err := OpenPostgres(ctx, dsn, PostgresOptions{Now: func() time.Time { return *now.Load() },
		PartitionCheck: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	writeOK(t, p, sealAll([]*record.Record{
		withIngested(newRecord("c1", 1, baseTS), "2027-01-31T23:59:59.999999999Z"),
		withIngested(newRecord("c1", 2, baseTS), "2027-03-01T00:00:00.000000000Z"),
		withIngested(newRecord("c1", 3, baseTS), "2027-04-01T00:00:00.000000000Z"),
		withIngested(newRecord("c1", 4, baseTS), "2031-07-01T00:00:00.000000000Z"),
	}))
	c := pgAdmin(t, dsn)
	rows, err := c.Query(ctx, `SELECT seq, tableoid::regclass::text FROM audit_records ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var seq int64
		var part string
		if err := rows.Scan(&seq, &part); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%s", seq, part))
	}
	want := []string{"1:audit_records_2027_01", "2:audit_records_2027_03", "3:audit_records_default", "4:audit_records_default"}
	if !slices.Equal(got, want) {
		t.Errorf("partitions %v, want %v", got, want)
	}
	// Time passes: after mid-March the sink creates May's partition, while
	// a write transaction stays open (creating a partition waits for it;
	// the write does not wait for the creation). April's cannot be created
	// while the default partition holds an April row (seq 3); that blocks
	// April only.
	open, err := p.Prepare(ctx, sealAll([]*record.Record{withIngested(newRecord("c1", 5, baseTS), "2027-03-19T00:00:00.000000000Z")}))
	if err != nil {
		t.Fatal(err)
	}
	setNow(time.Date(2027, 3, 20, 0, 0, 0, 0, time.UTC))
	// A check is creating a partition and waits for a lock on a table of
	// this schema that the open transaction holds.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation
			WHERE NOT l.granted AND r.relnamespace = current_schema()::regnamespace`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the partition check to wait for the open transaction")
		}
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var april, may bool
	for deadline := time.Now().Add(30 * time.Second); !may && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := c.QueryRow(ctx, `SELECT to_regclass('audit_records_2027_04') IS NOT NULL, to_regclass('audit_records_2027_05') IS NOT NULL`).Scan(&april, &may); err != nil {
			t.Fatal(err)
		}
	}
	if april || !may {
		t.Errorf("April's partition exists: %v (want false), May's: %v (want true)", april, may)
	}
	writeOK(t, p, sealAll([]*record.Record{withIngested(newRecord("c1", 6, baseTS), "2027-05-02T00:00:00.000000000Z")}))
	var part string
	if err := c.QueryRow(ctx, `SELECT tableoid::regclass::text FROM audit_records WHERE seq = 6`).Scan(&part); err != nil || part != "audit_records_2027_05" {
		t.Errorf("seq 6 in %q, %v", part, err)
	}
}

// A server that is down at start does not fail the open; writes fail (and
// are retried by the deliverer) until it is reachable.
func TestPostgres_UnreachableAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dsn := "postgres://audit:s3cret-pw@" + addr + "/audit?sslmode=disable&connect_timeout=2"
	p, err := OpenPostgres(context.Background(), dsn, PostgresOptions{})
	if err != nil {
		t.Fatalf("open with the server down: %v", err)
	}
	defer p.Close()
	err = p.Write(context.Background(), sealAll(chainRecords("c1", 1, 3)))
	if err == nil {
		t.Fatal("write with the server down succeeded")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error %q quotes the password", err)
	}
	if _, err := OpenPostgres(context.Background(), "postgres://a:s3cret-pw@%zz", PostgresOptions{}); err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("bad dsn: err = %v", err)
	}
}

// Many sidecars, one chain each, write into one table at once.
func TestPostgres_ManyChainsConcurrently(t *testing.T) {
	p := openTestPostgres(t)
	const chains, batches, per = 50, 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, chains)
	for c := range chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("pod-%02d", c)
			all := sealAll(chainRecords(id, 1, batches*per))
			for b := range batches {
				if err := p.Write(context.Background(), all[b*per:(b+1)*per]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ids, err := p.Chains(context.Background())
	if err != nil || len(ids) != chains {
		t.Fatalf("chains: %d, %v", len(ids), err)
	}
	for _, id := range ids {
		n := 0
		p.Scan(context.Background(), id, func(r Row) error {
			if n++; r.Seq != uint64(n) {
				t.Errorf("%s: row %d is seq %d", id, n, r.Seq)
			}
			return nil
		})
		if n != batches*per {
			t.Errorf("%s: %d rows", id, n)
		}
	}
	rows, err := p.Search(context.Background(), Filter{Chain: "pod-07", Limit: 1000})
	if err != nil || len(rows) != batches*per {
		t.Errorf("search one chain: %d rows, %v", len(rows), err)
	}
}

func withIngested(r *record.Record, at string) *record.Record {
	ts, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		panic(err)
	}
	r.IngestedAt = ts
	return r
}

// pgDSNOf returns the DSN p was opened with.
func pgDSNOf(t testing.TB, p *Postgres) string {
	t.Helper()
	return p.connCfg.ConnString()
}

func searchPathOf(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("search_path")
}

func withUser(t testing.TB, dsn, user string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(user)
	return u.String()
}

// A server that answers but cannot serve yet (starting up, in recovery, too
// many connections) must not stop the sidecar at start; a wrong password,
// a missing database or a missing privilege must.
func TestPgTransient(t *testing.T) {
	for code, want := range map[string]bool{
		"57P03": true, "53300": true, "08006": true, "58030": true, "40001": true,
		"28P01": false, "3D000": false, "42501": false, "42P01": false,
	} {
		if got := pgTransient(&pgconn.PgError{Code: code}); got != want {
			t.Errorf("pgTransient(%s) = %v, want %v", code, got, want)
		}
	}
	if !pgTransient(errors.New("dial tcp: connection refused")) || pgTransient(fmt.Errorf("x: %w", ErrSchemaVersion)) {
		t.Error("network errors are transient, a newer schema is not")
	}
}

// Prepared batches of one sink, in flight together, commit in order; an
// aborted one leaves nothing, and is stored when prepared again.
func TestPostgres_PreparedBatchesInFlight(t *testing.T) {
	ctx := context.Background()
	p := openTestPostgres(t)
	first, err := p.Prepare(ctx, sealAll(chainRecords("c1", 1, 100)))
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Prepare(ctx, sealAll(chainRecords("c1", 101, 200)))
	if err != nil {
		t.Fatal(err)
	}
	if n := countStored(t, p); n != 0 {
		t.Errorf("%d records visible before a commit", n)
	}
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countStored(t, p); n != 100 {
		t.Errorf("%d records visible after the first commit, want 100", n)
	}
	second.Abort()
	if n := countStored(t, p); n != 100 {
		t.Errorf("%d records visible after the abort, want 100", n)
	}
	again, err := p.Prepare(ctx, sealAll(chainRecords("c1", 101, 200)))
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkPostgresRows(t, p)
	if n := countStored(t, p); n != 200 {
		t.Errorf("stored %d, want 200", n)
	}
}

// Two writers of one chain (a misconfiguration) prepare different records
// at the same positions at once, with other ingested_at: neither sees the
// other's uncommitted rows while preparing, and the chain lock taken at
// commit lets the second see the first's and fail with a conflict.
func TestPostgres_ConcurrentForkCaughtAtCommit(t *testing.T) {
	ctx := context.Background()
	a := openTestPostgres(t)
	b, err := OpenPostgres(ctx, pgDSNOf(t, a), PostgresOptions{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mine := chainRecords("c1", 1, 50)
	var theirs []*record.Record
	for _, r := range chainRecords("c1", 1, 50) {
		r.Outcome = "failure"
		theirs = append(theirs, withIngested(r, "2031-01-01T00:00:00.000000000Z"))
	}
	pa, err := a.Prepare(ctx, sealAll(mine))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Prepare(ctx, sealAll(theirs))
	if err != nil {
		t.Fatal(err)
	}
	if err := pa.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	err = pb.Commit(ctx)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second commit: %v, want ErrConflict", err)
	}
	if n := countStored(t, a); n != 50 {
		t.Errorf("stored %d, want 50", n)
	}
	checkPostgresRows(t, a)
}

// A write whose lock waits are blocked (here by a LOCK TABLE another
// session holds) fails after pgLockTimeout instead of waiting for ever, so
// a deliverer's in-order commits can never wait in a cycle the server does
// not see.
func TestPostgres_WritesDoNotWaitForeverForALock(t *testing.T) {
	ctx := context.Background()
	p := openTestPostgres(t)
	writeOK(t, p, sealAll(chainRecords("c1", 1, 5)))
	c := pgAdmin(t, pgDSNOf(t, p))
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE audit_records IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // far beyond the lock timeout
	defer cancel()
	err = p.Write(wctx, sealAll(chainRecords("c1", 6, 10)))
	if err == nil || wctx.Err() != nil || pgCode(err) != "55P03" {
		t.Fatalf("write under a held lock: %v (context %v), want lock_not_available", err, wctx.Err())
	}
	if isPoison(err) {
		t.Errorf("a lock timeout quarantines records: %v", err)
	}
	tx.Rollback(ctx)
	writeOK(t, p, sealAll(chainRecords("c1", 6, 10)))
}

// pool_max_conns in the DSN bounds the sidecar's connections; with one,
// batches go one at a time.
func TestPostgres_PoolSizeFromTheDSN(t *testing.T) {
	dsn := pgTestSchema(t)
	for _, tc := range []struct {
		param      string
		conns, fly int
	}{{"", pgMaxConns, pgInFlight}, {"pool_max_conns=1", 1, 1}, {"pool_max_conns=3", 3, pgInFlight}} {
		d := dsn
		if tc.param != "" {
			d += "&" + tc.param
		}
		p, err := OpenPostgres(context.Background(), d, PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := int(p.pool.Config().MaxConns); got != tc.conns || p.InFlight() != tc.fly {
			t.Errorf("%q: %d connections, %d in flight; want %d, %d", tc.param, got, p.InFlight(), tc.conns, tc.fly)
		}
		writeOK(t, p, sealAll(chainRecords("c-"+tc.param, 1, 3)))
		p.Close()
	}
}

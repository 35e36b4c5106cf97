package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fips-agents/audit-sidecar/sink"
)

// appName tags the sink's connections, so the SQL text Search sent can be
// read back from pg_stat_activity.
const appName = "pgquery-bench"

// withParams adds run-time parameters to dsn, a URL or a keyword/value
// string.
func withParams(dsn string, kv ...string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("dsn does not parse")
		}
		q := u.Query()
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	for i := 0; i+1 < len(kv); i += 2 {
		dsn += " " + kv[i] + "='" + strings.ReplaceAll(kv[i+1], "'", `\'`) + "'"
	}
	return dsn, nil
}

func schemaDSN(c *config) (string, error) {
	return withParams(c.dsn, "search_path", c.schema, "application_name", appName)
}

func loadPostgres(ctx context.Context, c *config) error {
	admin, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if c.drop {
		logf("dropping schema %s", c.schema)
		if _, err := admin.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{c.schema}.Sanitize()+` CASCADE`); err != nil {
			return err
		}
	}
	if _, err := admin.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{c.schema}.Sanitize()); err != nil {
		return err
	}
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, c.schema+".audit_records").Scan(&exists); err != nil {
		return err
	}
	if exists {
		var n int64
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{c.schema, "audit_records"}.Sanitize()).Scan(&n); err != nil {
			return err
		}
		if n >= int64(c.rows) {
			logf("schema %s already holds %d records: not loading", c.schema, n)
			return nil
		}
		if n > 0 {
			return fmt.Errorf("schema %s holds %d records, fewer than -rows %d: rerun with -drop", c.schema, n, c.rows)
		}
	}
	dsn, err := schemaDSN(c)
	if err != nil {
		return err
	}
	start, end := dataSpan(c)
	// The sink creates the partitions of its clock's month and the next
	// two; open it once per month of data so every month has its own, as
	// in a deployment that has run that long.
	for m := start; m.Before(end); m = m.AddDate(0, 1, 0) {
		p, err := sink.OpenPostgres(ctx, dsn, sink.PostgresOptions{RequireServer: true, Now: func() time.Time { return m }})
		if err != nil {
			return err
		}
		p.Close()
	}
	p, err := sink.OpenPostgres(ctx, dsn, sink.PostgresOptions{RequireServer: true})
	if err != nil {
		return err
	}
	defer p.Close()

	n, el, err := writeAll(ctx, c, newTimeline(start, end), p.Write)
	if err != nil {
		return err
	}
	fmt.Printf("Load: %d records in %s through sink.Postgres.Write (%d writers, batches of %d): **%.0f records/s**\n\n",
		n, el.Round(time.Second), c.writers, c.batch, float64(n)/el.Seconds())
	t0 := time.Now()
	logf("VACUUM (ANALYZE)")
	if _, err := admin.Exec(ctx, `VACUUM (ANALYZE) `+pgx.Identifier{c.schema, "audit_records"}.Sanitize()); err != nil {
		return err
	}
	logf("VACUUM (ANALYZE) took %s", time.Since(t0).Round(time.Second))
	return nil
}

// pgBackend is a PostgreSQL schema under measure.
type pgBackend struct {
	c     *config
	p     *sink.Postgres
	admin *pgx.Conn
	// history: the calls the sink's connection made, by SQL text: kinds
	// whose SQL is equal share one prepared statement.
	history map[string][]sink.Filter
}

func openPostgres(ctx context.Context, c *config) (backend, error) {
	dsn, err := schemaDSN(c)
	if err != nil {
		return nil, err
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	p, err := sink.OpenPostgres(ctx, dsn, sink.PostgresOptions{RequireServer: true})
	if err != nil {
		admin.Close(ctx)
		return nil, err
	}
	return &pgBackend{c: c, p: p, admin: admin, history: map[string][]sink.Filter{}}, nil
}

func (b *pgBackend) close() {
	b.p.Close()
	b.admin.Close(context.Background())
}

func (b *pgBackend) searchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error {
	return b.p.SearchEach(ctx, f, fn)
}

func (b *pgBackend) chains(ctx context.Context) ([]string, error) { return b.p.Chains(ctx) }

func (b *pgBackend) extent(ctx context.Context) (n int64, minTS, maxTS string, err error) {
	err = b.admin.QueryRow(ctx, `SELECT count(*), coalesce(min(ts), ''), coalesce(max(ts), '') FROM audit_records`).Scan(&n, &minTS, &maxTS)
	return n, minTS, maxTS, err
}

func (b *pgBackend) samples(ctx context.Context, seed uint64) ([]sample, error) {
	n, _, _, err := b.extent(ctx)
	if err != nil {
		return nil, err
	}
	pct := math.Min(100, 100*20000/float64(n))
	rows, err := b.admin.Query(ctx, fmt.Sprintf(`SELECT ts, chain, seq, tenant, "user", session, trace
		FROM audit_records TABLESAMPLE BERNOULLI (%g) REPEATABLE (%d)`, pct, seed))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sample
	for rows.Next() {
		var ts, chain string
		var seq int64
		var s sample
		if err := rows.Scan(&ts, &chain, &seq, &s.tenant, &s.user, &s.session, &s.trace); err != nil {
			return nil, err
		}
		k, err := parseKey(ts, chain, seq)
		if err != nil {
			return nil, err
		}
		s.key = *k
		out = append(out, s)
	}
	return out, rows.Err()
}

func (b *pgBackend) plansIntro() string {
	return "For each filter, the slowest measured call's filter. The SQL is rebuilt as sink/search.go builds it and checked against the text Search sent (pg_stat_activity of the sink's connection) and against Search's rows. pgx runs Search as a prepared statement, cached per connection: its first five executions get custom plans (planned for the values, as shown), later ones the generic plan if the planner finds it no costlier than the average custom plan. “Plan cache” says which the kind's first calls got when run that way; the generic plan is printed when its shape differs. Statements of equal text share one cache entry on the sink's connection (e.g. “action” and “action, no match”)."
}

// explain checks that the rebuilt SQL of f is what Search runs (for a
// search read in windows, the text of one of its windows) and prints its
// plans.
func (b *pgBackend) explain(ctx context.Context, name string, f sink.Filter, first []sink.Filter, out io.Writer) error {
	admin := b.admin
	want, err := searchAll(ctx, b.searchEach, f)
	if err != nil {
		return err
	}
	var sent string
	err = admin.QueryRow(ctx, `SELECT query FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid() AND state = 'idle'
		ORDER BY state_change DESC LIMIT 1`, appName).Scan(&sent)
	if err != nil {
		return fmt.Errorf("read the SQL Search sent: %w", err)
	}
	w, err := rebuild(f, sink.PostgresSearchSQL, sink.PostgresSearchProbeSQL, func(q string, args []any) (*sink.Key, error) {
		var ts, chain string
		var seq int64
		switch err := admin.QueryRow(ctx, q, args...).Scan(&ts, &chain, &seq); {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, nil
		case err != nil:
			return nil, err
		}
		return parseKey(ts, chain, seq)
	})
	if err != nil {
		return err
	}
	if !slices.Contains(w.texts, sent) {
		return fmt.Errorf("rebuilt SQL differs from what Search sent (sink/search.go changed?):\nsent:    %s\nrebuilt: %s", sent, w.q)
	}
	q, args := w.q, w.args
	rows, err := admin.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	var got []sink.Row
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			rows.Close()
			return err
		}
		chain, _ := vals[0].(string)
		seq, _ := vals[1].(int64)
		got = append(got, sink.Row{Chain: chain, Seq: uint64(seq)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := w.check(got, want); err != nil {
		return err
	}

	fmt.Fprintf(out, "### %s\n\nFilter: %s; %d rows.\n\n", name, describe(&f), len(want.rows))
	if w.probe != "" {
		fmt.Fprintf(out, "Read window by window (a filter no index serves): the probe finds the end of the first window.\n\n```sql\n%s\n-- args: %s\n```\n\n", w.probe, fmtArgs(w.probeArgs))
		plan, err := explainText(ctx, admin, w.probe, w.probeArgs, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Probe plan:\n\n```\n%s\n```\n\nThe first window's query:\n\n", plan)
	}
	fmt.Fprintf(out, "```sql\n%s\n-- args: %s\n```\n\n", q, fmtArgs(args))
	custom, err := explainText(ctx, admin, q, args, false)
	if err != nil {
		return err
	}
	generic, err := explainText(ctx, admin, q, args, true)
	if err != nil {
		return err
	}
	first0, _, err := sink.PostgresSearchSQL(first[0], nil)
	if err != nil {
		return err
	}
	calls := append(slices.Clone(b.history[first0]), first...)
	b.history[first0] = calls
	gn, cn, err := planCache(ctx, admin, q, calls, w.upto)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Custom plan:\n\n```\n%s\n```\n\n", custom)
	fmt.Fprintf(out, "Plan cache: the first %d calls of this SQL text (of earlier kinds of equal SQL too), run as one prepared statement, got %d generic and %d custom plans.\n\n",
		len(calls), gn, cn)
	if shape(custom) != shape(generic) {
		fmt.Fprintf(out, "Generic plan (differs in shape):\n\n```\n%s\n```\n\n", generic)
	} else {
		fmt.Fprintf(out, "Generic plan: same shape.\n\n")
	}
	return nil
}

// explainText explains q with args: as pgx runs it on its first
// executions (a custom plan for these values), or, generic, as a prepared
// statement whose plan the plan cache keeps for any values. A prepared
// EXPLAIN is planned for its values, so the generic plan needs PREPARE and
// EXPLAIN EXECUTE.
func explainText(ctx context.Context, conn *pgx.Conn, q string, args []any, generic bool) (string, error) {
	var rows pgx.Rows
	var err error
	if generic {
		if _, err := conn.Exec(ctx, `PREPARE pgq_generic AS `+q); err != nil {
			return "", err
		}
		defer conn.Exec(ctx, `DEALLOCATE pgq_generic`) //nolint:errcheck // best effort
		if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
			return "", err
		}
		defer conn.Exec(ctx, `RESET plan_cache_mode`) //nolint:errcheck // best effort
		rows, err = conn.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) EXECUTE pgq_generic(`+literals(args)+`)`)
	} else {
		rows, err = conn.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+q, args...)
	}
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

// literals renders args as SQL literals.
func literals(args []any) string {
	s := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			s[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			s[i] = fmt.Sprint(v)
		}
	}
	return strings.Join(s, ", ")
}

// planCache runs q as a prepared statement with the args of filters, as
// the sink's pooled connection does, and returns how many executions got
// the generic plan and how many a custom one.
func planCache(ctx context.Context, conn *pgx.Conn, q string, filters []sink.Filter, upto *sink.Key) (generic, custom int64, err error) {
	if _, err := conn.Exec(ctx, `PREPARE pgq_cache AS `+q); err != nil {
		return 0, 0, err
	}
	defer conn.Exec(ctx, `DEALLOCATE pgq_cache`) //nolint:errcheck // best effort
	for i := range filters {
		fq, args, err := sink.PostgresSearchSQL(filters[i], upto)
		if err != nil || fq != q {
			continue
		}
		if _, err := conn.Exec(ctx, `EXECUTE pgq_cache(`+literals(args)+`)`); err != nil {
			return 0, 0, err
		}
	}
	err = conn.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'pgq_cache'`).
		Scan(&generic, &custom)
	return generic, custom, err
}

// shape is a plan's node lines without costs, row counts and timings.
func shape(plan string) string {
	var b strings.Builder
	for _, l := range strings.Split(plan, "\n") {
		if !strings.Contains(l, "(cost=") {
			continue
		}
		if i := strings.Index(l, "  (cost="); i >= 0 {
			l = l[:i]
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

func fmtArgs(args []any) string {
	s := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			s[i] = fmt.Sprintf("$%d=%q", i+1, v)
		default:
			s[i] = fmt.Sprintf("$%d=%v", i+1, v)
		}
	}
	return strings.Join(s, " ")
}

func (b *pgBackend) header(ctx context.Context, out io.Writer) error {
	conn := b.admin
	var ver string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&ver); err != nil {
		return err
	}
	settings := []string{"shared_buffers", "work_mem", "effective_cache_size", "random_page_cost", "jit", "plan_cache_mode"}
	parts := []string{"PostgreSQL " + ver}
	for _, s := range settings {
		var v string
		if err := conn.QueryRow(ctx, `SELECT current_setting($1)`, s).Scan(&v); err != nil {
			return err
		}
		parts = append(parts, s+"="+v)
	}
	fmt.Fprintf(out, "Store: PostgreSQL, schema %s. Server: %s.\n\n", b.c.schema, strings.Join(parts, ", "))
	return nil
}

func (b *pgBackend) sizes(ctx context.Context, out io.Writer) error {
	conn := b.admin
	fmt.Fprintf(out, "## Sizes\n\n| partition | rows (estimate) | total (heap+toast+indexes) | heap |\n|---|---:|---:|---:|\n")
	rows, err := conn.Query(ctx, `SELECT c.relname::text, c.reltuples::bigint, pg_total_relation_size(c.oid), pg_relation_size(c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_records'::regclass ORDER BY 1`)
	if err != nil {
		return err
	}
	type part struct {
		name              string
		tuples, tot, heap int64
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (part, error) {
		var p part
		err := r.Scan(&p.name, &p.tuples, &p.tot, &p.heap)
		return p, err
	})
	if err != nil {
		return err
	}
	var tot, heap int64
	for _, p := range parts {
		fmt.Fprintf(out, "| %s | %d | %s | %s |\n", p.name, max(p.tuples, 0), size(p.tot), size(p.heap))
		tot += p.tot
		heap += p.heap
	}
	fmt.Fprintf(out, "| **all** | | **%s** | %s |\n\n", size(tot), size(heap))

	fmt.Fprintf(out, "| index | partition | size |\n|---|---|---:|\n")
	rows, err = conn.Query(ctx, `SELECT coalesce(pi.relname, ic.relname)::text, c.relname::text, pg_relation_size(ic.oid)
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_index x ON x.indrelid = c.oid
		JOIN pg_class ic ON ic.oid = x.indexrelid
		LEFT JOIN pg_inherits ii ON ii.inhrelid = ic.oid
		LEFT JOIN pg_class pi ON pi.oid = ii.inhparent
		WHERE i.inhparent = 'audit_records'::regclass
		ORDER BY 1, 2`)
	if err != nil {
		return err
	}
	type idx struct {
		parent, part string
		size         int64
	}
	idxs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (idx, error) {
		var x idx
		err := r.Scan(&x.parent, &x.part, &x.size)
		return x, err
	})
	if err != nil {
		return err
	}
	sums := map[string]int64{}
	for _, x := range idxs {
		if x.size > 8192 {
			fmt.Fprintf(out, "| %s | %s | %s |\n", x.parent, x.part, size(x.size))
		}
		sums[x.parent] += x.size
	}
	fmt.Fprintf(out, "\nEmpty partitions' indexes (8 kB) are left out.\n\n| index (all partitions) | size |\n|---|---:|\n")
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(sums[b], sums[a]) })
	var all int64
	for _, n := range names {
		fmt.Fprintf(out, "| %s | %s |\n", n, size(sums[n]))
		all += sums[n]
	}
	fmt.Fprintf(out, "| **all indexes** | **%s** |\n", size(all))
	return nil
}

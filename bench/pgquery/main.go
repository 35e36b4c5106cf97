// Command pgquery measures sink.Postgres.Search, the query behind
// GET /v1/audit, on a large PostgreSQL table: it loads realistic sealed
// records through the real sink (migrations, partitions, Write), then runs
// each kind of filtered page through Search, reports latency percentiles
// as a markdown table, and prints EXPLAIN (ANALYZE, BUFFERS) of the exact
// SQL Search sends. See README.md.
package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// appName tags the sink's connections, so the SQL text Search sent can be
// read back from pg_stat_activity.
const appName = "pgquery-bench"

type config struct {
	dsn, schema                   string
	rows, chains, queries, warmup int
	sparse                        int
	writers, batch, months, limit int
	load, drop                    bool
	seed                          uint64
	budget                        time.Duration
}

func main() {
	defDSN := os.Getenv("AUDIT_BENCH_PG_DSN")
	if defDSN == "" {
		defDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	var c config
	flag.StringVar(&c.dsn, "dsn", defDSN, "PostgreSQL DSN (default $AUDIT_BENCH_PG_DSN)")
	flag.StringVar(&c.schema, "schema", "bench_query", "schema holding the benchmark table")
	flag.IntVar(&c.rows, "rows", 10_000_000, "records to load")
	flag.IntVar(&c.chains, "chains", 50, "chains (sidecars) to spread the records over")
	flag.IntVar(&c.queries, "queries", 200, "measured Search calls per filter kind")
	flag.IntVar(&c.sparse, "sparse", 20, "measured Search calls per filter kind that matches (almost) nothing")
	flag.IntVar(&c.warmup, "warmup", 10, "unmeasured Search calls per filter kind before measuring")
	flag.IntVar(&c.writers, "writers", 2, "writer goroutines while loading (each owns chains i mod writers)")
	flag.IntVar(&c.batch, "batch", 2000, "records per Write while loading")
	flag.IntVar(&c.months, "months", 3, "months of data, ending now, the current month included; a monthly partition is created for each")
	flag.IntVar(&c.limit, "limit", 100, "Filter.Limit of each Search (the HTTP handler asks for page size + 1)")
	flag.BoolVar(&c.load, "load", false, "create and fill the schema (skipped when it already holds -rows records)")
	flag.BoolVar(&c.drop, "drop", false, "with -load: drop the schema first")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the query values")
	flag.DurationVar(&c.budget, "budget", 3*time.Minute, "stop measuring a filter kind after this long")
	flag.Parse()
	if c.chains < 1 || c.writers < 1 || c.batch < 1 || c.months < 1 || c.rows < c.chains {
		fatalf("bad flags")
	}
	ctx := context.Background()
	if c.load {
		if err := load(ctx, &c); err != nil {
			fatalf("load: %v", err)
		}
	}
	if c.queries > 0 {
		if err := measure(ctx, &c, os.Stdout); err != nil {
			fatalf("measure: %v", err)
		}
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pgquery: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

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

// ---------------------------------------------------------------------
// Loading

func load(ctx context.Context, c *config) error {
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
	end := time.Now().UTC().Truncate(time.Hour)
	start := monthOf(end).AddDate(0, -(c.months - 1), 0)
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

	tl := newTimeline(start, end)
	logf("loading %d records, %d chains, %d writers, batches of %d, ingested_at %s .. %s",
		c.rows, c.chains, c.writers, c.batch, start.Format(time.DateOnly), end.Format(time.RFC3339))
	var done atomic.Int64
	began := time.Now()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := done.Load()
				el := time.Since(began).Seconds()
				logf("  %d records (%.1f%%), %.0f records/s", n, 100*float64(n)/float64(c.rows), float64(n)/el)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, c.writers)
	for w := range c.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGenerator(c, w, tl)
			batch := make([]record.Sealed, 0, c.batch)
			for {
				batch = g.fill(batch[:0], c.batch)
				if len(batch) == 0 {
					return
				}
				if err := p.Write(ctx, batch); err != nil {
					errs[w] = err
					return
				}
				done.Add(int64(len(batch)))
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	el := time.Since(began)
	logf("loaded %d records in %s: %.0f records/s", done.Load(), el.Round(time.Second), float64(done.Load())/el.Seconds())
	fmt.Printf("Load: %d records in %s through sink.Postgres.Write (%d writers, batches of %d): **%.0f records/s**\n\n",
		done.Load(), el.Round(time.Second), c.writers, c.batch, float64(done.Load())/el.Seconds())
	t0 := time.Now()
	logf("VACUUM (ANALYZE)")
	if _, err := admin.Exec(ctx, `VACUUM (ANALYZE) `+pgx.Identifier{c.schema, "audit_records"}.Sanitize()); err != nil {
		return err
	}
	logf("VACUUM (ANALYZE) took %s", time.Since(t0).Round(time.Second))
	return nil
}

func monthOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// timeline maps a uniform position u in [0,1) to a time between start and
// end with a diurnal and weekly rhythm: busy working hours, quiet nights
// and weekends. It is strictly increasing in u.
type timeline struct {
	start time.Time
	cum   []float64 // cum[h] is the weight of the hours before hour h
}

func newTimeline(start, end time.Time) *timeline {
	hours := int(end.Sub(start) / time.Hour) // whole hours only: nothing in the future
	cum := make([]float64, hours+1)
	for h := range hours {
		t := start.Add(time.Duration(h) * time.Hour)
		w := 0.25 + math.Max(0, math.Sin(math.Pi*(float64(t.Hour())-6)/14)) // peak at 13:00 UTC
		if d := t.Weekday(); d == time.Saturday || d == time.Sunday {
			w *= 0.35
		}
		cum[h+1] = cum[h] + w
	}
	return &timeline{start: start, cum: cum}
}

func (tl *timeline) at(u float64) time.Time {
	target := u * tl.cum[len(tl.cum)-1]
	h, _ := slices.BinarySearch(tl.cum, target)
	if h > 0 && (h == len(tl.cum) || tl.cum[h] > target) {
		h--
	}
	if h >= len(tl.cum)-1 {
		h = len(tl.cum) - 2
	}
	f := (target - tl.cum[h]) / (tl.cum[h+1] - tl.cum[h])
	return tl.start.Add(time.Duration((float64(h) + f) * float64(time.Hour)))
}

// weighted draws indexes 0..n-1 with the given weights.
type weighted []float64

func newWeighted(n int, w func(i int) float64) weighted {
	cum := make(weighted, n)
	var s float64
	for i := range n {
		s += w(i)
		cum[i] = s
	}
	return cum
}

func (c weighted) pick(r *rand.Rand) int {
	i, _ := slices.BinarySearch(c, r.Float64()*c[len(c)-1])
	return min(i, len(c)-1)
}

// The value universes; load and measure derive the same ones.
const (
	numTenants  = 20
	numUsers    = 5000
	numTools    = 50
	numSessions = 200_000 // approximately: sessions last 50 events on average
)

var (
	agentActions = []string{record.ActionDecision, record.ActionModelCall, record.ActionToolCall, record.ActionToolResult,
		record.ActionApprovalRequested, record.ActionApprovalGranted, record.ActionApprovalDenied}
	actionWeights = newWeighted(len(agentActions), func(i int) float64 { return []float64{12, 30, 24, 24, 5, 4, 1}[i] })
	models        = []string{"granite-3.3-8b", "granite-3.3-2b", "llama-3.3-70b", "mistral-small-3.1", "gpt-oss-20b"}
	modelWeights  = newWeighted(len(models), func(i int) float64 { return []float64{50, 25, 15, 7, 3}[i] })
	tenantWeights = newWeighted(numTenants, func(i int) float64 { return 1 / math.Pow(float64(i+1), 1.1) })
	userWeights   = newWeighted(numUsers, func(i int) float64 { return 1 / float64(i+20) })
	toolWeights   = newWeighted(numTools, func(i int) float64 { return 1 / float64(i+2) })
	tools         = toolNames()
	// userTenant[u] is the tenant of user u.
	userTenant = func() []int {
		r := rand.New(rand.NewPCG(42, 42))
		out := make([]int, numUsers)
		for u := range out {
			out[u] = tenantWeights.pick(r)
		}
		return out
	}()
)

func tenantName(i int) string { return fmt.Sprintf("tenant-%02d", i) }
func userName(i int) string   { return fmt.Sprintf("user-%04d", i) }
func chainName(i int) string  { return fmt.Sprintf("sidecar-%02d", i) }

func toolNames() []string {
	svcs := []string{"payments", "crm", "tickets", "search", "inventory", "email", "calendar", "docs", "billing", "shipping"}
	ops := []string{"lookup", "update", "create", "refund", "list"}
	out := make([]string, 0, numTools)
	for _, op := range ops {
		for _, s := range svcs {
			out = append(out, s+"."+op)
		}
	}
	return out[:numTools]
}

type session struct {
	id, user, tenant string
	left             int // events before it ends
	trace            string
	turn             int // events before a new trace
}

type chainState struct {
	idx      int
	name     string
	n        int // records of this chain
	next     int // index of the next record (seq-1)
	phase    float64
	lastMAC  [32]byte
	offset   int64
	ino      uint64
	sessions []*session
}

// generator produces the records of writer w's chains, interleaved in
// time order, as the sidecars of a busy cluster would deliver them.
type generator struct {
	r       *rand.Rand
	tl      *timeline
	chains  []*chainState
	cur     int // round-robin position in chains
	nextSID int
	stride  int
	buf     []byte
}

func newGenerator(c *config, w int, tl *timeline) *generator {
	g := &generator{r: rand.New(rand.NewPCG(uint64(w)+100, 7)), tl: tl, nextSID: w, stride: c.writers}
	per, extra := c.rows/c.chains, c.rows%c.chains
	for i := w; i < c.chains; i += c.writers {
		n := per
		if i < extra {
			n++
		}
		g.chains = append(g.chains, &chainState{idx: i, name: chainName(i), n: n, phase: g.r.Float64() * 0.5,
			ino: 1_000_000 + uint64(i)})
	}
	return g
}

func (g *generator) newSession() *session {
	u := userWeights.pick(g.r)
	s := &session{id: fmt.Sprintf("sess-%06d", g.nextSID), user: userName(u), tenant: tenantName(userTenant[u]),
		left: 1 + int(g.r.ExpFloat64()*49)}
	g.nextSID += g.stride
	return s
}

// fill appends up to n records to dst, round robin over the chains that
// have records left.
func (g *generator) fill(dst []record.Sealed, n int) []record.Sealed {
	for len(dst) < n {
		var cs *chainState
		for range g.chains {
			c := g.chains[g.cur]
			g.cur = (g.cur + 1) % len(g.chains)
			if c.next < c.n {
				cs = c
				break
			}
		}
		if cs == nil {
			break
		}
		dst = append(dst, g.record(cs))
	}
	return dst
}

func (g *generator) record(cs *chainState) record.Sealed {
	r := g.r
	k := cs.next
	cs.next++
	// ingested_at strictly increases with seq: slot k of n, a fixed phase
	// per chain and a jitter of a quarter slot.
	ing := g.tl.at((float64(k) + cs.phase + r.Float64()*0.25) / float64(cs.n))
	ts := ing.Add(-time.Duration(5_000_000 + r.Int64N(2_000_000_000))) // the agent's clock, 5 ms to 2 s earlier
	if len(cs.sessions) == 0 {
		for range 16 {
			cs.sessions = append(cs.sessions, g.newSession())
		}
	}
	slot := r.IntN(len(cs.sessions))
	s := cs.sessions[slot]
	if s.turn <= 0 {
		var t [16]byte
		for i := range t {
			t[i] = byte(r.Uint32())
		}
		s.trace = hex.EncodeToString(t[:])
		s.turn = 1 + r.IntN(8)
	}
	s.turn--
	s.left--
	if s.left <= 0 {
		cs.sessions[slot] = g.newSession()
	}
	rec := &record.Record{
		V:          record.Version,
		Chain:      cs.name,
		Seq:        uint64(k + 1),
		TS:         ts,
		IngestedAt: ing,
		Action:     agentActions[actionWeights.pick(r)],
		User:       s.user,
		Tenant:     s.tenant,
		Agent:      fmt.Sprintf("agent-%02d", cs.idx%20),
		Session:    s.id,
		Trace:      s.trace,
		Kid:        "k-" + ing.Format("2006-01"),
		Prev:       hex.EncodeToString(cs.lastMAC[:]),
	}
	if k == 0 {
		rec.Prev = strings.Repeat("0", 64)
	}
	switch rec.Action {
	case record.ActionDecision:
		rec.Outcome = "success"
		rec.Detail = fmt.Appendf(nil, `{"reason":"plan step %d","confidence":0.%02d}`, r.IntN(9), r.IntN(100))
	case record.ActionModelCall:
		rec.Model = models[modelWeights.pick(r)]
		rec.Outcome = pickOutcome(r, 97, 3, 0)
		rec.Arguments = fmt.Appendf(nil, `{"messages":%d,"max_tokens":%d}`, 1+r.IntN(30), 256<<r.IntN(4))
		rec.Detail = fmt.Appendf(nil, `{"input_tokens":%d,"output_tokens":%d,"latency_ms":%d}`,
			100+r.IntN(8000), 10+r.IntN(1500), 80+r.IntN(4000))
	case record.ActionToolCall:
		rec.Tool = tools[toolWeights.pick(r)]
		rec.Outcome = "pending"
		rec.Arguments = fmt.Appendf(nil, `{"amount":%d,"card":"[REDACTED:card]","email":"[REDACTED:email]","order":"o-%07d"}`,
			r.IntN(5000), r.IntN(10_000_000))
		rec.Manifest = &record.Manifest{Policy: "rp1-0123456789abcdef", Rules: []record.RuleHits{
			{Rule: "builtin:CARD", Type: "CARD", Count: 1, Paths: []string{"arguments.card"}},
			{Rule: "builtin:EMAIL", Type: "EMAIL", Count: 1, Paths: []string{"arguments.email"}},
		}}
	case record.ActionToolResult:
		rec.Tool = tools[toolWeights.pick(r)]
		rec.Outcome = pickOutcome(r, 90, 8, 2)
		rec.Detail = fmt.Appendf(nil, `{"latency_ms":%d,"status":%d}`, 5+r.IntN(900), []int{200, 200, 200, 404, 500}[r.IntN(5)])
	case record.ActionApprovalRequested:
		rec.Tool = tools[toolWeights.pick(r)]
		rec.Outcome = "pending"
		rec.Arguments = json.RawMessage(`{"amount":4999,"reason":"over the auto-approval limit"}`)
	case record.ActionApprovalGranted, record.ActionApprovalDenied:
		rec.Tool = tools[toolWeights.pick(r)]
		rec.Approver = fmt.Sprintf("approver-%02d", r.IntN(12))
		rec.Outcome = "approved"
		if rec.Action == record.ActionApprovalDenied {
			rec.Outcome = "denied"
		}
	}
	rec.Source = &record.Source{File: "/var/log/agent/events.jsonl", Dev: 64769, Ino: cs.ino, Offset: cs.offset}
	g.buf = record.AppendCanonical(g.buf[:0], rec)
	payload := slices.Clone(g.buf)
	cs.offset += int64(len(payload)) + 1
	mac := sha256.Sum256(payload) // a fake MAC: the sink does not check MACs
	cs.lastMAC = mac
	return record.Sealed{Chain: rec.Chain, Seq: rec.Seq, Payload: payload, MAC: mac}
}

func pickOutcome(r *rand.Rand, success, failure, unknown int) string {
	x := r.IntN(success + failure + unknown)
	switch {
	case x < success:
		return "success"
	case x < success+failure:
		return "failure"
	}
	return "unknown"
}

// ---------------------------------------------------------------------
// Measuring

// kind is one shape of /v1/audit query.
type kind struct {
	name string
	gen  func(r *rand.Rand) sink.Filter
	// sparse kinds match few or no records, so a page reads every
	// candidate; they run -sparse calls.
	sparse bool
}

type sample struct {
	key                   sink.Key
	tenant, user, session string
}

func measure(ctx context.Context, c *config, out io.Writer) error {
	dsn, err := schemaDSN(c)
	if err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	p, err := sink.OpenPostgres(ctx, dsn, sink.PostgresOptions{RequireServer: true})
	if err != nil {
		return err
	}
	defer p.Close()

	var total int64
	var minTS, maxTS string
	if err := admin.QueryRow(ctx, `SELECT count(*), min(ts), max(ts) FROM audit_records`).Scan(&total, &minTS, &maxTS); err != nil {
		return err
	}
	if total == 0 {
		return errors.New("audit_records is empty: run with -load")
	}
	lo, err := time.Parse(time.RFC3339Nano, minTS)
	if err != nil {
		return err
	}
	hi, err := time.Parse(time.RFC3339Nano, maxTS)
	if err != nil {
		return err
	}
	// Rows sampled at random give realistic users, sessions and keyset
	// positions (weighted by activity, as an investigator's queries are).
	var samples []sample
	pct := math.Min(100, 100*20000/float64(total))
	rows, err := admin.Query(ctx, fmt.Sprintf(`SELECT ts, chain, seq, tenant, "user", session
		FROM audit_records TABLESAMPLE BERNOULLI (%g) REPEATABLE (%d)`, pct, c.seed))
	if err != nil {
		return err
	}
	for rows.Next() {
		var s sample
		var ts string
		var seq int64
		if err := rows.Scan(&ts, &s.key.Chain, &seq, &s.tenant, &s.user, &s.session); err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return err
		}
		s.key.TS, s.key.Seq = t.UTC(), uint64(seq)
		samples = append(samples, s)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(samples) == 0 {
		return errors.New("no sampled rows")
	}
	chains, err := p.Chains(ctx)
	if err != nil {
		return err
	}
	limit := c.limit
	pick := func(r *rand.Rand) sample { return samples[r.IntN(len(samples))] }
	tenant := func(r *rand.Rand) string { return tenantName(r.IntN(numTenants)) }
	action := func(r *rand.Rand) string { return agentActions[r.IntN(len(agentActions))] }
	// hour is a one-hour window starting at a whole minute.
	hour := func(r *rand.Rand, around time.Time) (time.Time, time.Time) {
		var from time.Time
		if around.IsZero() {
			from = lo.Add(time.Duration(r.Int64N(int64(hi.Sub(lo) - time.Hour))))
		} else {
			from = around.Add(-time.Duration(r.Int64N(int64(time.Hour))))
		}
		from = from.Truncate(time.Minute)
		return from, from.Add(time.Hour)
	}
	kinds := []kind{
		{"none", func(r *rand.Rand) sink.Filter { return sink.Filter{} }, false},
		{"tenant", func(r *rand.Rand) sink.Filter { return sink.Filter{Tenant: tenant(r)} }, false},
		{"user", func(r *rand.Rand) sink.Filter { return sink.Filter{User: pick(r).user} }, false},
		{"session", func(r *rand.Rand) sink.Filter { return sink.Filter{Session: pick(r).session} }, false},
		{"action", func(r *rand.Rand) sink.Filter { return sink.Filter{Action: action(r)} }, false},
		{"tool", func(r *rand.Rand) sink.Filter { return sink.Filter{Tool: tools[r.IntN(len(tools))]} }, false},
		{"outcome", func(r *rand.Rand) sink.Filter {
			return sink.Filter{Outcome: record.Outcomes[r.IntN(len(record.Outcomes))]}
		}, false},
		{"model", func(r *rand.Rand) sink.Filter { return sink.Filter{Model: models[r.IntN(len(models))]} }, false},
		{"chain", func(r *rand.Rand) sink.Filter { return sink.Filter{Chain: chains[r.IntN(len(chains))]} }, false},
		{"time 1h", func(r *rand.Rand) sink.Filter {
			f, t := hour(r, time.Time{})
			return sink.Filter{From: f, To: t}
		}, false},
		{"tenant + time 1h", func(r *rand.Rand) sink.Filter {
			f, t := hour(r, time.Time{})
			return sink.Filter{Tenant: tenant(r), From: f, To: t}
		}, false},
		{"user + time 1h", func(r *rand.Rand) sink.Filter {
			s := pick(r) // a window holding at least one of the user's records
			f, t := hour(r, s.key.TS)
			return sink.Filter{User: s.user, From: f, To: t}
		}, false},
		{"tenant + action", func(r *rand.Rand) sink.Filter { return sink.Filter{Tenant: tenant(r), Action: action(r)} }, false},
		{"deep page (after)", func(r *rand.Rand) sink.Filter {
			k := pick(r).key
			return sink.Filter{After: &k}
		}, false},
		{"tenant + deep page", func(r *rand.Rand) sink.Filter {
			s := pick(r)
			return sink.Filter{Tenant: s.tenant, After: &s.key}
		}, false},
		{"from only (last 24h)", func(r *rand.Rand) sink.Filter {
			return sink.Filter{From: hi.Add(-24 * time.Hour).Truncate(time.Minute)}
		}, false},
		{"tool + outcome=failure", func(r *rand.Rand) sink.Filter {
			return sink.Filter{Tool: tools[r.IntN(len(tools))], Outcome: "failure"}
		}, false},
		// Valid values that no record has (the load writes no "error"
		// action, no tool "payments.void"): the worst case of a filter
		// without an index, and of one narrowed by a second column.
		{"action, no match", func(r *rand.Rand) sink.Filter { return sink.Filter{Action: record.ActionError} }, true},
		{"tool, no match", func(r *rand.Rand) sink.Filter { return sink.Filter{Tool: "payments.void"} }, true},
		{"tenant + action, no match", func(r *rand.Rand) sink.Filter {
			return sink.Filter{Tenant: tenant(r), Action: record.ActionError}
		}, true},
		{"user + action, no match", func(r *rand.Rand) sink.Filter {
			return sink.Filter{User: pick(r).user, Action: record.ActionError}
		}, true},
	}

	fmt.Fprintf(out, "## pgquery: Search on %d records (schema %s)\n\n", total, c.schema)
	if err := printServer(ctx, admin, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "ts %s .. %s; %d chains; Limit %d; %d measured calls per filter after %d warm-up calls (%d after 1 for the no-match filters), one client, in sequence, in the order of the table, on one pooled connection; values drawn at random (seed %d).\n\n",
		minTS, maxTS, len(chains), limit, c.queries, c.warmup, c.sparse, c.seed)

	type result struct {
		k      kind
		durs   []time.Duration
		rows   int
		worst  sink.Filter
		worstD time.Duration
		first  []sink.Filter // the first calls, warm-up included
	}
	var results []result
	for ki, k := range kinds {
		r := rand.New(rand.NewPCG(c.seed, uint64(ki)))
		res := result{k: k}
		began := time.Now()
		n, warm := c.queries, c.warmup
		if k.sparse {
			n, warm = c.sparse, min(c.warmup, 1)
		}
		for i := range warm + n {
			f := k.gen(r)
			f.Limit = limit
			if len(res.first) < 12 {
				res.first = append(res.first, f)
			}
			t0 := time.Now()
			got, err := p.Search(ctx, f)
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			if i < warm {
				continue
			}
			res.durs = append(res.durs, d)
			res.rows += len(got)
			if d > res.worstD {
				res.worst, res.worstD = f, d
			}
			if time.Since(began) > c.budget {
				logf("%s: budget spent after %d calls", k.name, len(res.durs))
				break
			}
		}
		s := stats(res.durs)
		logf("%-22s p50 %7.2f  p99 %7.2f  max %7.2f ms", k.name, s.p50, s.p99, s.max)
		results = append(results, res)
	}

	fmt.Fprintf(out, "| filter | calls | p50 ms | p95 ms | p99 ms | max ms | mean rows | slowest call's filter |\n")
	fmt.Fprintf(out, "|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, res := range results {
		s := stats(res.durs)
		mark := ""
		if s.p99 >= 50 {
			mark = " ⚠"
		}
		fmt.Fprintf(out, "| %s | %d | %.2f | %.2f | **%.2f**%s | %.2f | %.1f | %s |\n", res.k.name, len(res.durs),
			s.p50, s.p95, s.p99, mark, s.max, float64(res.rows)/float64(len(res.durs)), describe(&res.worst))
	}
	fmt.Fprintln(out)

	fmt.Fprintf(out, "## Plans\n\nFor each filter, the slowest measured call's filter. The SQL is rebuilt as sink/search.go builds it and checked against the text Search sent (pg_stat_activity of the sink's connection) and against Search's rows. pgx runs Search as a prepared statement, cached per connection: its first five executions get custom plans (planned for the values, as shown), later ones the generic plan if the planner finds it no costlier than the average custom plan. “Plan cache” says which the kind's first calls got when run that way; the generic plan is printed when its shape differs. Statements of equal text share one cache entry on the sink's connection (e.g. “action” and “action, no match”).\n\n")
	// The calls the sink's connection made before, by SQL text: kinds
	// whose SQL is equal share one prepared statement.
	history := map[string][]sink.Filter{}
	for _, res := range results {
		q, _, err := searchQuery(&res.first[0])
		if err != nil {
			return err
		}
		calls := append(slices.Clone(history[q]), res.first...)
		history[q] = calls
		if err := explain(ctx, p, admin, res.k.name, res.worst, calls, out); err != nil {
			return fmt.Errorf("explain %s: %w", res.k.name, err)
		}
	}
	return printSizes(ctx, admin, out)
}

type summary struct{ p50, p95, p99, max float64 }

func stats(d []time.Duration) summary {
	if len(d) == 0 {
		return summary{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return ms(s[max(0, min(i, len(s)-1))])
	}
	return summary{q(0.50), q(0.95), q(0.99), ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func describe(f *sink.Filter) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("tenant", f.Tenant)
	add("user", f.User)
	add("session", f.Session)
	add("action", f.Action)
	add("tool", f.Tool)
	add("outcome", f.Outcome)
	add("model", f.Model)
	add("chain", f.Chain)
	if !f.From.IsZero() {
		add("from", f.From.Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		add("to", f.To.Format(time.RFC3339))
	}
	if f.After != nil {
		add("after", fmt.Sprintf("(%s,%s,%d)", record.FormatTime(f.After.TS), f.After.Chain, f.After.Seq))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// explain checks that the rebuilt SQL of f is what Search runs and prints
// its plans.
func explain(ctx context.Context, p *sink.Postgres, admin *pgx.Conn, name string, f sink.Filter, first []sink.Filter, out io.Writer) error {
	q, args, err := searchQuery(&f)
	if err != nil {
		return err
	}
	want, err := p.Search(ctx, f)
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
	if sent != q {
		return fmt.Errorf("rebuilt SQL differs from what Search sent (sink/search.go changed?):\nsent:    %s\nrebuilt: %s", sent, q)
	}
	rows, err := admin.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	var n int
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			rows.Close()
			return err
		}
		if n >= len(want) || vals[0] != want[n].Chain || vals[1] != int64(want[n].Seq) {
			rows.Close()
			return errors.New("rebuilt query returns other rows than Search")
		}
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if n != len(want) {
		return errors.New("rebuilt query returns other rows than Search")
	}

	fmt.Fprintf(out, "### %s\n\nFilter: %s; %d rows.\n\n```sql\n%s\n-- args: %s\n```\n\n", name, describe(&f), len(want), q, fmtArgs(args))
	custom, err := explainText(ctx, admin, q, args, false)
	if err != nil {
		return err
	}
	generic, err := explainText(ctx, admin, q, args, true)
	if err != nil {
		return err
	}
	gn, cn, err := planCache(ctx, admin, q, first)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Custom plan:\n\n```\n%s\n```\n\n", custom)
	fmt.Fprintf(out, "Plan cache: the first %d calls of this SQL text (of earlier kinds of equal SQL too), run as one prepared statement, got %d generic and %d custom plans.\n\n",
		len(first), gn, cn)
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
func planCache(ctx context.Context, conn *pgx.Conn, q string, filters []sink.Filter) (generic, custom int64, err error) {
	if _, err := conn.Exec(ctx, `PREPARE pgq_cache AS `+q); err != nil {
		return 0, 0, err
	}
	defer conn.Exec(ctx, `DEALLOCATE pgq_cache`) //nolint:errcheck // best effort
	for i := range filters {
		fq, args, err := searchQuery(&filters[i])
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

func printServer(ctx context.Context, conn *pgx.Conn, out io.Writer) error {
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
	fmt.Fprintf(out, "Server: %s.\n\n", strings.Join(parts, ", "))
	return nil
}

func printSizes(ctx context.Context, conn *pgx.Conn, out io.Writer) error {
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

func size(b int64) string {
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', 2, 64) + " GiB"
	case b >= 1<<20:
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(b)/(1<<10), 'f', 0, 64) + " kiB"
}

// ---------------------------------------------------------------------
// The SQL of sink.Postgres.Search

// searchQuery is the SQL text and arguments Search runs for f, so that the
// plans can be shown; explain also checks it against what Search sent.
func searchQuery(f *sink.Filter) (string, []any, error) { return sink.PostgresSearchSQL(*f) }

// Command pgquery measures sink.Postgres.Search, the query behind
// GET /v1/audit, on a large PostgreSQL table: it loads realistic sealed
// records through the real sink (migrations, partitions, Write), then runs
// each kind of filtered page through Search, reports latency percentiles
// as a markdown table, and prints EXPLAIN (ANALYZE, BUFFERS) of the exact
// SQL Search sends. See README.md.
package main

import (
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
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

type config struct {
	store, dsn, schema, path      string
	sqliteIndexes                 string // -sqlite-query-indexes; the explain step shows the SQL of a store with both
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
	flag.StringVar(&c.store, "store", "postgres", "postgres or sqlite")
	flag.StringVar(&c.dsn, "dsn", defDSN, "PostgreSQL DSN (default $AUDIT_BENCH_PG_DSN)")
	flag.StringVar(&c.schema, "schema", "bench_query", "PostgreSQL schema holding the benchmark table")
	flag.StringVar(&c.path, "db", filepath.Join(os.TempDir(), "audit-bench-query.db"), "SQLite file holding the benchmark table")
	flag.StringVar(&c.sqliteIndexes, "sqlite-query-indexes", "user,session", "sqlite: the store's query indexes (sinks[].query_indexes), comma-separated; \"\" for none")
	flag.IntVar(&c.rows, "rows", 10_000_000, "records to load")
	flag.IntVar(&c.chains, "chains", 0, "chains (sidecars) to spread the records over (default 50; sqlite: 4, one sidecar's restarts)")
	flag.IntVar(&c.queries, "queries", 200, "measured Search calls per filter kind")
	flag.IntVar(&c.sparse, "sparse", 20, "measured Search calls per filter kind that matches (almost) nothing")
	flag.IntVar(&c.warmup, "warmup", 10, "unmeasured Search calls per filter kind before measuring")
	flag.IntVar(&c.writers, "writers", 0, "writer goroutines while loading, each owning chains i mod writers (default 2; sqlite: 1, its one writer)")
	flag.IntVar(&c.batch, "batch", 0, "records per Write while loading (default 2000; sqlite: 1000)")
	flag.IntVar(&c.months, "months", 3, "months of data, ending now, the current month included; a monthly partition is created for each")
	flag.IntVar(&c.limit, "limit", 100, "Filter.Limit of each Search (the HTTP handler asks for page size + 1)")
	flag.BoolVar(&c.load, "load", false, "create and fill the schema or file (skipped when it already holds -rows records)")
	flag.BoolVar(&c.drop, "drop", false, "with -load: drop the schema or remove the file first")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the query values")
	flag.DurationVar(&c.budget, "budget", 3*time.Minute, "stop measuring a filter kind after this long")
	flag.Parse()
	// A sidecar's SQLite store holds the records of one agent pod: one
	// writer, and 4 chains of 16 live sessions each are the 64
	// interleaved sessions of the bench workload.
	def := func(v *int, pg, lite int) {
		if *v == 0 {
			*v = pg
			if c.store == "sqlite" {
				*v = lite
			}
		}
	}
	def(&c.chains, 50, 4)
	def(&c.writers, 2, 1)
	def(&c.batch, 2000, 1000)
	if c.chains < 1 || c.writers < 1 || c.batch < 1 || c.months < 1 || c.rows < c.chains {
		fatalf("bad flags")
	}
	ctx := context.Background()
	var load func(context.Context, *config) error
	var open func(context.Context, *config) (backend, error)
	switch c.store {
	case "postgres":
		load, open = loadPostgres, openPostgres
	case "sqlite":
		load, open = loadSQLite, openSQLite
	default:
		fatalf("-store must be postgres or sqlite")
	}
	if c.load {
		if err := load(ctx, &c); err != nil {
			fatalf("load: %v", err)
		}
	}
	if c.queries > 0 {
		b, err := open(ctx, &c)
		if err != nil {
			fatalf("open: %v", err)
		}
		err = measure(ctx, &c, b, os.Stdout)
		b.close()
		if err != nil {
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

// ---------------------------------------------------------------------
// Loading

// writeAll writes c.rows records through write, c.writers goroutines at
// once, each delivering its chains interleaved in time order, and
// returns how many it wrote and how long it took.
func writeAll(ctx context.Context, c *config, tl *timeline, write func(context.Context, []record.Sealed) error) (int64, time.Duration, error) {
	logf("loading %d records, %d chains, %d writers, batches of %d, ingested_at %s .. %s",
		c.rows, c.chains, c.writers, c.batch, tl.start.Format(time.DateOnly), tl.end.Format(time.RFC3339))
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
			// The next batches are made while one is written: making a
			// record (encoding, hashing) costs about as much as storing
			// it in SQLite.
			batches := make(chan []record.Sealed, 2)
			quit := make(chan struct{})
			defer close(quit)
			go func() {
				defer close(batches)
				g := newGenerator(c, w, tl)
				for {
					batch := g.fill(make([]record.Sealed, 0, c.batch), c.batch)
					if len(batch) == 0 {
						return
					}
					select {
					case batches <- batch:
					case <-quit:
						return
					}
				}
			}()
			for batch := range batches {
				if err := write(ctx, batch); err != nil {
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
		return 0, 0, err
	}
	el := time.Since(began)
	logf("loaded %d records in %s: %.0f records/s", done.Load(), el.Round(time.Second), float64(done.Load())/el.Seconds())
	return done.Load(), el, nil
}

// dataSpan is the ingested_at span of the records: c.months months
// ending at the last whole hour.
func dataSpan(c *config) (start, end time.Time) {
	end = time.Now().UTC().Truncate(time.Hour)
	return monthOf(end).AddDate(0, -(c.months - 1), 0), end
}

func monthOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// timeline maps a uniform position u in [0,1) to a time between start and
// end with a diurnal and weekly rhythm: busy working hours, quiet nights
// and weekends. It is strictly increasing in u.
type timeline struct {
	start, end time.Time
	cum        []float64 // cum[h] is the weight of the hours before hour h
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
	return &timeline{start: start, end: end, cum: cum}
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
	key                          sink.Key
	tenant, user, session, trace string
}

// backend is a store under measure: the sink, and a connection of its
// own to the same database to read samples, plans and sizes.
type backend interface {
	searchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error
	chains(ctx context.Context) ([]string, error)
	// extent is how many records there are and the least and greatest ts.
	extent(ctx context.Context) (n int64, minTS, maxTS string, err error)
	// samples returns about 20 000 rows drawn at random.
	samples(ctx context.Context, seed uint64) ([]sample, error)
	// header describes the store and the database.
	header(ctx context.Context, out io.Writer) error
	// plansIntro introduces the plans.
	plansIntro() string
	// explain prints the plan of Search's SQL for f, the slowest call of
	// its kind; first are the kind's first calls, warm-up included.
	explain(ctx context.Context, name string, f sink.Filter, first []sink.Filter, out io.Writer) error
	sizes(ctx context.Context, out io.Writer) error
	close()
}

func measure(ctx context.Context, c *config, b backend, out io.Writer) error {
	total, minTS, maxTS, err := b.extent(ctx)
	if err != nil {
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
	samples, err := b.samples(ctx, c.seed)
	if err != nil {
		return err
	}
	if len(samples) == 0 {
		return errors.New("no sampled rows")
	}
	chains, err := b.chains(ctx)
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
		{"trace", func(r *rand.Rand) sink.Filter { return sink.Filter{Trace: pick(r).trace} }, false},
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
		{"session + time 1h", func(r *rand.Rand) sink.Filter {
			s := pick(r)
			f, t := hour(r, s.key.TS)
			return sink.Filter{Session: s.session, From: f, To: t}
		}, false},
		{"action + time 1h", func(r *rand.Rand) sink.Filter {
			f, t := hour(r, time.Time{})
			return sink.Filter{Action: action(r), From: f, To: t}
		}, false},
		{"tool + time 1h", func(r *rand.Rand) sink.Filter {
			f, t := hour(r, time.Time{})
			return sink.Filter{Tool: tools[r.IntN(len(tools))], From: f, To: t}
		}, false},
		{"outcome + time 1h", func(r *rand.Rand) sink.Filter {
			f, t := hour(r, time.Time{})
			return sink.Filter{Outcome: record.Outcomes[r.IntN(len(record.Outcomes))], From: f, To: t}
		}, false},
		{"model + time 1h", func(r *rand.Rand) sink.Filter {
			f, t := hour(r, time.Time{})
			return sink.Filter{Model: models[r.IntN(len(models))], From: f, To: t}
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

	fmt.Fprintf(out, "## pgquery: Search on %d records\n\n", total)
	if err := b.header(ctx, out); err != nil {
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
		// bounded: calls that stopped at the search budget
		// (*sink.SearchBoundError) with a partial page and a position
		// to resume from, as the HTTP handler's next cursor.
		bounded int
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
			got, err := searchAll(ctx, b.searchEach, f)
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			if i < warm {
				continue
			}
			res.durs = append(res.durs, d)
			res.rows += len(got.rows)
			if got.bounded {
				res.bounded++
			}
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

	fmt.Fprintf(out, "| filter | calls | p50 ms | p95 ms | p99 ms | max ms | mean rows | stopped at the budget | slowest call's filter |\n")
	fmt.Fprintf(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, res := range results {
		s := stats(res.durs)
		mark := ""
		if s.p99 >= 50 {
			mark = " ⚠"
		}
		fmt.Fprintf(out, "| %s | %d | %.2f | %.2f | **%.2f**%s | %.2f | %.1f | %d | %s |\n", res.k.name, len(res.durs),
			s.p50, s.p95, s.p99, mark, s.max, float64(res.rows)/float64(len(res.durs)), res.bounded, describe(&res.worst))
	}
	fmt.Fprintln(out)

	fmt.Fprintf(out, "## Plans\n\n%s\n\n", b.plansIntro())
	for _, res := range results {
		if err := b.explain(ctx, res.k.name, res.worst, res.first, out); err != nil {
			return fmt.Errorf("explain %s: %w", res.k.name, err)
		}
	}
	return b.sizes(ctx, out)
}

// page is what one Search call returned.
type page struct {
	rows []sink.Row
	// bounded: the call stopped at the search budget with a partial
	// page (*sink.SearchBoundError).
	bounded bool
}

// searchAll runs searchEach, as the HTTP handler does (query.Reader),
// and takes a stop at the search budget for the partial page it is.
func searchAll(ctx context.Context, searchEach func(context.Context, sink.Filter, func(*sink.Row) error) error, f sink.Filter) (page, error) {
	var p page
	err := searchEach(ctx, f, func(r *sink.Row) error {
		p.rows = append(p.rows, sink.Row{Chain: r.Chain, Seq: r.Seq})
		return nil
	})
	if be := (*sink.SearchBoundError)(nil); errors.As(err, &be) {
		p.bounded, err = true, nil
	}
	return p, err
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
	add("trace", f.Trace)
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
// The SQL of Search

// rebuilt is the SQL of a Search call rebuilt as sink/search.go builds
// it: for a filter no index serves (read window by window), the probe of
// the first window and the query of that window.
type rebuilt struct {
	q     string
	args  []any
	probe string
	// probeArgs, upto: the probe's arguments and the position it found
	// (nil: fewer rows than a window are left).
	probeArgs []any
	upto      *sink.Key
	// texts are the texts Search's last statement may have: that of the
	// first chunk, or of a later one (after a position), with or without
	// the end of a window.
	texts []string
	limit int
}

// rebuild rebuilds the SQL of Search for f with the store's functions;
// runProbe runs a probe and returns the position it names.
func rebuild(f sink.Filter, searchSQL func(sink.Filter, *sink.Key) (string, []any, error),
	probeSQL func(sink.Filter) (string, []any, bool, error), runProbe func(string, []any) (*sink.Key, error)) (*rebuilt, error) {
	w := &rebuilt{limit: f.Limit}
	probe, pargs, windowed, err := probeSQL(f)
	if err != nil {
		return nil, err
	}
	if windowed {
		w.probe, w.probeArgs = probe, pargs
		if w.upto, err = runProbe(probe, pargs); err != nil {
			return nil, err
		}
	}
	if w.q, w.args, err = searchSQL(f, w.upto); err != nil {
		return nil, err
	}
	// A later chunk or window starts after a position at or past From.
	later := f
	later.After = &sink.Key{TS: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Chain: "x", Seq: 1}
	ends := []*sink.Key{nil}
	if windowed {
		ends = append(ends, &sink.Key{TS: time.Unix(0, 0).UTC(), Chain: "x", Seq: 1})
	}
	for _, g := range []sink.Filter{f, later} {
		for _, upto := range ends {
			q, _, err := searchSQL(g, upto)
			if err != nil {
				return nil, err
			}
			w.texts = append(w.texts, q)
		}
	}
	return w, nil
}

// check compares the rows of the rebuilt query (chain and seq) with
// Search's: the same, or for a search read in windows, the first of
// them (a window holds fewer rows than the page when few match).
func (w *rebuilt) check(got []sink.Row, want page) error {
	if len(got) > len(want.rows) || w.probe == "" && !want.bounded && len(got) != len(want.rows) ||
		w.probe != "" && len(got) < len(want.rows) && len(got) == w.limit {
		return fmt.Errorf("rebuilt query returns %d rows, Search %d", len(got), len(want.rows))
	}
	for i := range got {
		if got[i].Chain != want.rows[i].Chain || got[i].Seq != want.rows[i].Seq {
			return errors.New("rebuilt query returns other rows than Search")
		}
	}
	return nil
}

// parseKey is the position of a row a probe returned.
func parseKey(ts, chain string, seq int64) (*sink.Key, error) {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, err
	}
	return &sink.Key{TS: t.UTC(), Chain: chain, Seq: uint64(seq)}, nil
}

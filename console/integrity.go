package console

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/verify"
)

// Integrity is what the integrity page and the evidence bundle read. The
// command that serves the console wires it with what `audit-sidecar
// verify --config` and `audit-sidecar export` use, so that the console
// verifies and exports with the same code.
type Integrity struct {
	// Store is the console's store, read as verify and export read it:
	// whole chains, every tenant.
	Store verify.Store
	// Verify verifies st with the config's HMAC keys, public keys and
	// witnessed checkpoints, as `audit-sidecar verify` does: st is Store
	// (or a wrapper of it) as `verify --config` reads it, or an export file
	// (export true) as `verify --file` reads one with the same keys. The
	// report's Checked is filled, its Input too unless export. It returns
	// once ctx is done, with ctx's error. Its errors are for the log: they
	// name files and config keys, never a key's bytes.
	Verify func(ctx context.Context, st verify.Store, export bool) (*verify.Report, error)
	// Evidence returns the files of a bundle besides the export and its
	// report: the checkpoints' public keys and the witnessed checkpoints.
	// It is called at each download (the witness grows).
	Evidence func() (*EvidenceFiles, error)
	// Context ends the verifications run in the background (the server's
	// shutdown); nil: each runs to its end.
	Context context.Context
	// TempDir holds a bundle's export while it is verified; "" is
	// os.TempDir().
	TempDir string
}

// EvidenceFiles are files of an evidence bundle, named within their
// folder of it.
type EvidenceFiles struct {
	PublicKeys  []File // PEM, in keys/
	Checkpoints []File // witnessed checkpoints (signed notes), in witness/
	// SignerName is the key name in the checkpoints' signatures, for
	// verify's --signer-name.
	SignerName string
}

// File is a named file of an evidence bundle.
type File struct {
	Name string
	Data []byte
}

// integrity runs verifications in the background, one at a time, and
// keeps the last result.
type integrity struct {
	cfg  Integrity
	log  *zap.Logger
	now  func() time.Time
	mu   sync.Mutex
	cur  *verification // running, nil when none
	last *verification // the last one that ended, nil before
	wg   sync.WaitGroup
	// bundle is held by the evidence download being built: one at a time.
	bundle chan struct{}
}

// verification is one run: while it runs, its counts; once done, its
// report or why it failed.
type verification struct {
	by       string // the token's name that asked for it
	started  time.Time
	checked  atomic.Int64
	total    atomic.Int64 // the chains' newest seqs added up (0: not known)
	finished time.Time
	report   *verify.Report
	failed   bool
}

func newIntegrity(cfg *Integrity, log *zap.Logger, now func() time.Time) *integrity {
	if cfg == nil || cfg.Store == nil || cfg.Verify == nil {
		return nil
	}
	return &integrity{cfg: *cfg, log: log, now: now, bundle: make(chan struct{}, 1)}
}

// start starts a verification, or joins the one running; it reports
// whether it joined.
func (in *integrity) start(by string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cur != nil {
		return true
	}
	v := &verification{by: by, started: in.now()}
	in.cur = v
	ctx := in.cfg.Context
	if ctx == nil {
		ctx = context.Background()
	}
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		in.run(ctx, v)
	}()
	return false
}

func (in *integrity) run(ctx context.Context, v *verification) {
	log := in.log.With(zap.String("token", v.by))
	log.Info("console verification started")
	if t, ok := in.cfg.Store.(sink.TailReader); ok {
		if ids, err := in.cfg.Store.Chains(ctx); err == nil {
			var total uint64
			for _, id := range ids {
				if tail, ok, err := t.ChainTail(ctx, id); err == nil && ok {
					total += tail.Seq
				}
			}
			v.total.Store(int64(total))
		}
	}
	rep, err := in.cfg.Verify(ctx, countingStore{in.cfg.Store, &v.checked}, false)
	if err == nil && rep == nil {
		err = errNoReport
	}
	in.mu.Lock()
	v.finished, v.report, v.failed = in.now(), rep, err != nil
	in.cur, in.last = nil, v
	in.mu.Unlock()
	took := zap.Duration("took", v.finished.Sub(v.started))
	if err != nil {
		log.Error("console verification failed", zap.Error(err), zap.Int64("records_checked", v.checked.Load()), took)
		return
	}
	log.Info("console verification finished", zap.String("verdict", rep.Verdict), zap.Int64("records_checked", v.checked.Load()),
		zap.Int("problems", len(rep.Problems)), took)
}

// state returns the running verification and the last one ended.
func (in *integrity) state() (cur, last *verification) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cur, in.last
}

// wait waits for the verification running, if any, to end.
func (in *integrity) wait() { in.wg.Wait() }

// countingStore is a store whose Scan counts the rows it passes on.
type countingStore struct {
	verify.Store
	n *atomic.Int64
}

func (s countingStore) Scan(ctx context.Context, chain string, fn func(sink.Row) error) error {
	return s.Store.Scan(ctx, chain, func(row sink.Row) error {
		s.n.Add(1)
		return fn(row)
	})
}

// integrityPaths are the console's paths that integrity.go and
// evidence.go serve.
var integrityPaths = map[string]bool{
	Prefix + "integrity": true, Prefix + "integrity/progress": true,
	Prefix + "evidence.zip": true, Prefix + "static/integrity.js": true,
}

// serveIntegrity serves integrityPaths: the page (GET), a verification
// started or joined (POST, with the session's CSRF token), its progress
// as JSON (GET .../progress, for the page's script), the evidence bundle
// and the script. Each needs a session of a token without a tenant scope.
func (c *console) serveIntegrity(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == Prefix+"static/integrity.js" {
		if allowMethod(w, r, http.MethodGet) {
			c.static.ServeHTTP(w, r)
		}
		return
	}
	if c.integrity == nil {
		c.render(w, http.StatusNotFound, "error", nil, errorView{Title: "Not found", Message: "There is no such page in the console."})
		return
	}
	post := p == Prefix+"integrity" && r.Method == http.MethodPost
	if !post && !allowMethod(w, r, http.MethodGet) {
		return
	}
	if p == Prefix+"evidence.zip" && r.Method == http.MethodHead {
		// A HEAD would make the whole bundle for nothing.
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	_, ss := c.session(r)
	if ss == nil {
		http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
		return
	}
	log := c.log.With(zap.String("token", ss.principal.Name()), zap.String("remote", r.RemoteAddr))
	if ss.principal.Tenant() != "" {
		log.Warn("console integrity forbidden", zap.String("reason", "tenant-scoped token"), zap.String("path", p))
		c.render(w, http.StatusForbidden, "error", ss, errorView{Title: "Not for a tenant's token",
			Message: "The integrity check and the evidence bundle cover whole chains, which hold the records of every tenant: they need a token without a tenant scope."})
		return
	}
	switch {
	case post:
		if !sameOrigin(r) || !readForm(w, r) || !sameSecret(r.PostForm.Get("csrf"), ss.csrf) {
			c.failLog.Info("console verification refused", zap.String("reason", "csrf"), zap.String("remote", r.RemoteAddr))
			c.render(w, http.StatusForbidden, "error", ss, errorView{Title: "Refused", Message: "Start the verification with the integrity page's own button."})
			return
		}
		joined := c.integrity.start(ss.principal.Name())
		log.Info("console verification requested", zap.Bool("joined", joined))
		http.Redirect(w, r, Prefix+"integrity", http.StatusSeeOther)
	case p == Prefix+"integrity/progress":
		c.serveProgress(w)
	case p == Prefix+"evidence.zip":
		c.serveEvidence(w, r, ss, log)
	default:
		c.render(w, http.StatusOK, "integrity", ss, c.integrityView(ss))
	}
}

// progressJSON is the progress of a verification, for the page's script.
type progressJSON struct {
	Running bool  `json:"running"`
	Checked int64 `json:"checked"`
	Total   int64 `json:"total"`
	// Ended is when the last verification ended (RFC 3339; "" never):
	// the script reloads the page when it changes.
	Ended string `json:"ended"`
}

func (c *console) serveProgress(w http.ResponseWriter) {
	cur, last := c.integrity.state()
	var p progressJSON
	if cur != nil {
		p.Running, p.Checked, p.Total = true, cur.checked.Load(), cur.total.Load()
	}
	if last != nil {
		p.Ended = last.finished.UTC().Format(time.RFC3339Nano)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p)
}

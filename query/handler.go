package query

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fips-agents/audit-sidecar/sink"
)

// Store is what the HTTP API reads from.
//
// SearchEach calls fn for each of at most f.Limit (1..1000) rows matching
// every set field of f, ordered by (ts, chain, seq), starting strictly
// after f.After when it is set; From is inclusive, To exclusive. It stops
// at the first error of fn and returns it as is. The handler writes each
// row to the response inside fn, so SearchEach should hold no more than a
// few rows at once, and nothing a writer of the store needs (a
// connection, a lock, a read snapshot) while fn runs: the client may read
// slowly. fn does not keep the row after it returns. SearchEach is called
// concurrently from many requests and must not keep f.
type Store interface {
	SearchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error
}

// Config is what NewHandler needs.
type Config struct {
	Store  Store   // required
	Tokens []Token // as from LoadTokens; none means every /v1/audit request is 401
	// Ready reports readiness for /readyz: nil means ready. A nil Ready is
	// always ready.
	Ready func() error
	// Metrics is served at /metrics when non-nil.
	Metrics http.Handler
	// Logger receives request logs; nil means no logging.
	Logger *zap.Logger
	// MaxConcurrentQueries bounds the /v1/audit requests (pages and
	// exports) served at once; past it a request waits briefly, then is
	// 429. 0 means DefaultMaxConcurrentQueries.
	MaxConcurrentQueries int
	// Registerer, when set, receives the query metrics
	// (audit_queries_in_flight, audit_queries_rejected_total,
	// audit_http_unauthorized_total).
	Registerer prometheus.Registerer
	// WriteStall bounds how long a page or an export waits for its client
	// to take the next bytes: the write deadline of the connection is
	// renewed by that much before each write, so a client that reads
	// slowly but steadily is served, and one that stops reading is cut
	// and its query slot freed. 0 means DefaultWriteStall.
	WriteStall time.Duration
}

// DefaultWriteStall is Config.WriteStall when it is 0.
const DefaultWriteStall = 20 * time.Second

// Requests without a valid token are logged at most unauthorizedLogFirst
// times per unauthorizedLogTick (zap's sampler; the rest are dropped) and
// all counted by audit_http_unauthorized_total{reason}: an anonymous
// client must not decide how much the sidecar logs, nor push its own
// lines out of a rotated container log.
const (
	unauthorizedLogTick  = 10 * time.Second
	unauthorizedLogFirst = 5
)

type handler struct {
	store  Store
	creds  []credential
	ready  func() error
	log    *zap.Logger
	limit  *limiter
	routes map[string]http.HandlerFunc
	stall  time.Duration
	// unauthLog is log sampled for the lines of requests without a valid
	// token; unauthorized counts them by reason (nil: no metrics).
	unauthLog    *zap.Logger
	unauthorized *prometheus.CounterVec
}

// NewHandler returns the HTTP API: /v1/audit, /healthz, /readyz and, when
// configured, /metrics. It checks the tokens like LoadTokens does, except
// that any non-empty role is accepted (and denied at request time unless
// it is admin).
func NewHandler(cfg Config) (http.Handler, error) {
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func newHandler(cfg Config) (*handler, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("store: required"))
	}
	if err := validateTokens(cfg.Tokens, false); err != nil {
		errs = append(errs, err)
	}
	if cfg.MaxConcurrentQueries < 0 {
		errs = append(errs, errors.New("max concurrent queries: must not be negative"))
	}
	if cfg.WriteStall < 0 {
		errs = append(errs, errors.New("write stall: must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	maxQueries := cfg.MaxConcurrentQueries
	if maxQueries == 0 {
		maxQueries = DefaultMaxConcurrentQueries
	}
	h := &handler{store: cfg.Store, ready: cfg.Ready, log: cfg.Logger, limit: newLimiter(maxQueries, cfg.Registerer),
		stall: cfg.WriteStall}
	if h.stall == 0 {
		h.stall = DefaultWriteStall
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	h.unauthLog = h.log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, unauthorizedLogTick, unauthorizedLogFirst, 0)
	}))
	if cfg.Registerer != nil {
		h.unauthorized = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audit_http_unauthorized_total",
			Help: "GET /v1/audit requests refused with 401, by reason (missing: no bearer token; invalid: a token not configured). Their log lines are sampled.",
		}, []string{"reason"})
		for _, r := range []string{"missing", "invalid"} {
			h.unauthorized.WithLabelValues(r)
		}
		cfg.Registerer.MustRegister(h.unauthorized)
	}
	if h.ready == nil {
		h.ready = func() error { return nil }
	}
	for _, t := range cfg.Tokens {
		sum, _ := decodeHash(t.SHA256) // checked by validateTokens
		h.creds = append(h.creds, credential{hash: sum, name: t.Name, role: t.Role, tenant: t.Tenant})
	}
	h.routes = map[string]http.HandlerFunc{
		"/v1/audit": h.serveAudit,
		"/healthz":  h.serveHealth,
		"/readyz":   h.serveReady,
	}
	if cfg.Metrics != nil {
		h.routes["/metrics"] = cfg.Metrics.ServeHTTP
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every response, /metrics and the export included: a browser must
	// never take a record's text for HTML or script.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	route, ok := h.routes[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	route(w, r)
}

func (h *handler) serveHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) serveReady(w http.ResponseWriter, _ *http.Request) {
	if err := h.ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *handler) serveAudit(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cred, failure := h.authenticate(r.Header.Values("Authorization"))
	if cred == nil {
		if h.unauthorized != nil {
			h.unauthorized.WithLabelValues(failure.label()).Inc()
		}
		h.unauthLog.Info("audit query unauthorized", zap.String("reason", string(failure)),
			zap.String("remote", r.RemoteAddr))
		w.Header().Set("WWW-Authenticate", `Bearer realm="audit"`)
		writeError(w, http.StatusUnauthorized, string(failure))
		return
	}
	log := h.log.With(zap.String("token", cred.name), zap.String("remote", r.RemoteAddr))
	if cred.role != RoleAdmin {
		log.Warn("audit query forbidden", zap.String("reason", "role"), zap.String("role", cred.role))
		writeError(w, http.StatusForbidden, "token role may not read audit records")
		return
	}
	if vals, err := url.ParseQuery(r.URL.RawQuery); err == nil && vals.Has("format") {
		h.serveExport(w, r, cred, vals, log)
		return
	}
	f, req, err := scopedFilter(cred, r.URL.RawQuery)
	if perr := (*ParamError)(nil); errors.As(err, &perr) {
		log.Info("audit query rejected", zap.String("param", perr.Param), zap.String("reason", perr.Reason))
		writeError(w, http.StatusBadRequest, perr.Error())
		return
	} else if err != nil {
		log.Warn("audit query forbidden", zap.String("reason", "tenant"))
		writeError(w, http.StatusForbidden, err.Error())
		return
	}
	if req.nothing {
		writeBody(w, http.StatusOK, []byte(`{"records":[],"next_cursor":null}`+"\n"))
		return
	}
	release, ok := h.admit(w, r, cred)
	if !ok {
		log.Debug("audit query refused", zap.String("reason", "too many concurrent queries"))
		return
	}
	defer release()
	h.servePage(w, r, &f, req.limit, cred.tenant, log, start)
}

// scopedFilter parses a /v1/audit query for cred: its filters, the
// token's tenant scope applied (a token with a tenant is restricted to it,
// and naming another is ErrOutOfScope), and the cursor's position once
// its binding to those filters is checked. Limit is left unset. The one
// path from a query to a store filter, for the API and for Reader alike.
func scopedFilter(cred *credential, rawQuery string) (sink.Filter, *request, error) {
	req, perr := parseRequest(rawQuery)
	if perr != nil {
		return sink.Filter{}, nil, perr
	}
	f := req.filter
	if cred.tenant != "" {
		if f.Tenant != "" && f.Tenant != cred.tenant {
			return sink.Filter{}, nil, ErrOutOfScope
		}
		f.Tenant = cred.tenant
	}
	if req.cursor != nil {
		if !req.cursor.matches(&f) {
			return sink.Filter{}, nil, &ParamError{"cursor", "issued for different filters"}
		}
		f.After = req.cursor.key()
	}
	return f, req, nil
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	writeBody(w, status, append(body, '\n'))
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

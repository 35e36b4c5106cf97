package query

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// Store is what the HTTP API reads from.
//
// Search returns at most f.Limit (1..1000) rows matching every set field
// of f, ordered by (ts, chain, seq), starting strictly after f.After when it
// is set; From is inclusive, To exclusive. Search is called concurrently
// from many requests and must not keep f or modify the rows it returned.
type Store interface {
	Search(ctx context.Context, f sink.Filter) ([]sink.Row, error)
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
}

type handler struct {
	store  Store
	creds  []credential
	ready  func() error
	log    *zap.Logger
	routes map[string]http.HandlerFunc
}

// NewHandler returns the HTTP API: /v1/audit, /healthz, /readyz and, when
// configured, /metrics. It checks the tokens like LoadTokens does, except
// that any non-empty role is accepted (and denied at request time unless
// it is admin).
func NewHandler(cfg Config) (http.Handler, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("store: required"))
	}
	if err := validateTokens(cfg.Tokens, false); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	h := &handler{store: cfg.Store, ready: cfg.Ready, log: cfg.Logger}
	if h.log == nil {
		h.log = zap.NewNop()
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
		h.log.Info("audit query unauthorized", zap.String("reason", string(failure)),
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
	req, perr := parseRequest(r.URL.RawQuery)
	if perr != nil {
		log.Info("audit query rejected", zap.String("param", perr.Param), zap.String("reason", perr.Reason))
		writeError(w, http.StatusBadRequest, perr.Error())
		return
	}
	f := req.filter
	if cred.tenant != "" {
		if f.Tenant != "" && f.Tenant != cred.tenant {
			log.Warn("audit query forbidden", zap.String("reason", "tenant"))
			writeError(w, http.StatusForbidden, "tenant: outside the token's scope")
			return
		}
		f.Tenant = cred.tenant
	}
	if req.cursor != nil {
		if !req.cursor.matches(&f) {
			log.Info("audit query rejected", zap.String("param", "cursor"), zap.String("reason", "filters changed"))
			writeError(w, http.StatusBadRequest, "cursor: issued for different filters")
			return
		}
		f.After = req.cursor.key()
	}
	if req.nothing {
		writeBody(w, http.StatusOK, []byte(`{"records":[],"next_cursor":null}`+"\n"))
		return
	}
	rows, more, err := h.page(r.Context(), f, req.limit)
	if err == nil {
		err = checkScope(rows, cred.tenant)
	}
	var body []byte
	if err == nil {
		body, err = appendPage(nil, rows, more, &f)
	}
	if err != nil && r.Context().Err() != nil {
		log.Info("audit query canceled", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "request canceled")
		return
	}
	if err != nil {
		log.Error("audit query failed", zap.Error(err))
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	log.Info("audit query served", zap.Int("records", len(rows)), zap.Bool("more", more),
		zap.Duration("took", time.Since(start)))
	writeBody(w, http.StatusOK, body)
}

// page reads up to limit rows and reports whether more follow. It asks the
// store for one row more than it serves; at MaxLimit, which is also the
// store's maximum, a full page is followed by a one-row probe instead.
func (h *handler) page(ctx context.Context, f sink.Filter, limit int) ([]sink.Row, bool, error) {
	f.Limit = limit + 1
	probe := f.Limit > MaxLimit
	if probe {
		f.Limit = limit
	}
	rows, err := h.store.Search(ctx, f)
	if err != nil {
		return nil, false, err
	}
	if len(rows) > limit {
		return rows[:limit], true, nil
	}
	if !probe || len(rows) < limit {
		return rows, false, nil
	}
	last := rows[len(rows)-1]
	ts, err := time.Parse(time.RFC3339Nano, last.TS)
	if err != nil {
		return nil, false, err
	}
	f.After = &sink.Key{TS: ts.UTC(), Chain: last.Chain, Seq: last.Seq}
	f.Limit = 1
	extra, err := h.store.Search(ctx, f)
	if err != nil {
		return nil, false, err
	}
	return rows, len(extra) > 0, nil
}

// errOutOfScope is a store that returned another tenant's row to a
// tenant-scoped token: a bug that must not become a disclosure.
var errOutOfScope = errors.New("store returned a row outside the token's tenant")

func checkScope(rows []sink.Row, tenant string) error {
	if tenant == "" {
		return nil
	}
	for i := range rows {
		if rows[i].Tenant != tenant {
			return errOutOfScope
		}
	}
	return nil
}

// appendPage appends the 200 body: {"records":[...],"next_cursor":...}.
func appendPage(dst []byte, rows []sink.Row, more bool, f *sink.Filter) ([]byte, error) {
	dst = append(dst, `{"records":[`...)
	for i := range rows {
		row := &rows[i]
		var mac [32]byte
		if len(row.MAC) != len(mac) || len(row.Payload) < 2 {
			return nil, errors.New("row " + row.Chain + "/" + strconv.FormatUint(row.Seq, 10) + ": bad mac or payload")
		}
		copy(mac[:], row.MAC)
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = record.AppendJSON(dst, row.Payload, mac)
	}
	dst = append(dst, `],"next_cursor":`...)
	if more && len(rows) > 0 {
		c, err := encodeCursor(&rows[len(rows)-1], f)
		if err != nil {
			return nil, err
		}
		dst = append(dst, '"')
		dst = append(dst, c...) // base64url needs no escaping
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, "}\n"...), nil
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

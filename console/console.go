package console

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fips-agents/audit-sidecar/query"
)

// Prefix is the path the console is mounted at.
const Prefix = "/console/"

// Defaults of Config.
const (
	DefaultSessionTTL  = 8 * time.Hour
	DefaultMaxSessions = 1024
)

// Cookies: the session's id, and the CSRF token of the sign-in form.
const (
	sessionCookie = "audit_console_session"
	signinCookie  = "audit_console_signin"
	signinTTL     = 15 * time.Minute
	// maxFormBytes bounds a POST's body: a token and a CSRF token.
	maxFormBytes = 8 << 10
)

// csp allows the console's own stylesheet and scripts and nothing else:
// no inline script, no frames, no plugins, forms posting only to the
// console.
const csp = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// Failed sign-ins are logged at most signinLogFirst times per
// signinLogTick: an anonymous client does not decide how much the sidecar
// logs (as query's 401s).
const (
	signinLogTick  = 10 * time.Second
	signinLogFirst = 5
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what New needs.
type Config struct {
	Reader *query.Reader // required: tokens, scoping and pages of /v1/audit
	Logger *zap.Logger   // nil: no logging
	// SessionTTL is how long a session lasts from sign-in; 0 means
	// DefaultSessionTTL.
	SessionTTL time.Duration
	// MaxSessions bounds the open sessions; 0 means DefaultMaxSessions.
	MaxSessions int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Integrity, when not nil, serves the integrity page and the evidence
	// bundle (integrity.go, evidence.go).
	Integrity *Integrity
	// Registerer, when set, receives the console's metrics
	// (audit_console_signin_failures_total).
	Registerer prometheus.Registerer
	// Metrics, when set, are the sidecar's own metrics, read by the
	// overview for the sinks' lag; nil (the console alone) says it is
	// not available.
	Metrics prometheus.Gatherer
}

type console struct {
	reader    *query.Reader
	log       *zap.Logger
	failLog   *zap.Logger
	sessions  *sessions
	pages     map[string]*template.Template
	static    http.Handler
	routesGET map[string]func(http.ResponseWriter, *http.Request, string, *session)
	integrity *integrity // nil without Config.Integrity
	// limiter bounds failed sign-ins (ratelimit.go), counted by
	// signinFailures.
	limiter        *signinLimiter
	signinFailures *prometheus.CounterVec
	metrics        prometheus.Gatherer // the overview's sink lag; nil: none
}

// New returns the console's handler, for requests whose path starts with
// Prefix.
func New(cfg Config) (http.Handler, error) {
	var errs []error
	if cfg.Reader == nil {
		errs = append(errs, errors.New("reader: required"))
	}
	if cfg.SessionTTL < 0 {
		errs = append(errs, errors.New("session ttl: must not be negative"))
	}
	if cfg.MaxSessions < 0 {
		errs = append(errs, errors.New("max sessions: must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &console{reader: cfg.Reader, log: cfg.Logger, metrics: cfg.Metrics}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.failLog = c.log.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(core, signinLogTick, signinLogFirst, 0)
	}))
	ss := &sessions{m: map[string]*session{}, max: cfg.MaxSessions, ttl: cfg.SessionTTL, now: cfg.Now}
	if ss.max == 0 {
		ss.max = DefaultMaxSessions
	}
	if ss.ttl == 0 {
		ss.ttl = DefaultSessionTTL
	}
	if ss.now == nil {
		ss.now = time.Now
	}
	c.sessions = ss
	c.integrity = newIntegrity(cfg.Integrity, c.log, ss.now)
	c.limiter, c.signinFailures = newSigninLimiter(ss.now), newSigninFailures(cfg.Registerer)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	sub, _ := fs.Sub(staticFS, "static")
	c.static = http.StripPrefix(Prefix+"static/", http.FileServerFS(sub))
	c.routesGET = map[string]func(http.ResponseWriter, *http.Request, string, *session){
		Prefix + "search":   c.serveSearch,
		Prefix + "record":   c.serveRecord,
		Prefix + "story":    c.serveStory,
		Prefix + "overview": c.serveOverview,
	}
	return c, nil
}

func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	p := r.URL.Path
	switch {
	case p == Prefix+"signin":
		c.serveSignin(w, r)
		return
	case p == Prefix+"signout":
		if !allowMethod(w, r, http.MethodPost) {
			return
		}
		c.serveSignout(w, r)
		return
	case integrityPaths[p]:
		c.serveIntegrity(w, r)
		return
	case p == Prefix+"static/console.css":
		if allowMethod(w, r, http.MethodGet) {
			c.static.ServeHTTP(w, r)
		}
		return
	}
	route, known := c.routesGET[p]
	if !known && p != Prefix {
		c.render(w, http.StatusNotFound, "error", nil, errorView{Title: "Not found", Message: "There is no such page in the console."})
		return
	}
	if !allowMethod(w, r, http.MethodGet) {
		return
	}
	id, ss := c.session(r)
	if ss == nil {
		http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
		return
	}
	if !known {
		http.Redirect(w, r, Prefix+"search", http.StatusSeeOther)
		return
	}
	route(w, r, id, ss)
}

// allowMethod answers 405 unless r's method is m (GET takes HEAD too).
func allowMethod(w http.ResponseWriter, r *http.Request, m string) bool {
	if r.Method == m || m == http.MethodGet && r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", m)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// session returns the request's open session.
func (c *console) session(r *http.Request) (string, *session) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", nil
	}
	ss := c.sessions.get(ck.Value)
	if ss == nil {
		return "", nil
	}
	return ck.Value, ss
}

// cookie is one of the console's cookies: HttpOnly, SameSite=Strict,
// Path=/console/, Secure under TLS; maxAge < 0 deletes it.
func cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	ck := &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode}
	if maxAge < 0 {
		ck.MaxAge = -1
		ck.Expires = time.Unix(1, 0)
	} else {
		ck.MaxAge = int(maxAge / time.Second)
	}
	return ck
}

// sameOrigin refuses a POST that a browser says comes from another site.
// Sec-Fetch-Site, which a page cannot set, decides when it is sent;
// otherwise an Origin must name this host. With Referrer-Policy
// no-referrer a browser sends "Origin: null" even for the console's own
// forms, so null proves nothing either way. Clients that send neither
// header (not a browser) rely on the form's CSRF token alone.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// readForm parses a POST's form, bounded in size; false means refused.
func readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	return r.ParseForm() == nil
}

func (c *console) serveSignin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if _, ss := c.session(r); ss != nil {
			http.Redirect(w, r, Prefix+"search", http.StatusSeeOther)
			return
		}
		c.signinForm(w, r, http.StatusOK, "")
	case http.MethodPost:
		c.signin(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// signinForm renders the sign-in form with a fresh CSRF cookie.
func (c *console) signinForm(w http.ResponseWriter, r *http.Request, status int, problem string) {
	token := randomID()
	http.SetCookie(w, cookie(r, signinCookie, token, signinTTL))
	c.render(w, status, "signin", nil, signinView{CSRF: token, Problem: problem})
}

func (c *console) signin(w http.ResponseWriter, r *http.Request) {
	log := c.failLog.With(zap.String("remote", r.RemoteAddr))
	if !sameOrigin(r) || !readForm(w, r) {
		log.Info("console sign-in refused", zap.String("reason", "cross-site or malformed form"))
		c.render(w, http.StatusForbidden, "error", nil, errorView{Title: "Refused", Message: "This form must be sent from the console's own sign-in page."})
		return
	}
	ck, err := r.Cookie(signinCookie)
	if err != nil || !sameSecret(r.PostForm.Get("csrf"), ck.Value) {
		log.Info("console sign-in refused", zap.String("reason", "csrf"))
		c.signinForm(w, r, http.StatusForbidden, "The sign-in form expired. Paste the token again.")
		return
	}
	addr := clientAddr(r.RemoteAddr)
	if ok, wait := c.limiter.allow(addr); !ok {
		c.signinLimited(w, r, wait, log)
		return
	}
	p, err := c.reader.Authenticate(r.PostForm.Get("token"))
	switch {
	case errors.Is(err, query.ErrForbidden):
		c.limiter.release(addr)
		c.signinFailures.WithLabelValues(failRole).Inc()
		log.Info("console sign-in refused", zap.String("reason", "role"))
		c.signinForm(w, r, http.StatusForbidden, "This token's role may not read audit records.")
		return
	case err != nil:
		c.signinFailures.WithLabelValues(failInvalidToken).Inc()
		wait := c.limiter.fail(addr)
		log.Info("console sign-in refused", zap.String("reason", "invalid token"), zap.Duration("next_try_in", wait))
		c.signinForm(w, r, http.StatusUnauthorized, "The token was not accepted.")
		return
	}
	c.limiter.succeed(addr)
	if old, ss := c.session(r); ss != nil {
		c.sessions.close(old) // a sign-in always starts a new session id
	}
	id, _, err := c.sessions.open(p)
	if err != nil {
		c.log.Warn("console sign-in refused", zap.String("reason", err.Error()), zap.String("token", p.Name()))
		c.signinForm(w, r, http.StatusServiceUnavailable, "Too many people are signed in. Try again later.")
		return
	}
	c.log.Info("console sign-in", zap.String("token", p.Name()), zap.String("remote", r.RemoteAddr))
	http.SetCookie(w, cookie(r, signinCookie, "", -1))
	http.SetCookie(w, cookie(r, sessionCookie, id, c.sessions.ttl))
	http.Redirect(w, r, Prefix+"search", http.StatusSeeOther)
}

func (c *console) serveSignout(w http.ResponseWriter, r *http.Request) {
	id, ss := c.session(r)
	if ss == nil {
		http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
		return
	}
	if !sameOrigin(r) || !readForm(w, r) || !sameSecret(r.PostForm.Get("csrf"), ss.csrf) {
		c.failLog.Info("console sign-out refused", zap.String("reason", "csrf"), zap.String("remote", r.RemoteAddr))
		c.render(w, http.StatusForbidden, "error", ss, errorView{Title: "Refused", Message: "Sign out with the console's own button."})
		return
	}
	c.sessions.close(id)
	c.log.Info("console sign-out", zap.String("token", ss.principal.Name()))
	http.SetCookie(w, cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}

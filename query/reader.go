package query

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// Errors of Reader; their text may be shown to the reader.
var (
	ErrUnauthorized = errors.New("invalid token")
	ErrForbidden    = errors.New("token role may not read audit records")
	ErrOutOfScope   = errors.New("tenant: outside the token's scope")
	ErrBusy         = errors.New("too many concurrent queries; retry later")
	ErrNotFound     = errors.New("no such record")
	// ErrStoreSlow is a store statement that ran past its deadline.
	ErrStoreSlow = errors.New("the store took too long for this query; narrow it (from, to)")
)

// Reader is the read path of GET /v1/audit for a reader in the same
// process that is not one of its HTTP clients (the console): the same
// tokens, parameters, tenant scoping, cursors and bound on concurrent
// queries (a page of the console and a page of the API share the slots).
// Its methods are safe for concurrent use.
type Reader struct{ h *handler }

// NewReader checks cfg as NewHandler does and returns a Reader; Handler
// gives the HTTP API that shares its limiter and metrics.
func NewReader(cfg Config) (*Reader, error) {
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	return &Reader{h: h}, nil
}

// Handler returns the HTTP API served from r: NewHandler's routes with
// probes, NewAPIHandler's without.
func (r *Reader) Handler(probes bool) http.Handler {
	if probes {
		return r.h
	}
	return withoutProbes(r.h)
}

// Principal is an authenticated admin token: its configured name and
// tenant scope, never the token.
type Principal struct{ cred *credential }

// Name is the token's configured name, for logs.
func (p *Principal) Name() string { return p.cred.name }

// Tenant is the token's tenant, "" for every tenant.
func (p *Principal) Tenant() string { return p.cred.tenant }

// Authenticate returns the principal of token, compared as a bearer
// token of /v1/audit is (in constant time with every configured hash):
// ErrUnauthorized for an unknown token, ErrForbidden for a token whose
// role may not read records.
func (r *Reader) Authenticate(token string) (*Principal, error) {
	if token == "" {
		return nil, ErrUnauthorized
	}
	cred := r.h.credentialOf(token)
	switch {
	case cred == nil:
		return nil, ErrUnauthorized
	case cred.role != RoleAdmin:
		return nil, ErrForbidden
	}
	return &Principal{cred: cred}, nil
}

// maxPageBytes bounds the payload bytes of a Page: its rows are held
// until the caller is done with them, outside the bound on concurrent
// queries, and records may be megabytes each (source.max_line_bytes). A
// page stops past it, short, with a Next.
const maxPageBytes = 4 * sink.SearchChunkBytes

// Page is one page of records, in the order of /v1/audit.
type Page struct {
	Rows []sink.Row // copies, owned by the caller
	// Next is the cursor of the next page, "" on the last one.
	Next string
}

// Page returns the page of rawQuery (the parameters of a /v1/audit page,
// format excepted) for p: a *ParamError for a bad parameter,
// ErrOutOfScope for a tenant outside p's, ErrBusy when the concurrent
// queries are at their bound, ErrStoreSlow; any other error is the
// store's, not for the reader's eyes. A filter no index serves may give
// a short page, even an empty one, with a Next (see the package doc); so
// do records larger in all than maxPageBytes (4 MiB).
func (r *Reader) Page(ctx context.Context, p *Principal, rawQuery string) (*Page, error) {
	f, req, err := scopedFilter(p.cred, rawQuery)
	if err != nil {
		return nil, err
	}
	if req.nothing {
		return &Page{}, nil
	}
	release, err := r.admit(ctx, p)
	if err != nil {
		return nil, err
	}
	defer release()
	c := &collector{limit: req.limit, tenant: p.cred.tenant, maxBytes: maxPageBytes}
	q := f
	q.Limit = min(req.limit+1, MaxLimit)
	err = r.h.store.SearchEach(ctx, q, c.add)
	if err == nil && req.limit == MaxLimit && len(c.rows) == MaxLimit {
		q.Limit, q.After = 1, lastKey(&c.rows[len(c.rows)-1])
		if q.After == nil {
			return nil, errors.New("stored ts is not a time")
		}
		err = r.h.store.SearchEach(ctx, q, c.add)
	}
	var resume *sink.Row
	if be := (*sink.SearchBoundError)(nil); errors.As(err, &be) {
		c.more = true
		resume = &sink.Row{Chain: be.Resume.Chain, Seq: be.Resume.Seq, Columns: record.Columns{TS: record.FormatTime(be.Resume.TS)}}
		err = nil
	}
	switch {
	case errors.Is(err, errPageFull):
	case errors.Is(err, sink.ErrSearchTimeout):
		return nil, ErrStoreSlow
	case err != nil:
		return nil, err
	}
	page := &Page{Rows: c.rows}
	if c.more && (len(c.rows) > 0 || resume != nil) {
		at := resume
		if at == nil {
			at = &c.rows[len(c.rows)-1]
		}
		if page.Next, err = encodeCursor(at, &f); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// Record returns the record (chain, seq) whose event time is ts, as p
// may see it: ErrNotFound when there is none, or when it is outside p's
// tenant. It is one lookup of the store's time index.
func (r *Reader) Record(ctx context.Context, p *Principal, chain string, seq uint64, ts time.Time) (*sink.Row, error) {
	ts = ts.UTC()
	if chain == "" || seq == 0 || seq > math.MaxInt64 || ts.Year() < 1 || ts.Year() > 9999 {
		return nil, ErrNotFound
	}
	release, err := r.admit(ctx, p)
	if err != nil {
		return nil, err
	}
	defer release()
	f := sink.Filter{From: ts, To: ts.Add(time.Nanosecond), Chain: chain, Tenant: p.cred.tenant,
		After: &sink.Key{TS: ts, Chain: chain, Seq: seq - 1}, Limit: 1}
	c := &collector{limit: 1, tenant: p.cred.tenant}
	err = r.h.store.SearchEach(ctx, f, c.add)
	switch {
	case errors.Is(err, errPageFull), errors.As(err, new(*sink.SearchBoundError)):
	case errors.Is(err, sink.ErrSearchTimeout):
		return nil, ErrStoreSlow
	case err != nil:
		return nil, err
	}
	if len(c.rows) == 0 || c.rows[0].Chain != chain || c.rows[0].Seq != seq {
		return nil, ErrNotFound
	}
	return &c.rows[0], nil
}

func (r *Reader) admit(ctx context.Context, p *Principal) (release func(), err error) {
	release, ok := r.h.limit.acquire(ctx, p.cred)
	if ok {
		return release, nil
	}
	if r.h.limit.rejected != nil {
		r.h.limit.rejected.Inc()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrBusy
}

// collector gathers a page's rows, with the checks pageWriter makes of
// what the store returns.
type collector struct {
	limit  int
	tenant string
	rows   []sink.Row
	more   bool
	// maxBytes, when set, ends the page once its payloads reach it.
	maxBytes, bytes int
}

func (c *collector) add(row *sink.Row) error {
	if len(c.rows) == c.limit || c.maxBytes > 0 && c.bytes >= c.maxBytes {
		c.more = true
		return errPageFull
	}
	if c.tenant != "" && row.Tenant != c.tenant {
		return errOutOfScope
	}
	if len(row.MAC) != 32 || len(row.Payload) < 2 {
		return errors.New("row " + row.Chain + "/" + strconv.FormatUint(row.Seq, 10) + ": bad mac or payload")
	}
	cp := *row
	cp.Prev = append([]byte(nil), row.Prev...)
	cp.MAC = append([]byte(nil), row.MAC...)
	cp.Payload = append([]byte(nil), row.Payload...)
	c.rows = append(c.rows, cp)
	c.bytes += len(cp.Payload)
	return nil
}

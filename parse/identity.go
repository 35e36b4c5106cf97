package parse

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// MaxIdentities bounds the identity table: when full, the oldest request
// is forgotten.
const MaxIdentities = 65536

// Identities is who made each request, by request id, read from a
// gateway's JSON request log (one {"request_id", "subject", "tenant_id"}
// per line; user and tenant are accepted too). It is filled by one
// goroutine and read by the dialects of every source file: it is safe for
// concurrent use. It is in memory only and holds the newest MaxIdentities
// requests.
type Identities struct {
	mu sync.Mutex
	t  bounded[identity]
}

type identity struct{ user, tenant string }

// NewIdentities returns an empty table.
func NewIdentities() *Identities { return &Identities{t: bounded[identity]{max: MaxIdentities}} }

// Add reads one line of the request log; it reports whether the line gave
// a request id with a subject or a tenant.
func (t *Identities) Add(line []byte) bool {
	var l struct {
		RequestID json.RawMessage `json:"request_id"`
		Subject   json.RawMessage `json:"subject"`
		User      json.RawMessage `json:"user"`
		TenantID  json.RawMessage `json:"tenant_id"`
		Tenant    json.RawMessage `json:"tenant"`
	}
	if json.Unmarshal(line, &l) != nil {
		return false
	}
	id := identity{user: unquoteOr(l.Subject), tenant: unquoteOr(l.TenantID)}
	if id.user == "" {
		id.user = unquoteOr(l.User)
	}
	if id.tenant == "" {
		id.tenant = unquoteOr(l.Tenant)
	}
	rid := unquoteOr(l.RequestID)
	if rid == "" || id == (identity{}) {
		return false
	}
	t.mu.Lock()
	t.t.put(rid, id)
	t.mu.Unlock()
	return true
}

// Lookup returns the user and tenant of request id.
func (t *Identities) Lookup(id string) (user, tenant string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.t.get(id)
	return v.user, v.tenant, ok
}

// joined fills in the user and tenant of records that have a
// detail.request_id and lack them, from ids, and says in detail.identity
// whether the join found the request.
type joined struct {
	d   Dialect
	ids *Identities
}

func (j joined) Parse(l Line, now time.Time, emit func(*record.Record)) {
	j.d.Parse(l, now, func(r *record.Record) {
		if rid := unquoteOr(detailGet(r.Detail, "request_id")); rid != "" && (r.User == "" || r.Tenant == "") {
			if user, tenant, ok := j.ids.Lookup(rid); ok {
				if r.User == "" {
					r.User = user
				}
				if r.Tenant == "" {
					r.Tenant = tenant
				}
				addDetail(r, "identity", quote("joined by request_id"))
			} else {
				addDetail(r, "identity", quote("request_id not found in the identity log"))
			}
		}
		emit(r)
	})
}

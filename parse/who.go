package parse

import (
	"encoding/json"

	"github.com/fips-agents/audit-sidecar/record"
)

// Who did it: the user and the tenant of a record. Frameworks name them
// as each application chooses, so the configured key is tried first, then
// these spellings, in this order. They are documented in docs/dialects.md
// ("Who did it").
var (
	userKeys   = []string{"user_id", "userId", "user.id", "enduser.id", "user"}
	tenantKeys = []string{"tenant_id", "tenantId", "tenant.id", "tenant", "org_id", "orgId", "organization_id", "org"}
)

// pickKey returns the value and the key of the first of configured and
// then keys that get finds with a non-empty value.
func pickKey(get func(string) (string, bool), configured string, keys []string) (val, key string) {
	if configured != "" {
		if v, ok := get(configured); ok && v != "" {
			return v, configured
		}
	}
	for _, k := range keys {
		if k == configured {
			continue
		}
		if v, ok := get(k); ok && v != "" {
			return v, k
		}
	}
	return "", ""
}

// idScalar is an identity value of a JSON map: a string, or a number's
// text; anything else (an object, a list) is no identity.
func idScalar(m map[string]json.RawMessage) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		if !ok || len(v) == 0 || v[0] == '{' || v[0] == '[' {
			return "", false
		}
		s := unquoteOr(v)
		return s, s != ""
	}
}

// carried is who did what in each trace or run, by its id, to give to
// the records of that trace or run that do not say it themselves. It
// holds at most MaxPending traces; the oldest is forgotten.
type carried struct{ t bounded[identity] }

// note records the user and tenant a record of trace id says.
func (c *carried) note(id, user, tenant string) {
	if id == "" || user == "" && tenant == "" {
		return
	}
	old, ok := c.t.get(id)
	if ok && (user == "" || old.user == user) && (tenant == "" || old.tenant == tenant) {
		return
	}
	if user == "" {
		user = old.user
	}
	if tenant == "" {
		tenant = old.tenant
	}
	c.t.put(id, identity{user, tenant})
}

// fill gives r the user and tenant its trace id is known for, when it
// lacks them, and says so in detail.identity.
func (c *carried) fill(r *record.Record, id, note string) {
	if r.User != "" && r.Tenant != "" {
		return
	}
	who, ok := c.t.get(id)
	if !ok {
		return
	}
	filled := false
	if r.User == "" && who.user != "" {
		r.User, filled = who.user, true
	}
	if r.Tenant == "" && who.tenant != "" {
		r.Tenant, filled = who.tenant, true
	}
	if filled {
		addDetail(r, "identity", quote(note))
	}
}

package parse

// otlpUserKeys and otlpTenantKeys are the attributes tried after the
// configured ones: the semantic conventions' user.id (enduser.id before
// it), then the common spellings.
var (
	otlpUserKeys   = append([]string{"user.id", "enduser.id"}, userKeys...)
	otlpTenantKeys = append([]string{"tenant.id"}, tenantKeys...)
)

type keyed struct{ val, key string }

// identity returns the user and tenant of a span's attributes (resource
// attributes included), and the attributes they came from.
func (d *otlpDialect) identity(attrs map[string]otlpValue) (user, tenant keyed) {
	get := func(k string) (string, bool) {
		v, ok := attrs[k]
		if !ok || v.StringValue == nil && v.IntValue == nil {
			return "", false
		}
		return v.text(), true
	}
	user.val, user.key = pickKey(get, d.cfg.UserAttribute, otlpUserKeys)
	tenant.val, tenant.key = pickKey(get, d.cfg.TenantAttribute, otlpTenantKeys)
	return user, tenant
}

// noteIdentity remembers the user and tenant of sp's trace: a root
// span's, or another span's when the trace has none yet.
func (d *otlpDialect) noteIdentity(sp otlpSpan, resource []otlpKV, root bool) {
	if sp.TraceID == "" {
		return
	}
	if _, known := d.who.t.get(sp.TraceID); known && !root {
		return
	}
	attrs := make(map[string]otlpValue, len(resource)+len(sp.Attributes))
	for _, kv := range resource {
		attrs[kv.Key] = kv.Value
	}
	for _, kv := range sp.Attributes {
		attrs[kv.Key] = kv.Value
	}
	user, tenant := d.identity(attrs)
	d.who.note(sp.TraceID, user.val, tenant.val)
}

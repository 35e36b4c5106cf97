package pipeline

import "github.com/fips-agents/audit-sidecar/redact"

// ExplainJSONFunc makes upper a Redactor: its hits, one by one.
func (u upper) ExplainJSONFunc(dst, src []byte, root string, counts map[string]int, hit func(redact.Hit)) ([]byte, error) {
	out, hits, err := u.ExplainJSON(dst, src, root, counts)
	for _, h := range hits {
		hit(h)
	}
	return out, err
}

package parse

// bounded is a map of at most max entries (0: MaxPending) that forgets
// the oldest inserted key when full. It keeps per-file dialect state small
// whatever the input.
type bounded[V any] struct {
	max   int
	m     map[string]V
	order []string // keys, oldest first (a key put again keeps its place)
}

func (b *bounded[V]) get(k string) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

func (b *bounded[V]) put(k string, v V) {
	if k == "" {
		return
	}
	if b.m == nil {
		b.m = map[string]V{}
	}
	if _, ok := b.m[k]; !ok {
		limit := b.max
		if limit == 0 {
			limit = MaxPending
		}
		if len(b.order) >= limit {
			delete(b.m, b.order[0])
			b.order = b.order[1:]
		}
		b.order = append(b.order, k)
	}
	b.m[k] = v
}

func (b *bounded[V]) del(k string) {
	if _, ok := b.m[k]; !ok {
		return
	}
	delete(b.m, k)
	for i, o := range b.order {
		if o == k {
			b.order = append(b.order[:i], b.order[i+1:]...)
			break
		}
	}
}

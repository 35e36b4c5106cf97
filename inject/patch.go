package inject

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
)

// Op is one JSON patch (RFC 6902) operation.
type Op struct {
	Op    string `json:"op"` // add, remove, replace
	Path  string `json:"path"`
	Value any    `json:"value"` // not written for remove
}

// MarshalJSON writes value for add and replace only: a null added is a
// value, a remove has none.
func (o Op) MarshalJSON() ([]byte, error) {
	if o.Op == "remove" {
		return json.Marshal(struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}{o.Op, o.Path})
	}
	type plain Op
	return json.Marshal(plain(o))
}

// Patch is the JSON patch that turns the JSON document before into after.
// Members are added, removed or replaced one by one; an array that only
// grew gets its new elements added at its end, any other changed array is
// replaced whole (a pod's lists are short).
func Patch(before, after []byte) ([]Op, error) {
	a, err := decodeJSON(before)
	if err != nil {
		return nil, err
	}
	b, err := decodeJSON(after)
	if err != nil {
		return nil, err
	}
	ops := []Op{}
	diff(&ops, "", a, b)
	return ops, nil
}

func diff(ops *[]Op, at string, a, b any) {
	if reflect.DeepEqual(a, b) {
		return
	}
	switch bv := b.(type) {
	case map[string]any:
		av, ok := a.(map[string]any)
		if !ok {
			break
		}
		for _, k := range sortedKeys(av) {
			if _, ok := bv[k]; !ok {
				*ops = append(*ops, Op{Op: "remove", Path: at + "/" + escape(k)})
			}
		}
		for _, k := range sortedKeys(bv) {
			if old, ok := av[k]; ok {
				diff(ops, at+"/"+escape(k), old, bv[k])
			} else {
				*ops = append(*ops, Op{Op: "add", Path: at + "/" + escape(k), Value: bv[k]})
			}
		}
		return
	case []any:
		av, ok := a.([]any)
		if !ok || len(bv) < len(av) || !reflect.DeepEqual(av, bv[:len(av)]) {
			break
		}
		for _, v := range bv[len(av):] {
			*ops = append(*ops, Op{Op: "add", Path: at + "/-", Value: v})
		}
		return
	}
	*ops = append(*ops, Op{Op: "replace", Path: at, Value: b})
}

// decodeJSON is the one JSON value of doc, numbers kept as written (an
// int64 beyond 2^53 stays exact).
func decodeJSON(doc []byte) (any, error) {
	if !json.Valid(doc) {
		return nil, errors.New("not one JSON value")
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// escape is a member name as a JSON pointer token (RFC 6901).
func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	// sorted, so the same pods give the same patch
	slices.Sort(ks)
	return ks
}

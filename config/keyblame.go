package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	lineRE     = regexp.MustCompile(`line (\d+): `)
	unknownRE  = regexp.MustCompile(`^field (\S+) not found in type \S+`)
	typeRE     = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `([^`]*)`)? into (\\S+)")
	repeatedRE = regexp.MustCompile(`^mapping key "((?:[^"\\]|\\.)*)" already defined`)
)

// withKeys adds the key path to each "line N: " of a YAML error, so that a
// type error names its key like every validation error does.
//
// The decoder says only the line, and a line in flow style holds many
// keys ({path: x, batch_wait: 50 ms}); the key is the one whose node
// matches what the error says of it: the unknown key's name, the value
// (as the decoder shows it, cut after 7 characters) or its kind. The
// decoder reports in document order, so the k-th error of one text on a
// line is the k-th matching node.
func withKeys(doc []byte, msg string) string {
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil {
		return msg
	}
	nodes := pathNodes(&root, "", nil)
	seen := map[string]int{}
	var b strings.Builder
	last := 0
	for _, m := range lineRE.FindAllStringSubmatchIndex(msg, -1) {
		var line int
		fmt.Sscanf(msg[m[2]:m[3]], "%d", &line)
		rest := msg[m[1]:]
		if i := strings.Index(rest, "; line "); i >= 0 {
			rest = rest[:i]
		}
		nth := seen[fmt.Sprint(line, rest)]
		seen[fmt.Sprint(line, rest)]++
		b.WriteString(msg[last:m[1]])
		last = m[1]
		if sub := unknownRE.FindStringSubmatch(rest); sub != nil {
			if k, ok := pick(nodes, nth, func(n pathNode) bool { return n.key != nil && n.key.Line == line && n.key.Value == sub[1] }); ok {
				b.WriteString(k + ": unknown key")
				last += len(sub[0])
			}
			continue
		}
		match := func(n pathNode) bool { return n.key != nil && n.key.Line == line }
		if sub := typeRE.FindStringSubmatch(rest); sub != nil {
			match = func(n pathNode) bool {
				t := typeAt(reflect.TypeFor[Config](), n.path)
				return n.value.Line == line && sameNode(n.value, sub[1], sub[2]) && (t == nil || t.String() == sub[3])
			}
		} else if sub := repeatedRE.FindStringSubmatch(rest); sub != nil {
			match = func(n pathNode) bool {
				return n.key != nil && n.key.Line == line && strconv.Quote(n.key.Value) == `"`+sub[1]+`"`
			}
		}
		if k, ok := pick(nodes, nth, match); ok {
			b.WriteString(k + ": ")
		}
	}
	b.WriteString(msg[last:])
	return b.String()
}

// pathNode is one value of a document with its dotted path, and its key
// when it is a mapping's value (nil for a sequence's item).
type pathNode struct {
	path       string
	key, value *yaml.Node
}

// pathNodes lists every value below n in document order.
func pathNodes(n *yaml.Node, prefix string, out []pathNode) []pathNode {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = pathNodes(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			out = append(out, pathNode{key, n.Content[i], n.Content[i+1]})
			out = pathNodes(n.Content[i+1], key, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			out = append(out, pathNode{p, nil, c})
			out = pathNodes(c, p, out)
		}
	}
	return out
}

// sameNode says whether n is the node a type error shows as tag and value.
func sameNode(n *yaml.Node, tag, value string) bool {
	switch tag {
	case "!!map":
		return n.Kind == yaml.MappingNode
	case "!!seq":
		return n.Kind == yaml.SequenceNode
	}
	if n.Kind != yaml.ScalarNode {
		return false
	}
	if cut, ok := strings.CutSuffix(value, "..."); ok && len(n.Value) > 10 {
		return strings.HasPrefix(n.Value, cut)
	}
	return n.Value == value
}

// typeAt returns the Go type the decoder fills at a dotted path below t
// (nil if the path is not one of t's).
func typeAt(t reflect.Type, path string) reflect.Type {
	for path != "" {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if path[0] == '[' {
			i := strings.IndexByte(path, ']')
			if i < 0 || t.Kind() != reflect.Slice {
				return nil
			}
			t, path = t.Elem(), strings.TrimPrefix(path[i+1:], ".")
			continue
		}
		name := path
		if i := strings.IndexAny(path, ".["); i >= 0 {
			name, path = path[:i], strings.TrimPrefix(path[i:], ".")
		} else {
			path = ""
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			f, ok := fieldByTag(t, name)
			if !ok {
				return nil
			}
			t = f.Type
		default:
			return nil
		}
	}
	return t
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name || (tag == "" && strings.EqualFold(f.Name, name)) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// pick returns the path of the nth node that matches (the last one when
// fewer match).
func pick(nodes []pathNode, nth int, match func(pathNode) bool) (string, bool) {
	found := ""
	for _, n := range nodes {
		if match(n) {
			found = n.path
			if nth == 0 {
				break
			}
			nth--
		}
	}
	return found, found != ""
}

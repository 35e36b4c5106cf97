package verify

import (
	"bufio"
	"encoding/json"
	"io"
)

// WriteJSON writes rep as JSON, byte for byte as
// json.NewEncoder(w) with SetIndent("", "  ") encodes it, but member by
// member and each chain and exposure line on its own, so that a report of
// many chains is never held twice in memory as text.
func WriteJSON(w io.Writer, rep *Report) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	r := reportJSON(*rep)
	r.Checked = rep.Explained()
	var err error
	value := func(v any, prefix string) {
		if err != nil {
			return
		}
		var b []byte
		if b, err = json.MarshalIndent(v, prefix, "  "); err == nil {
			_, err = bw.Write(b)
		}
	}
	str := func(s string) {
		if err == nil {
			_, err = bw.WriteString(s)
		}
	}
	member := func(name string, first bool) {
		if !first {
			str(",")
		}
		str("\n  ")
		value(name, "")
		str(": ")
	}
	// array writes a slice of n elements (nil: null) one element at a time.
	array := func(isNil bool, n int, elem func(i int) any) {
		switch {
		case isNil:
			str("null")
			return
		case n == 0:
			str("[]")
			return
		}
		str("[")
		for i := range n {
			if i > 0 {
				str(",")
			}
			str("\n    ")
			value(elem(i), "    ")
		}
		str("\n  ]")
	}
	str("{")
	member("verdict", true)
	value(r.Verdict, "  ")
	member("chains", false)
	array(r.Chains == nil, len(r.Chains), func(i int) any { return &r.Chains[i] })
	member("problems", false)
	array(r.Problems == nil, len(r.Problems), func(i int) any { return r.Problems[i] })
	member("gaps", false)
	array(r.Gaps == nil, len(r.Gaps), func(i int) any { return r.Gaps[i] })
	member("exposure", false)
	array(r.Exposure == nil, len(r.Exposure), func(i int) any { return r.Exposure[i] })
	member("scope", false)
	value(r.Scope, "  ")
	if r.Checked != nil {
		member("checked", false)
		value(r.Checked, "  ")
	}
	str("\n}\n")
	if err != nil {
		return err
	}
	return bw.Flush()
}

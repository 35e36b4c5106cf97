package verify

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/chain"
)

// reasonFormats returns every problem reason the verifier can produce, as
// written in the source of chain, verify and the verify command: the
// format of each v.fail / v.Fail / v.Unverifiable call, and each Reason of
// a VerifyError literal (a concatenation keeps its literal prefix).
func reasonFormats(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, glob := range []string{"../chain/*.go", "*.go", "../cmd/audit-sidecar/*.go"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok || (sel.Sel.Name != "fail" && sel.Sel.Name != "Fail" && sel.Sel.Name != "Unverifiable") {
						return true
					}
					for _, a := range n.Args {
						if s, ok := literal(a); ok {
							out[s] = fset.Position(a.Pos()).String()
							break
						}
					}
				case *ast.KeyValueExpr:
					if id, ok := n.Key.(*ast.Ident); ok && id.Name == "Reason" {
						if s, ok := literal(n.Value); ok {
							out[s] = fset.Position(n.Pos()).String()
						} else if b, ok := n.Value.(*ast.BinaryExpr); ok {
							if s, ok := literal(b.X); ok {
								out[s+"%s"] = fset.Position(n.Pos()).String()
							}
						}
					}
				}
				return true
			})
		}
	}
	if len(out) < 40 {
		t.Fatalf("found only %d reasons: the scan is broken", len(out))
	}
	return out
}

func literal(e ast.Expr) (string, bool) {
	l, ok := e.(*ast.BasicLit)
	if !ok || l.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(l.Value)
	return s, err == nil
}

// sampleVerbs fills a format's verbs with sample values.
var sampleVerbs = strings.NewReplacer("%d", "17", "%q", `"demo-agent"`, "%s", "2026-03-04T10:00:00.000000000Z", "%v", "v")

// Every reason the verifier can produce has a plain explanation: a new
// reason without one fails here, naming where it is written.
func TestExplain_EveryReason(t *testing.T) {
	for format, where := range reasonFormats(t) {
		reason := sampleVerbs.Replace(format)
		p := Explain(&chain.VerifyError{Chain: "demo-agent", Seq: 17, Reason: reason})
		if !p.Known {
			t.Errorf("%s: reason %q has no plain explanation", where, format)
			continue
		}
		if p.What == "" || p.Means == "" || strings.Contains(p.What+p.Means, "$") {
			t.Errorf("%s: reason %q: what %q, means %q", where, format, p.What, p.Means)
		}
	}
}

// The place a problem is about: a record, a range, the chain as a whole
// (seq 0, or a reason about the chain), a witnessed checkpoint; and an
// unknown reason keeps its text.
func TestExplain_Where(t *testing.T) {
	for _, tc := range []struct {
		e                  chain.VerifyError
		about, where, what string
		known              bool
	}{
		{chain.VerifyError{Chain: "a", Seq: 5, Reason: "mac mismatch"}, AboutRecord, `chain "a", record 5`, "The record's content does not match its integrity code (MAC).", true},
		{chain.VerifyError{Chain: "a", Seq: 3, Through: 5, Reason: "records missing"}, AboutRecords, `chain "a", records 3 to 5`, "Records are missing from the chain.", true},
		{chain.VerifyError{Chain: "a", Seq: 0, Reason: "the newest checkpoint is older than the freshness bound 1h0m0s, or there is none: x"}, AboutChain, `chain "a" as a whole`,
			"The chain's newest signed checkpoint is older than the freshness bound (1h0m0s), or it has none.", true},
		{chain.VerifyError{Chain: "a", Seq: 1, Reason: "chain has no records"}, AboutChain, `chain "a" as a whole`, "The chain is listed in the store but holds no records.", true},
		{chain.VerifyError{Chain: "a", Seq: 40, Reason: "witnessed checkpoint is not signed by a trusted key", Unverifiable: true}, AboutWitness,
			`the checkpoint of chain "a" kept off the pod (40 records)`, "A checkpoint kept off the pod is not signed by any public key given to this check.", true},
		{chain.VerifyError{Chain: "a", Seq: 9, Reason: "something new happened"}, AboutRecord, `chain "a", record 9`, "something new happened", false},
		{chain.VerifyError{Chain: "a", Seq: 0, Reason: "something new about the chain"}, AboutChain, `chain "a" as a whole`, "something new about the chain", false},
	} {
		p := Explain(&tc.e)
		if p.About != tc.about || p.Where != tc.where || p.What != tc.what || p.Known != tc.known || p.Reason != tc.e.Reason {
			t.Errorf("%q:\n got %+v\nwant about %s, where %q, what %q, known %v", tc.e.Reason, p, tc.about, tc.where, tc.what, tc.known)
		}
		if want := map[bool]string{false: KindInvalid, true: KindUnverifiable}[tc.e.Unverifiable]; p.Kind != want {
			t.Errorf("%q: kind %s", tc.e.Reason, p.Kind)
		}
	}
}

// exposureFormats returns the lines exposure can write: the literal of
// each append and the format of each fmt.Sprintf in its source.
func exposureFormats(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	var out []string
	files, _ := filepath.Glob("*.go")
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, exposureLiterals(f)...)
	}
	if len(out) < 6 {
		t.Fatalf("found only %d exposure lines: the scan is broken", len(out))
	}
	return out
}

// exposureLiterals are the string literals appended or formatted by the
// functions exposure and Standing of f.
func exposureLiterals(f *ast.File) []string {
	var out []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "exposure" && fn.Name.Name != "Standing" {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			name := ""
			switch f := call.Fun.(type) {
			case *ast.Ident:
				name = f.Name
			case *ast.SelectorExpr:
				name = f.Sel.Name
			}
			if name != "append" && name != "Sprintf" {
				return true
			}
			for _, a := range call.Args {
				s, ok := literal(a)
				switch {
				case !ok:
				case strings.HasPrefix(s, "; ") && len(out) > 0:
					// A continuation (s += ...): the line before, extended.
					out = append(out, out[len(out)-1]+s)
				default:
					out = append(out, s)
				}
			}
			return true
		})
	}
	return out
}

// Every exposure line has a plain form ("what remains unprotected"), and
// an unknown line is kept as it is.
func TestUnprotected_EveryExposure(t *testing.T) {
	samples := strings.NewReplacer("%d", "17", "%q", `"demo-agent"`, "%s", "demo-agent", "%v", "v")
	for _, format := range exposureFormats(t) {
		line := samples.Replace(format)
		// A time in the line is formatted by record.FormatTime.
		line = regexp.MustCompile(` at demo-agent`).ReplaceAllString(line, " at "+time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC).Format(time.RFC3339Nano))
		if got := Unprotected(line); got == line || strings.Contains(got, "$") {
			t.Errorf("exposure %q has no plain form (got %q)", format, got)
		}
	}
	if got := Unprotected("something new"); got != "something new" {
		t.Errorf("unknown line became %q", got)
	}
}

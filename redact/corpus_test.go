package redact

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus.jsonl and the report in docs/redaction.md")

const (
	corpusFile  = "testdata/corpus.jsonl"
	reportFile  = "../docs/redaction.md"
	reportBegin = "<!-- corpus-report:begin -->\n"
	reportEnd   = "<!-- corpus-report:end -->\n"
)

// Minimum scores. Tier 2 are the types found only in context.
const (
	minRecallTier1 = 0.99
	minRecallTier2 = 0.95
	minPrecision   = 0.99
)

var tier2 = []string{TypeDOB, TypePassport, TypeMRN}

func TestCorpus_UpToDate(t *testing.T) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, it := range genCorpus() {
		if err := enc.Encode(it); err != nil {
			t.Fatal(err)
		}
	}
	if *update {
		if err := os.WriteFile(corpusFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, buf.Bytes()) {
		t.Errorf("%s differs from genCorpus: run go test -run TestCorpus -update", corpusFile)
	}
}

func readCorpus(t *testing.T) []corpusItem {
	f, err := os.Open(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var items []corpusItem
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var it corpusItem
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return items
}

// redactItem runs the item through String or JSON with every pack on.
func redactItem(t *testing.T, r *Redactor, it corpusItem) (string, map[string]int) {
	counts := map[string]int{}
	if it.Form == "json" {
		out, err := r.JSON(nil, []byte(it.Text), counts)
		if err != nil {
			t.Fatalf("%s: %v", it.Class, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%s: invalid JSON out", it.Class)
		}
		return string(out), counts
	}
	return r.String(it.Text, counts), counts
}

type score struct{ n, ok int }

func (s score) rate() float64 { return float64(s.ok) / float64(max(s.n, 1)) }

// TestCorpus_Score measures recall per type on the labelled values and
// precision on the look-alikes, with every pack on, and keeps the report
// in docs/redaction.md current.
func TestCorpus_Score(t *testing.T) {
	r := mustNew(t, Config{Packs: allPacks})
	recall := map[string]*score{}
	look := map[string]*score{}
	var lookAll score
	for _, it := range readCorpus(t) {
		out, counts := redactItem(t, r, it)
		if it.Type == "" {
			s := look[it.Class]
			if s == nil {
				s = &score{}
				look[it.Class] = s
			}
			s.n++
			lookAll.n++
			if len(counts) == 0 && !strings.Contains(out, "[REDACTED") {
				s.ok++
				lookAll.ok++
			} else {
				t.Logf("look-alike changed (%s, %s): %q -> %q", it.Class, it.Form, it.Text, out)
			}
			continue
		}
		s := recall[it.Type]
		if s == nil {
			s = &score{}
			recall[it.Type] = s
		}
		s.n++
		esc, _ := json.Marshal(it.Value)
		survived := strings.Contains(out, it.Value) || strings.Contains(out, string(esc[1:len(esc)-1]))
		if !survived && counts[it.Type] > 0 {
			s.ok++
		} else {
			t.Logf("missed %s (%s, %s): %q -> %q counts %v", it.Type, it.Class, it.Form, it.Text, out, counts)
		}
	}
	for typ, s := range recall {
		min := minRecallTier1
		if slices.Contains(tier2, typ) {
			min = minRecallTier2
		}
		if s.rate() < min {
			t.Errorf("%s: recall %.3f (%d/%d) below %.2f", typ, s.rate(), s.ok, s.n, min)
		}
	}
	if lookAll.rate() < minPrecision {
		t.Errorf("look-alikes: precision %.3f (%d/%d) below %.2f", lookAll.rate(), lookAll.ok, lookAll.n, minPrecision)
	}
	checkReport(t, report(recall, look, lookAll))
}

// report renders the scores as the Markdown kept in docs/redaction.md.
func report(recall, look map[string]*score, lookAll score) string {
	var b strings.Builder
	b.WriteString("| type | pack | tier | items | found | recall |\n|---|---|---|---:|---:|---:|\n")
	var total score
	for k, typ := range builtinTypes {
		s := recall[typ]
		if s == nil {
			continue
		}
		pack := ""
		for _, p := range []string{"core", "secrets", "us", "eu", "in", "br", "names"} {
			if packs[p].has(k) {
				pack = p
				break
			}
		}
		tier := "1"
		if slices.Contains(tier2, typ) {
			tier = "2 (context)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %.3f |\n", typ, pack, tier, s.n, s.ok, s.rate())
		total.n += s.n
		total.ok += s.ok
	}
	fmt.Fprintf(&b, "| **all** | | | %d | %d | %.3f |\n\n", total.n, total.ok, total.rate())
	b.WriteString("| look-alike | items | intact |\n|---|---:|---:|\n")
	classes := make([]string, 0, len(look))
	for c := range look {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	for _, c := range classes {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", c, look[c].n, look[c].ok)
	}
	fmt.Fprintf(&b, "| **all (precision)** | %d | %d (%.3f) |\n", lookAll.n, lookAll.ok, lookAll.rate())
	return b.String()
}

func checkReport(t *testing.T, rep string) {
	doc, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	a, b := strings.Index(s, reportBegin), strings.Index(s, reportEnd)
	if a < 0 || b < a {
		t.Fatalf("%s: report markers missing", reportFile)
	}
	cur := s[a+len(reportBegin) : b]
	if cur == rep {
		return
	}
	if *update {
		s = s[:a+len(reportBegin)] + rep + s[b:]
		if err := os.WriteFile(reportFile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the report in %s is stale: run go test -run TestCorpus -update\n%s", reportFile, rep)
}

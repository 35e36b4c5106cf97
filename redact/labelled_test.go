package redact

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

const labelledFile = "testdata/labelled.jsonl"

// labelledPacks are the packs the fixtures are scored with.
var labelledPacks = []string{"core", "secrets", "us", "eu", "in", "br"}

// Goals on the labelled fixtures.
const (
	minLabelledRecallTier1 = 0.995
	minLabelledPrecision   = 0.99
)

func TestLabelled_UpToDate(t *testing.T) {
	checkFixtures(t, labelledFile, genLabelled())
	checkFixtures(t, namesFile, genNames())
}

// checkFixtures compares file with recs, rewriting it under -update.
func checkFixtures(t *testing.T, labelledFile string, recs []labelled) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, rec := range recs {
		if err := enc.Encode(rec); err != nil {
			t.Fatal(err)
		}
	}
	if *update {
		if err := os.WriteFile(labelledFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(labelledFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, buf.Bytes()) {
		t.Errorf("%s differs from genLabelled: run go test -run TestLabelled -update", labelledFile)
	}
}

func readLabelled(t *testing.T) []labelled { return readFixtures(t, labelledFile) }

func readFixtures(t *testing.T, labelledFile string) []labelled {
	f, err := os.Open(labelledFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []labelled
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec labelled
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// classScore counts, for one type, the wanted values found (tp) and
// missed (fn), and the false positives: look-alikes of the type that were
// changed and replacements of the type beyond those wanted.
type classScore struct{ tp, fn, fp int }

func (c classScore) recall() float64    { return float64(c.tp) / float64(max(c.tp+c.fn, 1)) }
func (c classScore) precision() float64 { return float64(c.tp) / float64(max(c.tp+c.fp, 1)) }

// TestLabelled_Score redacts every record with the packs of
// labelledPacks (JSON records with JSON, the others as a string) and
// scores recall and precision per type and per tier. A wanted value is
// found when nothing of it survives and its type was counted once per
// wanted value of that type; a look-alike is kept when its text comes out
// unchanged; a replacement of a type beyond the wanted values of that type
// in a record is a false positive. JSON stays valid JSON.
func TestLabelled_Score(t *testing.T) {
	r := mustNew(t, Config{Packs: labelledPacks})
	byType := map[string]*classScore{}
	tiers := map[int]*classScore{1: {}, 2: {}}
	tierOf := map[string]int{}
	get := func(typ string) *classScore {
		if byType[typ] == nil {
			byType[typ] = &classScore{}
		}
		return byType[typ]
	}
	var keepN, keepOK, positives int
	for i, rec := range readLabelled(t) {
		counts := map[string]int{}
		var out string
		if rec.Format == "json" {
			b, err := r.JSON(nil, []byte(rec.Input), counts)
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if !json.Valid(b) {
				t.Errorf("record %d: output is not valid JSON", i)
			}
			out = string(b)
		} else {
			out = r.String(rec.Input, counts)
		}
		wanted := map[string]int{}
		for _, w := range rec.Want {
			wanted[w.Type]++
		}
		for _, w := range rec.Want {
			positives++
			tierOf[w.Type] = max(tierOf[w.Type], w.Tier)
			esc, _ := json.Marshal(w.Value)
			gone := !strings.Contains(out, w.Value) && !strings.Contains(out, string(esc[1:len(esc)-1]))
			if gone && counts[w.Type] >= wanted[w.Type] {
				get(w.Type).tp++
				tiers[w.Tier].tp++
			} else {
				get(w.Type).fn++
				tiers[w.Tier].fn++
				t.Logf("record %d (%s): missed %s of %d bytes; counts %v", i, rec.Format, w.Type, len(w.Value), counts)
			}
		}
		for typ, n := range counts {
			if extra := n - wanted[typ]; extra > 0 {
				get(typ).fp += extra
				t.Logf("record %d (%s): %d %s beyond those wanted", i, rec.Format, extra, typ)
			}
		}
		for _, k := range rec.Keep {
			keepN++
			text := k.Text
			if rec.Format == "json" && !strings.Contains(rec.Input, text) {
				esc, _ := json.Marshal(text)
				text = string(esc[1 : len(esc)-1])
			}
			if strings.Contains(out, text) {
				keepOK++
				continue
			}
			get(k.Like).fp++
			t.Logf("record %d (%s): look-alike of %s changed", i, rec.Format, k.Like)
		}
	}
	for typ, c := range byType {
		tier := tierOf[typ]
		if tier == 0 {
			tier = 1
		}
		if c.tp+c.fn == 0 {
			tiers[tier].fp += c.fp
		}
	}
	for typ, c := range byType {
		if tierOf[typ] == 0 {
			continue
		}
		tiers[tierOf[typ]].fp += c.fp
	}
	types := make([]string, 0, len(byType))
	for typ := range byType {
		types = append(types, typ)
	}
	slices.SortFunc(types, func(a, b string) int { return kindOf(a) - kindOf(b) })
	var rep strings.Builder
	fmt.Fprintf(&rep, "positives %d, look-alikes %d (%d kept)\n", positives, keepN, keepOK)
	fmt.Fprintf(&rep, "%-16s %4s %6s %6s %6s %8s %9s\n", "type", "tier", "tp", "fn", "fp", "recall", "precision")
	for _, typ := range types {
		c := byType[typ]
		fmt.Fprintf(&rep, "%-16s %4d %6d %6d %6d %8.3f %9.3f\n", typ, tierOf[typ], c.tp, c.fn, c.fp, c.recall(), c.precision())
	}
	for _, tier := range []int{1, 2} {
		c := tiers[tier]
		fmt.Fprintf(&rep, "%-16s %4d %6d %6d %6d %8.3f %9.3f\n", "tier", tier, c.tp, c.fn, c.fp, c.recall(), c.precision())
	}
	t.Log("\n" + rep.String())
	if c := tiers[1]; c.recall() < minLabelledRecallTier1 {
		t.Errorf("tier-1 recall %.3f below %.3f", c.recall(), minLabelledRecallTier1)
	}
	all := classScore{tiers[1].tp + tiers[2].tp, tiers[1].fn + tiers[2].fn, tiers[1].fp + tiers[2].fp}
	if all.precision() < minLabelledPrecision || tiers[1].precision() < minLabelledPrecision {
		t.Errorf("precision %.3f (tier 1: %.3f) below %.2f", all.precision(), tiers[1].precision(), minLabelledPrecision)
	}
	if keepOK < keepN {
		t.Errorf("%d of %d look-alikes changed", keepN-keepOK, keepN)
	}
	scoreNames(t)
}

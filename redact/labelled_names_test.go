package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Goals of the names pack on testdata/names.jsonl (tier 2: found by
// context), per type over all contexts.
const (
	minNamesRecall    = 0.90
	minNamesPrecision = 0.95
)

// scoreNames scores the names fixtures with labelledPacks and names, per
// context and per type, as TestLabelled_Score does the others: a wanted
// value is found when nothing of it survives and its type was counted;
// a changed look-alike and a replacement beyond those wanted in a record
// are false positives of the record's context. JSON stays valid JSON.
func scoreNames(t *testing.T) {
	r := mustNew(t, Config{Packs: append(append([]string(nil), labelledPacks...), "names")})
	byCtx := map[string]*classScore{}
	byType := map[string]*classScore{TypeName: {}, TypeAddress: {}}
	for _, c := range nameContexts {
		byCtx[c] = &classScore{}
	}
	var keepN, keepOK int
	for i, rec := range readFixtures(t, namesFile) {
		cs := byCtx[rec.Ctx]
		if cs == nil {
			t.Fatalf("record %d: unknown context %q", i, rec.Ctx)
		}
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
			esc, _ := json.Marshal(w.Value)
			gone := !strings.Contains(out, w.Value) && !strings.Contains(out, string(esc[1:len(esc)-1]))
			ts := byType[w.Type]
			if gone && counts[w.Type] >= wanted[w.Type] {
				if ts != nil {
					ts.tp++
					cs.tp++
				}
				continue
			}
			if ts != nil {
				ts.fn++
				cs.fn++
			}
			t.Logf("record %d (%s, %s): missed %s of %d bytes; counts %v", i, rec.Format, rec.Ctx, w.Type, len(w.Value), counts)
		}
		for typ, n := range counts {
			if extra := n - wanted[typ]; extra > 0 && byType[typ] != nil {
				byType[typ].fp += extra
				cs.fp += extra
				t.Logf("record %d (%s, %s): %d %s beyond those wanted", i, rec.Format, rec.Ctx, extra, typ)
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
			if byType[k.Like] != nil {
				byType[k.Like].fp++
				cs.fp++
			}
			t.Logf("record %d (%s, %s): look-alike of %s changed", i, rec.Format, rec.Ctx, k.Like)
		}
	}
	var rep strings.Builder
	fmt.Fprintf(&rep, "names pack: look-alikes %d (%d kept)\n", keepN, keepOK)
	fmt.Fprintf(&rep, "%-12s %6s %6s %6s %8s %9s\n", "context", "tp", "fn", "fp", "recall", "precision")
	for _, c := range nameContexts {
		s := byCtx[c]
		fmt.Fprintf(&rep, "%-12s %6d %6d %6d %8.3f %9.3f\n", c, s.tp, s.fn, s.fp, s.recall(), s.precision())
	}
	for _, typ := range []string{TypeName, TypeAddress} {
		s := byType[typ]
		fmt.Fprintf(&rep, "%-12s %6d %6d %6d %8.3f %9.3f\n", typ, s.tp, s.fn, s.fp, s.recall(), s.precision())
		if s.recall() < minNamesRecall || s.precision() < minNamesPrecision {
			t.Errorf("%s: recall %.3f, precision %.3f below %.2f, %.2f", typ, s.recall(), s.precision(), minNamesRecall, minNamesPrecision)
		}
	}
	// The other fixtures hold no person's name or street address: with
	// names on, nothing more is replaced there.
	extra := 0
	for i, rec := range readLabelled(t) {
		counts := map[string]int{}
		if rec.Format == "json" {
			if _, err := r.JSON(nil, []byte(rec.Input), counts); err != nil {
				t.Fatalf("%s record %d: %v", labelledFile, i, err)
			}
		} else {
			r.String(rec.Input, counts)
		}
		if n := counts[TypeName] + counts[TypeAddress]; n > 0 {
			extra += n
			t.Logf("%s record %d (%s): %d NAME or ADDRESS", labelledFile, i, rec.Format, n)
		}
	}
	// Nor does the bench workload's sample (agent events without people).
	ev, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(ev), []byte("\n")) {
		counts := map[string]int{}
		if _, err := r.JSON(nil, line, counts); err != nil {
			t.Fatalf("events line %d: %v", i+1, err)
		}
		if n := counts[TypeName] + counts[TypeAddress]; n > 0 {
			extra += n
			t.Logf("testdata/events.jsonl line %d: %d NAME or ADDRESS", i+1, n)
		}
	}
	fmt.Fprintf(&rep, "%s and testdata/events.jsonl with names: %d NAME or ADDRESS replacements\n", labelledFile, extra)
	if extra > 0 {
		t.Errorf("names pack replaced %d values in %s", extra, labelledFile)
	}
	t.Log("\n" + rep.String())
}

package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The checker of the fault model: the records in SQLite against what the
// writer wrote (see TestFaultModel for the rules and why they hold).

// fmSource is a record's source.
type fmSource struct {
	File   string `json:"file"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
}

// fmGapRec is the detail of a gap record that names a file generation.
type fmGapRec struct {
	reason   string
	file     string
	dev, ino uint64
	from, to int64 // to < 0: to the end of the generation, extent unknown
}

// fmRec is one stored record, as much of it as the checks need.
type fmRec struct {
	seq      int64
	action   string
	ingested time.Time
	n        int64
	hasN     bool
	src      *fmSource
	gap      *fmGapRec
	resume   string // a sidecar_start's resume position
}

func (s *faultSeq) readRecords() []*fmRec {
	rows, err := s.db.Query(`SELECT seq, payload FROM audit_records WHERE chain = ? ORDER BY seq`, s.e.chainID)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []*fmRec
	for rows.Next() {
		var seq int64
		var payload []byte
		if err := rows.Scan(&seq, &payload); err != nil {
			s.t.Fatal(err)
		}
		var p struct {
			Action     string                     `json:"action"`
			IngestedAt string                     `json:"ingested_at"`
			Detail     map[string]json.RawMessage `json:"detail"`
			Source     *fmSource                  `json:"source"`
		}
		if err := json.Unmarshal(payload, &p); err != nil {
			s.t.Fatalf("seq %d: decode payload: %v", seq, err)
		}
		r := &fmRec{seq: seq, action: p.Action, src: p.Source}
		if r.ingested, err = time.Parse(time.RFC3339Nano, p.IngestedAt); err != nil {
			s.t.Fatalf("seq %d: ingested_at %q: %v", seq, p.IngestedAt, err)
		}
		if raw, ok := p.Detail["n"]; ok && p.Action != "gap" {
			if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
				r.n, r.hasN = n, true
			}
		}
		if p.Action == "gap" {
			r.gap = fmParseGap(p.Detail)
		}
		if raw, ok := p.Detail["resume"]; ok && p.Action == "sidecar_start" {
			var res fmSource
			if json.Unmarshal(raw, &res) == nil {
				r.resume = fmt.Sprintf("ino %d offset %d", res.Ino, res.Offset)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// fmParseGap reads a gap's detail; nil when it names no file generation
// (a gap of another kind, such as a spool recovery).
func fmParseGap(d map[string]json.RawMessage) *fmGapRec {
	num := func(k string) (int64, bool) {
		raw, ok := d[k]
		if !ok {
			return 0, false
		}
		v, err := strconv.ParseInt(string(raw), 10, 64)
		return v, err == nil
	}
	dev, okDev := d["dev"]
	ino, okIno := d["ino"]
	if !okDev || !okIno {
		return nil
	}
	g := &fmGapRec{to: -1}
	var err error
	if g.dev, err = strconv.ParseUint(string(dev), 10, 64); err != nil {
		return nil
	}
	if g.ino, err = strconv.ParseUint(string(ino), 10, 64); err != nil {
		return nil
	}
	json.Unmarshal(d["reason"], &g.reason) //nolint:errcheck // an empty reason still names a range
	json.Unmarshal(d["file"], &g.file)     //nolint:errcheck // only shown
	g.from, _ = num("from")
	if to, ok := num("to"); ok && to >= 0 {
		g.to = to
	}
	return g
}

func (g *fmGapRec) covers(p *fmPlace) bool {
	return g.dev == p.gen.dev && g.ino == p.gen.ino && g.from <= p.off && (g.to < 0 || p.off < g.to)
}

// check reads the sink and applies the fault model's rules; it fails the
// test with the findings, the gap records and the sequence's context.
func (s *faultSeq) check() {
	recs := s.readRecords()
	w := s.w
	var f fmFindings
	byN := map[int][]*fmRec{}
	type srcKey struct {
		dev, ino uint64
		off      int64
	}
	bySource := map[srcKey][]*fmRec{}
	var gaps []*fmRec
	gensByIno := map[[2]uint64][]*fmGen{}
	for _, g := range w.gens {
		k := [2]uint64{g.dev, g.ino}
		gensByIno[k] = append(gensByIno[k], g)
	}
	runOf := func(r *fmRec) int {
		for i, run := range s.runs {
			if run.alive(r.ingested) {
				return i
			}
		}
		return -1
	}
	// ingestedFrom[c] holds the runs that stored a line read from the
	// content c; runMaxN[i] is the highest line number run i stored.
	ingestedFrom := map[fmContent]map[int]bool{}
	runMaxN := make([]int, len(s.runs))
	for i := range runMaxN {
		runMaxN[i] = -1
	}
	placeOf := func(r *fmRec, l *fmLine) *fmPlace {
		if r.src == nil {
			return nil
		}
		for _, p := range l.places {
			if p.gen.dev == r.src.Dev && p.gen.ino == r.src.Ino && p.off == r.src.Offset {
				return p
			}
		}
		return nil
	}
	for _, r := range recs {
		if run := runOf(r); r.resume != "" && run >= 0 {
			s.runs[run].resume = r.resume
		}
		if r.src != nil {
			k := srcKey{r.src.Dev, r.src.Ino, r.src.Offset}
			bySource[k] = append(bySource[k], r)
			if s.isStray(r.src.File, r.src.Dev, r.src.Ino) {
				f.add("read from a stray file", "seq %d (%s) from %s (ino %d) offset %d", r.seq, r.action, r.src.File, r.src.Ino, r.src.Offset)
			}
		}
		if r.gap != nil {
			gaps = append(gaps, r)
			if s.isStray(r.gap.file, r.gap.dev, r.gap.ino) {
				f.add("gap names a stray file", "seq %d %q names %s (ino %d)", r.seq, r.gap.reason, r.gap.file, r.gap.ino)
			}
		}
		if !r.hasN {
			continue
		}
		n := int(r.n)
		byN[n] = append(byN[n], r)
		if n >= fmStrayBase {
			f.add("stray line stored", "n=%d at seq %d from %s", n, r.seq, fmSrc(r.src))
			continue
		}
		l := w.byN[n]
		if l == nil {
			f.add("unknown line stored", "n=%d at seq %d from %s", n, r.seq, fmSrc(r.src))
			continue
		}
		p := placeOf(r, l)
		if p == nil {
			f.add("stored with a wrong source", "n=%d at seq %d from %s; written to %s", n, r.seq, fmSrc(r.src), l.placesString())
			continue
		}
		c := fmContent{p.gen, p.epoch}
		if ingestedFrom[c] == nil {
			ingestedFrom[c] = map[int]bool{}
		}
		run := runOf(r)
		ingestedFrom[c][run] = true
		if run >= 0 {
			runMaxN[run] = max(runMaxN[run], n)
			rr := s.runs[run]
			if rr.stored == 0 || n < rr.minN {
				rr.minN = n
			}
			rr.maxN = max(rr.maxN, n)
			rr.stored++
		}
	}
	for _, l := range w.lines {
		if rs := byN[l.n]; len(rs) > 1 {
			var at []string
			for _, r := range rs {
				at = append(at, fmt.Sprintf("seq %d from %s", r.seq, fmSrc(r.src)))
			}
			f.add("stored more than once", "n=%d %dx: %s; written to %s", l.n, len(rs), strings.Join(at, ", "), l.placesString())
			if f.counts["stored more than once"] <= 3 {
				s.mark(l.step)
				for _, p := range l.places {
					s.mark(p.gen.unlinkStep)
				}
			}
		}
	}
	covering := func(p *fmPlace) *fmRec {
		for _, g := range gaps {
			if g.gap.covers(p) {
				return g
			}
		}
		return nil
	}

	classes := map[string]int{}
	for _, l := range w.lines {
		var places []*fmPlace
		for _, p := range l.places {
			if p.complete || !l.complete {
				places = append(places, p)
			}
		}
		class, why := s.classify(l, places, ingestedFrom, runMaxN)
		classes[class]++
		stored := len(byN[l.n]) > 0
		if !l.complete && !stored {
			for _, p := range places {
				if len(bySource[srcKey{p.gen.dev, p.gen.ino, p.off}]) > 0 {
					stored = true
				}
			}
		}
		var gap *fmRec
		for _, p := range places {
			if gap = covering(p); gap != nil {
				break
			}
		}
		what := fmt.Sprintf("n=%d (step %d) %s: %s", l.n, l.step, l.placesString(), why)
		finding := func(kind string) {
			f.add(kind, "%s", what)
			if f.counts[kind] <= 3 {
				s.mark(l.step)
				for _, p := range l.places {
					s.mark(p.gen.unlinkStep)
				}
			}
		}
		switch {
		case stored || class == "excused":
		case !l.complete && gap == nil:
			finding("unterminated line neither stored nor in a gap")
		case !l.complete:
		case class == "on disk" || class == "passed over":
			if gap != nil {
				what += fmt.Sprintf("; inside gap seq %d %q", gap.seq, gap.gap.reason)
			}
			finding("lost although " + class)
		case gap == nil:
			finding("lost without a gap")
		}
		if !stored || !l.complete {
			continue
		}
		for _, p := range places {
			if p.gen.epoch > 0 || len(gensByIno[[2]uint64{p.gen.dev, p.gen.ino}]) > 1 {
				continue
			}
			if g := covering(p); g != nil {
				f.add("stored line inside a gap", "n=%d at %s is in gap seq %d %q [%d, %d)", l.n, p, g.seq, g.gap.reason, g.gap.from, g.gap.to)
			}
		}
	}

	// Lines are written in increasing n and a tailer reads generations
	// oldest first, each in file order: stored lines come in increasing n.
	last := (*fmRec)(nil)
	for _, r := range recs {
		if !r.hasN || r.n >= fmStrayBase || w.byN[int(r.n)] == nil {
			continue
		}
		if last != nil && r.n <= last.n {
			l, prev := w.byN[int(r.n)], w.byN[int(last.n)]
			f.add("stored out of order", "n=%d at seq %d from %s after n=%d at seq %d from %s; written to %s and %s",
				r.n, r.seq, fmSrc(r.src), last.n, last.seq, fmSrc(last.src), l.placesString(), prev.placesString())
			if f.counts["stored out of order"] <= 3 {
				s.mark(l.step)
				s.mark(prev.step)
			}
		}
		last = r
	}

	code, out, errs := runVerify(s.t, s.e.cfgPath)
	if code != 0 {
		f.add("verify", "exit %d, want 0: %s %s", code, fmCut(out, 600), fmCut(errs, 300))
	}
	summary := fmt.Sprintf("%d lines: %d on disk at the end, %d passed over by a run that could read them, %d in deleted generations known to the sidecar, %d excused; %d stray lines; %d records, %d gap records",
		len(w.lines), classes["on disk"], classes["passed over"], classes["known"], classes["excused"], w.strayN, len(recs), len(gaps))
	reasons := map[string]int{}
	for _, g := range gaps {
		reasons[g.gap.reason]++
	}
	var rs []string
	for r, k := range reasons {
		rs = append(rs, fmt.Sprintf("%d %q", k, r))
	}
	sort.Strings(rs)
	if len(rs) > 0 {
		summary += " (" + strings.Join(rs, ", ") + ")"
	}
	if len(f.order) == 0 {
		s.t.Logf("seed %d: ok, %s; %d steps, %d runs", s.seed, summary, len(s.steps), len(s.runs))
		return
	}
	limit := 10
	if fmVerbose {
		limit = -1
	}
	s.fail(s.failure(summary, &f, gaps, runOf, limit), s.failure(summary, &f, gaps, runOf, -1))
}

// failure is the report of the findings (limit of each kind), the gap
// records and the generations.
func (s *faultSeq) failure(summary string, f *fmFindings, gaps []*fmRec, runOf func(*fmRec) int, limit int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "fault model failed (seed %d): %s\n%s", s.seed, summary, f.list(limit))
	fmt.Fprintf(&b, "gap records (%d):\n", len(gaps))
	for i, g := range gaps {
		if i == 15 && limit >= 0 {
			fmt.Fprintf(&b, "  (%d more)\n", len(gaps)-i)
			break
		}
		fmt.Fprintf(&b, "  seq %d (run %d) %q %s [%d, %d) = %s\n", g.seq, runOf(g)+1, g.gap.reason, g.gap.file, g.gap.from, g.gap.to, s.gensNamed(g.gap.dev, g.gap.ino))
	}
	b.WriteString("generations:\n")
	for _, g := range s.w.gens {
		fmt.Fprintf(&b, "  %s\n", fmGenString(g))
	}
	return b.String()
}

// fmContent is one content of a generation: what it held between two
// truncations.
type fmContent struct {
	gen   *fmGen
	epoch int
}

// classify says which rule applies to line l given its places (the
// complete ones, or all of a line never finished), and why: "on disk"
// (still there at the end), "passed over" (a run that could read it
// stored a later line), "known" (its generation was deleted after a line
// of the same content was stored) or "excused".
func (s *faultSeq) classify(l *fmLine, places []*fmPlace, ingestedFrom map[fmContent]map[int]bool, runMaxN []int) (class, why string) {
	for _, p := range places {
		if p.status() == "alive" {
			return "on disk", fmt.Sprintf("%s is on disk at the end", p.gen)
		}
	}
	for _, p := range places {
		g := p.gen
		for i, r := range s.runs {
			if runMaxN[i] <= l.n {
				continue
			}
			if p.epoch < g.epoch && g.truncRuns[p.epoch] == i {
				continue // truncated while the run was alive
			}
			if e, ok := r.ready[g]; ok && e == p.epoch {
				return "passed over", fmt.Sprintf("%s was there when run %d started, and it stored n=%d", g, r.n, runMaxN[i])
			}
			if ingestedFrom[fmContent{g, p.epoch}][i] {
				return "passed over", fmt.Sprintf("run %d stored lines of %s and then n=%d", r.n, g, runMaxN[i])
			}
		}
	}
	for _, p := range places {
		if p.status() == "unlinked" && len(ingestedFrom[fmContent{p.gen, p.epoch}]) > 0 {
			return "known", fmt.Sprintf("lines of %s were stored before it was deleted at step %d", p.gen, p.gen.unlinkStep)
		}
	}
	return "excused", ""
}

// isStray reports whether a record's file is one of the stray files: by
// its name, or by an inode only a stray file ever had.
func (s *faultSeq) isStray(file string, dev, ino uint64) bool {
	for _, suffix := range fmStraySuffixes {
		if file == s.w.path+suffix {
			return true
		}
	}
	if _, ok := s.w.strayInos[ino]; !ok {
		return false
	}
	for _, g := range s.w.gens {
		if g.dev == dev && g.ino == ino {
			return false
		}
	}
	return true
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The failure reports of the fault model: short by default (the first
// findings of each kind, the last steps and the steps the findings name,
// the last runs' warnings), everything with AUDIT_FAULT_VERBOSE=1 or in
// report.txt with AUDIT_FAULT_KEEP=1.

// fmFindings collects the failures by kind, in the order first seen, and
// the counts behind the summary.
type fmFindings struct {
	order  []string
	items  map[string][]string
	counts map[string]int
}

func (f *fmFindings) add(kind, format string, args ...any) {
	if f.items == nil {
		f.items, f.counts = map[string][]string{}, map[string]int{}
	}
	if _, ok := f.items[kind]; !ok {
		f.order = append(f.order, kind)
		f.items[kind] = nil
	}
	f.counts[kind]++
	f.items[kind] = append(f.items[kind], fmt.Sprintf(format, args...))
}

// list is the findings, the first limit of each kind (all if limit < 0).
func (f *fmFindings) list(limit int) string {
	var b strings.Builder
	for _, k := range f.order {
		fmt.Fprintf(&b, "%s (%d):\n", k, f.counts[k])
		for i, it := range f.items[k] {
			if i == limit {
				break
			}
			fmt.Fprintf(&b, "  %s\n", it)
		}
	}
	return b.String()
}

// mark makes step (1-based) and the runs alive around it part of the
// report.
func (s *faultSeq) mark(step int) {
	if step < 1 || step > len(s.steps) {
		return
	}
	s.relevant[step] = true
	for _, i := range []int{step - 2, step - 1} {
		if i >= 0 && s.stepRuns[i] >= 0 {
			s.relevantRuns[s.stepRuns[i]] = true
		}
	}
}

// fmVerbose (AUDIT_FAULT_VERBOSE=1) makes failure reports list every
// step, every run and every finding instead of the last and the first.
var fmVerbose = os.Getenv("AUDIT_FAULT_VERBOSE") != ""

// fatalf ends the sequence with the report of what happened so far.
func (s *faultSeq) fatalf(format string, args ...any) {
	s.t.Helper()
	msg := fmt.Sprintf(format, args...)
	s.fail(msg, msg)
}

// context is the seed, the steps (the last 30, and those the findings
// name), the runs, and what the runs logged at warn level or above (the
// last six and those the findings name); everything when verbose.
func (s *faultSeq) context(verbose bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d (replay: AUDIT_FAULT_SEED=%d go test -count=1 -run TestFaultModel ./e2e/ -v); keep %d; %d lines, %d generations, %d runs\n",
		s.seed, s.seed, s.w.keep, len(s.w.lines), len(s.w.gens), len(s.runs))
	show := func(step int) bool {
		if verbose || step > len(s.steps)-30 {
			return true
		}
		for d := -1; d <= 1; d++ {
			if s.relevant[step+d] {
				return true
			}
		}
		return false
	}
	b.WriteString("steps (the last 30 and those named above):\n")
	gap := false
	for i, st := range s.steps {
		if !show(i + 1) {
			gap = true
			continue
		}
		if gap {
			b.WriteString("  ...\n")
			gap = false
		}
		fmt.Fprintf(&b, "  %s\n", st)
	}
	for i, r := range s.runs {
		fmt.Fprintf(&b, "%s\n", r)
		if !verbose && i < len(s.runs)-6 && !s.relevantRuns[i] {
			continue
		}
		limit := 8
		if verbose {
			limit = 100
		}
		for _, w := range fmWarnings(r.stderrPath, limit) {
			fmt.Fprintf(&b, "    %s\n", w)
		}
	}
	return b.String()
}

// fail ends the sequence with msg and its context; with AUDIT_FAULT_KEEP
// full (msg with everything) and the full context are also written to
// report.txt in the kept folder.
func (s *faultSeq) fail(msg, full string) {
	s.t.Helper()
	msg = strings.TrimRight(msg, "\n")
	if s.kept {
		full = strings.TrimRight(full, "\n") + "\n" + s.context(true)
		if err := os.WriteFile(filepath.Join(s.e.dir, "report.txt"), []byte(full), 0o644); err == nil {
			msg += "\nfull report: " + filepath.Join(s.e.dir, "report.txt")
		}
	}
	s.t.Fatalf("%s\n%s", msg, s.context(fmVerbose))
}

// gensNamed lists the generations with that device and inode.
func (s *faultSeq) gensNamed(dev, ino uint64) string {
	var out []string
	for _, g := range s.w.gens {
		if g.dev == dev && g.ino == ino {
			out = append(out, fmt.Sprintf("#%d", g.serial))
		}
	}
	if suffix, ok := s.w.strayInos[ino]; ok {
		out = append(out, "stray "+suffix)
	}
	if len(out) == 0 {
		return "unknown file"
	}
	sort.Strings(out)
	return strings.Join(out, "|")
}

func fmGenString(g *fmGen) string {
	s := fmt.Sprintf("%s %s", g, g.born)
	if g.epoch > 0 {
		s += fmt.Sprintf(", truncated %dx", g.epoch)
	}
	if g.unlinked {
		run := "no run alive"
		if g.unlinkRun >= 0 {
			run = fmt.Sprintf("run %d alive", g.unlinkRun+1)
		}
		s += fmt.Sprintf(", deleted at step %d (%s)", g.unlinkStep, run)
	} else {
		s += fmt.Sprintf(", now %s, %d bytes", g.name[strings.LastIndex(g.name, "/")+1:], g.size)
	}
	return s
}

func fmSrc(src *fmSource) string {
	if src == nil {
		return "no source"
	}
	return fmt.Sprintf("ino %d offset %d", src.Ino, src.Offset)
}

func fmCut(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

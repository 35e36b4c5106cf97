package verify

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sync"
	"time"
)

//go:embed report.html.tmpl
var reportHTML string

var reportTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{"vis": visibleHTML}).Parse(reportHTML))
})

// Bounds of an HTML report, so that a store of many chains or problems
// gives a page of bounded size: the problems, the chains and the lines of
// what remains unprotected it lists one by one; the rest are counted (the
// --json report lists every chain and up to MaxListed problems).
const (
	MaxHTMLProblems    = 1000
	MaxHTMLChains      = 100
	MaxHTMLUnprotected = 300
)

// WriteHTML writes rep as a self-contained HTML page for people: the
// verdict in plain words, each problem (what happened, where, what it
// means), what remains unprotected, what each chain holds, and what was
// checked with which keys (by fingerprint). The page loads nothing (its
// style is inline, it has no script), prints on paper, and escapes every
// string from the store, showing the characters of those strings that are
// not printable (control characters, bidi overrides) as marked escapes.
// It lists at most MaxHTMLProblems problems and MaxHTMLChains chains (those
// with problems first) and adds up the rest. Nothing is written if
// rendering fails.
func WriteHTML(w io.Writer, rep *Report) error {
	var buf bytes.Buffer
	if err := reportTmpl().Execute(&buf, newReportView(rep)); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// reportView is what the template shows.
type reportView struct {
	Verdict, Headline, Summary string
	Scope                      string
	Exit                       int
	Checked                    *Checked
	RanAt                      string
	Chains                     []chainView
	Problems                   []Problem
	MoreProblems               int
	Invalid, Unverifiable      int
	Unprotected                []string
	MoreUnprotected            int
	// MoreChains adds up the chains not listed (Chains == 0: none).
	MoreChains moreChainsView
}

type moreChainsView struct {
	Chains                int
	Records               uint64
	Invalid, Unverifiable int
}

type chainView struct {
	Chain                    string
	Records, Head            uint64
	Invalid, Unverifiable    int
	Checkpoints              int
	Signed                   string
	PurgedThrough, From      uint64
	Absent                   bool
	EventsFrom, EventsTo     string
	IngestedFrom, IngestedTo string
	Actions                  []actionCount
	Sealed                   string
}

type actionCount struct {
	Action, Label string
	Count         uint64
}

// actionLabels name the actions for people, in the order shown.
var actionLabels = []struct{ action, label string }{
	{"decision", "Decisions"},
	{"model_call", "Model calls"},
	{"tool_call", "Tool calls"},
	{"tool_result", "Tool results"},
	{"approval_requested", "Approvals requested"},
	{"approval_granted", "Approvals granted"},
	{"approval_denied", "Approvals denied"},
	{"error", "Errors"},
	{"other", "Other events"},
	{"parse_error", "Log lines that could not be read"},
	{"gap", "Gaps the sidecar recorded"},
	{"chain_start", "Chain starts"},
	{"sidecar_start", "Sidecar starts"},
	{"sidecar_stop", "Sidecar stops"},
	{"checkpoint", "Signed checkpoints"},
	{"seal", "Key periods closed"},
	{"key_rotation", "Key changes"},
	{"retention_purge", "Retention purges"},
	{ActionUnrecognized, "Records with an unknown action"},
	{ActionUnreadable, "Records that could not be read"},
}

func newReportView(rep *Report) *reportView {
	v := &reportView{Verdict: rep.Verdict, Checked: rep.Explained()}
	if v.Checked == nil {
		v.Checked = &Checked{Tool: Tool{Name: "audit-sidecar"}}
		e := *rep
		e.Checked = v.Checked
		v.Checked = e.Explained()
	}
	v.RanAt = humanTime(v.Checked.RanAt)
	for _, p := range v.Checked.Problems {
		if p.Kind == KindUnverifiable {
			v.Unverifiable++
		} else {
			v.Invalid++
		}
	}
	v.Problems = v.Checked.Problems
	if len(v.Problems) > MaxHTMLProblems {
		v.MoreProblems = len(v.Problems) - MaxHTMLProblems
		v.Problems = v.Problems[:MaxHTMLProblems]
	}
	v.Unprotected, v.MoreUnprotected = v.Checked.Unprotected, v.Checked.MoreUnprotected
	v.Headline, v.Summary = rep.inWords(v.Invalid, v.Unverifiable)
	switch rep.Verdict {
	case Invalid:
		v.Exit = 1
	case Valid:
	default:
		v.Exit = 3
	}
	switch rep.Scope {
	case ScopeStore:
		v.Scope = "the live store: it must still hold every record that a checkpoint kept off the pod vouches for"
	case ScopeExport:
		v.Scope = "an export: a copy that ends where it was taken; it must match the checkpoints kept off the pod that it reaches"
	}
	acts := map[string]Activity{}
	for _, a := range v.Checked.Chains {
		acts[a.Chain] = a
	}
	listed := listedChains(rep.Chains, MaxHTMLChains)
	names := map[string]bool{}
	for i, s := range rep.Chains {
		if !listed[i] {
			m := &v.MoreChains
			m.Chains++
			m.Records += s.Records
			m.Invalid += s.Invalid
			m.Unverifiable += s.Unverifiable
			continue
		}
		names[s.Chain] = true
		c := chainView{Chain: s.Chain, Records: s.Records, Head: s.Head, Invalid: s.Invalid, Unverifiable: s.Unverifiable,
			Checkpoints: s.Checkpoints, PurgedThrough: s.PurgedThrough, From: s.From, Absent: s.Absent}
		switch {
		case s.CheckpointSize > 0 && !v.Checked.Signatures.Checked:
			c.Signed = fmt.Sprintf("records 1 to %d, said to be signed %s (the signature was not checked: no public key was given)", s.CheckpointSize, humanTime(s.CheckpointTime))
		case s.CheckpointSize > 0:
			c.Signed = fmt.Sprintf("records 1 to %d, signed %s", s.CheckpointSize, humanTime(s.CheckpointTime))
		default:
			c.Signed = "no record is covered by a valid signed checkpoint"
		}
		if s.SealedEpoch > 0 {
			c.Sealed = fmt.Sprintf("key periods 1 to %d closed, the last %s", s.SealedEpoch, humanTime(s.SealedAt))
		}
		if a, ok := acts[s.Chain]; ok {
			c.EventsFrom, c.EventsTo = humanTime(a.EventsFrom), humanTime(a.EventsTo)
			c.IngestedFrom, c.IngestedTo = humanTime(a.IngestedFrom), humanTime(a.IngestedTo)
			for _, l := range actionLabels {
				if n := a.Actions[l.action]; n > 0 {
					c.Actions = append(c.Actions, actionCount{l.action, l.label, n})
				}
			}
		}
		v.Chains = append(v.Chains, c)
	}
	if v.MoreChains.Chains > 0 {
		// The lines of what remains unprotected about the chains listed.
		v.Unprotected, v.MoreUnprotected = rep.unprotected(names, MaxHTMLUnprotected)
	} else if len(v.Unprotected) > MaxHTMLUnprotected {
		v.MoreUnprotected += len(v.Unprotected) - MaxHTMLUnprotected
		v.Unprotected = v.Unprotected[:MaxHTMLUnprotected]
	}
	return v
}

// InWords says rep's verdict in plain words, as the HTML report opens:
// a headline ("Valid: no sign of tampering was found") and a summary of
// what it means.
func (rep *Report) InWords() (headline, summary string) {
	invalid, unverifiable := 0, 0
	for _, p := range rep.Problems {
		if p.Unverifiable {
			unverifiable++
		} else {
			invalid++
		}
	}
	return rep.inWords(invalid, unverifiable)
}

func (rep *Report) inWords(invalid, unverifiable int) (headline, summary string) {
	switch rep.Verdict {
	case Valid:
		return "Valid: no sign of tampering was found",
			"Every record checked is intact, complete and in order, as far as the keys, signatures and witness given to this check can prove. " +
				"The section “What remains unprotected” says what this check could not cover."
	case Invalid:
		return "Invalid: the audit trail was altered or damaged",
			fmt.Sprintf("%s that records were changed, removed, added or moved after they were written. "+
				"Each problem is listed below with where it is and what it means.", plural(invalid, "problem proves", "problems prove"))
	}
	return "Unverifiable: the audit trail could not be fully checked",
		fmt.Sprintf("Tampering was neither proven nor ruled out: %s could not be checked with what was given (a missing key, an unknown signer, no recent signed checkpoint, or an input that holds no records). "+
			"Each is listed below with what it means; until they are checked, the audit trail must not be relied on.", plural(unverifiable, "thing", "things"))
}

// humanTime is t in UTC to the second ("" for the zero time).
func humanTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

package console

import (
	"fmt"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/verify"
)

// The integrity page lists at most maxShownProblems problems, chains and
// lines of what remains unprotected; the report of the evidence bundle
// lists more (verify.MaxHTMLProblems), the --json report all.
const (
	maxShownProblems    = 200
	maxShownChains      = 100
	maxShownUnprotected = 100
)

type integrityView struct {
	Running        bool
	Checked, Total int64
	Percent        int // 0..100; -1 when the total is not known
	StartedAt, By  string
	Last           *resultView // nil before the first verification
	Now            string      // the time of the page, for the evidence form's hint
	CSRF           string      // the session's, for the verify form
}

type resultView struct {
	Failed            bool
	Verdict           string
	Headline, Summary string
	Started, Finished string
	Took, By          string
	Checked           int64
	Scope             string
	Protected         []string
	Problems          []verify.Problem
	MoreProblems      int
	Unprotected       []string
	MoreUnprotected   int
	Chains            []chainRow
	MoreChains        int
}

type chainRow struct {
	Chain                 string
	Records, Head         uint64
	Checkpoints           int
	Invalid, Unverifiable int
	Signed                string
}

func pageTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func (c *console) integrityView(ss *session) integrityView {
	cur, last := c.integrity.state()
	v := integrityView{Now: c.integrity.now().UTC().Format("2006-01-02T15:04:05Z"), CSRF: ss.csrf}
	if cur != nil {
		v.Running, v.Checked, v.Total = true, cur.checked.Load(), cur.total.Load()
		v.StartedAt, v.By = pageTime(cur.started), cur.by
		v.Percent = -1
		if v.Total > 0 {
			v.Percent = int(min(100, v.Checked*100/v.Total))
		}
	}
	if last != nil {
		v.Last = resultOf(last)
	}
	return v
}

func resultOf(run *verification) *resultView {
	r := &resultView{Started: pageTime(run.started), Finished: pageTime(run.finished),
		Took: run.finished.Sub(run.started).Round(time.Millisecond).String(), By: run.by,
		Checked: run.checked.Load(), Failed: run.failed}
	rep := run.report
	if run.failed || rep == nil {
		r.Failed = true
		return r
	}
	r.Verdict = rep.Verdict
	r.Headline, r.Summary = rep.InWords()
	if rep.Scope == verify.ScopeStore {
		r.Scope = "the store as it stood during the check, which must still hold every record that a checkpoint kept off the pod vouches for"
	}
	ex := rep.Explained()
	if ex == nil {
		ex = &verify.Checked{}
	}
	r.Protected = protectedLines(ex)
	r.Problems = ex.Problems
	if len(r.Problems) > maxShownProblems {
		r.MoreProblems = len(r.Problems) - maxShownProblems
		r.Problems = r.Problems[:maxShownProblems]
	}
	r.Unprotected, r.MoreUnprotected = ex.Unprotected, ex.MoreUnprotected
	if len(r.Unprotected) > maxShownUnprotected {
		r.MoreUnprotected += len(r.Unprotected) - maxShownUnprotected
		r.Unprotected = r.Unprotected[:maxShownUnprotected]
	}
	for i, s := range rep.Chains {
		if i == maxShownChains {
			r.MoreChains = len(rep.Chains) - i
			break
		}
		row := chainRow{Chain: verify.Visible(cut(s.Chain, maxShownCell)), Records: s.Records, Head: s.Head,
			Checkpoints: s.Checkpoints, Invalid: s.Invalid, Unverifiable: s.Unverifiable}
		switch {
		case s.Absent:
			row.Signed = "the store holds no record of this chain, which was expected to have some"
		case s.CheckpointSize > 0:
			row.Signed = fmt.Sprintf("records 1 to %d, signed %s", s.CheckpointSize, pageTime(s.CheckpointTime))
		default:
			row.Signed = "no record is covered by a valid signed checkpoint"
		}
		r.Chains = append(r.Chains, row)
	}
	return r
}

// protectedLines says in plain words what the verification did protect:
// what was checked, and with which keys (by fingerprint). What it did
// not check is said by the report's exposure (verify.Unprotected).
func protectedLines(ck *verify.Checked) []string {
	var out []string
	if ck.MACs.Checked {
		var keys []string
		for _, k := range ck.MACs.Keys {
			keys = append(keys, fmt.Sprintf("%s (fingerprint %s)", verify.Visible(k.Kid), k.Fingerprint))
		}
		out = append(out, "Every record's integrity code (MAC) was recomputed with the HMAC key "+strings.Join(keys, ", ")+
			": a record changed, removed, inserted or moved by anyone who does not hold that key is detected.")
	}
	if ck.Signatures.Checked {
		var keys []string
		for _, k := range ck.Signatures.Keys {
			keys = append(keys, fmt.Sprintf("%s %s (fingerprint %s)", verify.Visible(k.Name), k.Algorithm, k.Fingerprint))
		}
		out = append(out, "The signed checkpoints were checked with the public key "+strings.Join(keys, ", ")+
			": the records they cover cannot be rewritten unnoticed, even by a holder of the HMAC key.")
	}
	if ck.Witness.Checked {
		out = append(out, "The checkpoints kept off the pod (the witness) were compared with the store: cutting the newest records they vouch for is detected.")
	}
	if ck.Freshness.Checked {
		out = append(out, "Each chain's newest checkpoint had to be younger than "+ck.Freshness.MaxAge+".")
	}
	return out
}

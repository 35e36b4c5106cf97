package parse

import (
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// Paired wraps d with approval pairing, whatever the dialect:
//
//   - approval_granted and approval_denied are paired with the oldest
//     pending approval_requested of the same call id (detail.call_id), or
//     else of the same tool; the decision gets the request's tool and call
//     id when it lacks them, and detail.request_ts (the request's time).
//     A decision with no pending request gets detail.pairing
//     "no pending request".
//   - after an approval_denied, a tool_call or tool_result (one whose
//     outcome is not denied) of the same call id, or of the same tool when
//     either side has no call id, gets detail.finding
//     {"type":"executed_after_denial",...}: a compliance finding, and the
//     denied call's id when it has none of its own. A later
//     approval_requested or approval_granted of that tool ends the denial.
//
// Each table holds at most MaxPending entries; the oldest is forgotten.
func Paired(d Dialect) Dialect { return &paired{d: d} }

type paired struct {
	d       Dialect
	pending []approval // requests awaiting a decision, oldest first
	denied  []approval // denials still in force, oldest first
}

type approval struct {
	tool, callID string
	ts           time.Time
}

func (p *paired) Parse(l Line, now time.Time, emit func(*record.Record)) {
	p.d.Parse(l, now, func(r *record.Record) {
		p.observe(r)
		emit(r)
	})
}

func callID(r *record.Record) string { return unquoteOr(detailGet(r.Detail, "call_id")) }

func (p *paired) observe(r *record.Record) {
	switch r.Action {
	case record.ActionApprovalRequested:
		a := approval{tool: r.Tool, callID: callID(r), ts: r.TS}
		p.endDenial(a.tool)
		p.pending = pushCapped(p.pending, a)
	case record.ActionApprovalGranted, record.ActionApprovalDenied:
		id := callID(r)
		i := find(p.pending, r.Tool, id)
		if i < 0 {
			addDetail(r, "pairing", quote("no pending request"))
		} else {
			req := p.pending[i]
			p.pending = append(p.pending[:i], p.pending[i+1:]...)
			if r.Tool == "" {
				r.Tool = req.tool
			}
			if id == "" && req.callID != "" {
				id = req.callID
				addDetail(r, "call_id", quote(id))
			}
			addDetail(r, "request_ts", quote(record.FormatTime(req.ts)))
		}
		if r.Action == record.ActionApprovalDenied {
			p.denied = pushCapped(p.denied, approval{tool: r.Tool, callID: id, ts: r.TS})
		} else {
			p.endDenial(r.Tool)
		}
	case record.ActionToolCall, record.ActionToolResult:
		if r.Outcome == "denied" || len(p.denied) == 0 {
			return
		}
		id := callID(r)
		for i, d := range p.denied {
			if !(id != "" && d.callID != "" && id == d.callID) && !((id == "" || d.callID == "") && d.tool != "" && d.tool == r.Tool) {
				continue
			}
			f := fields{}
			f.str("type", "executed_after_denial")
			f.str("denied_at", record.FormatTime(d.ts))
			f.str("call_id", d.callID)
			f.str("tool", d.tool)
			addDetail(r, "finding", f.object())
			if id == "" && d.callID != "" { // the execution belongs to the denied call's story
				addDetail(r, "call_id", quote(d.callID))
			}
			if r.Action == record.ActionToolResult {
				p.denied = append(p.denied[:i], p.denied[i+1:]...)
			}
			return
		}
	}
}

// endDenial forgets the denials of tool that carry no call id.
func (p *paired) endDenial(tool string) {
	out := p.denied[:0]
	for _, d := range p.denied {
		if d.callID != "" || d.tool != tool {
			out = append(out, d)
		}
	}
	p.denied = out
}

// find returns the index of the oldest approval of call id id; else of
// tool, among those whose call id is unknown on either side; else, when
// neither is given, the oldest approval.
func find(as []approval, tool, id string) int {
	if id != "" {
		for i, a := range as {
			if a.callID == id {
				return i
			}
		}
	}
	for i, a := range as {
		if tool == "" && id == "" || tool != "" && a.tool == tool && (id == "" || a.callID == "") {
			return i
		}
	}
	return -1
}

func pushCapped(as []approval, a approval) []approval {
	if len(as) >= MaxPending {
		as = append(as[:0], as[1:]...)
	}
	return append(as, a)
}

var _ Dialect = (*paired)(nil)

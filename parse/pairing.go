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
	denied  denials    // denials still in force
}

// denials is the list of denials in force, oldest first, with counts
// that answer "can anything match?" without a scan: every tool call and
// tool result asks, and denials of calls that never ran stay until
// evicted, so the list is usually full.
type denials struct {
	list   []approval
	ids    map[string]int // call id -> entries with it
	noID   map[string]int // tool -> entries with that tool and no call id
	byTool map[string]int // tool -> entries with that tool
}

func (ds *denials) push(a approval) {
	if len(ds.list) >= MaxPending {
		ds.removeAt(0)
	}
	if ds.ids == nil {
		ds.ids, ds.noID, ds.byTool = map[string]int{}, map[string]int{}, map[string]int{}
	}
	ds.list = append(ds.list, a)
	ds.count(a, 1)
}

func (ds *denials) removeAt(i int) {
	ds.count(ds.list[i], -1)
	ds.list = append(ds.list[:i], ds.list[i+1:]...)
}

func (ds *denials) count(a approval, d int) {
	bump := func(m map[string]int, k string) {
		if m[k] += d; m[k] == 0 {
			delete(m, k)
		}
	}
	if a.callID != "" {
		bump(ds.ids, a.callID)
	} else {
		bump(ds.noID, a.tool)
	}
	bump(ds.byTool, a.tool)
}

// match returns the index of the oldest denial that a tool call or result
// of tool and call id id belongs to: the same call id, or the same tool
// when either side has no call id; -1 if none.
func (ds *denials) match(tool, id string) int {
	if id != "" && ds.ids[id] == 0 && (tool == "" || ds.noID[tool] == 0) {
		return -1
	}
	if id == "" && (tool == "" || ds.byTool[tool] == 0) {
		return -1
	}
	for i, d := range ds.list {
		if id != "" && d.callID != "" && id == d.callID || (id == "" || d.callID == "") && d.tool != "" && d.tool == tool {
			return i
		}
	}
	return -1
}

// endTool forgets the denials of tool that carry no call id.
func (ds *denials) endTool(tool string) {
	if ds.noID[tool] == 0 {
		return
	}
	for i := len(ds.list) - 1; i >= 0; i-- {
		if d := ds.list[i]; d.callID == "" && d.tool == tool {
			ds.removeAt(i)
		}
	}
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
		p.denied.endTool(a.tool)
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
			p.denied.push(approval{tool: r.Tool, callID: id, ts: r.TS})
		} else {
			p.denied.endTool(r.Tool)
		}
	case record.ActionToolCall, record.ActionToolResult:
		if r.Outcome == "denied" {
			return
		}
		id := callID(r)
		i := p.denied.match(r.Tool, id)
		if i < 0 {
			return
		}
		d := p.denied.list[i]
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
			p.denied.removeAt(i)
		}
	}
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

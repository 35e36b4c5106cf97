package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/query"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
)

// The overview counts a window of whole hours ending at the end of the
// current hour (or of the hour of ?end=), overviewHours long unless
// ?hours= names one of windowHours. Its figures are two statements of
// the store, each over the window's newest records only: at most
// overviewMaxRecords for the counts by hour and action,
// overviewMaxRedactions for the redactions (which reads payloads). The
// page says when a window held more.
const (
	overviewHours         = 24
	overviewMaxRecords    = 50_000
	overviewMaxRedactions = 5_000
)

var windowHours = []int{1, 6, 24, 72, 168}

// actionGroups are the series of the events chart: the actions, grouped.
var actionGroups = []struct {
	name    string
	actions []string
}{
	{"Model calls", []string{record.ActionModelCall}},
	{"Tool calls and results", []string{record.ActionToolCall, record.ActionToolResult}},
	{"Approvals", []string{record.ActionApprovalRequested, record.ActionApprovalGranted, record.ActionApprovalDenied}},
	{"Decisions and other", []string{record.ActionDecision, record.ActionOther}},
	{"Errors, parse errors, gaps", []string{record.ActionError, record.ActionParseError, record.ActionGap}},
	{"The sidecar's own", []string{record.ActionChainStart, record.ActionCheckpoint, record.ActionKeyRotation,
		record.ActionRetentionPurge, record.ActionSidecarStart, record.ActionSidecarStop, record.ActionSeal}},
}

type overviewView struct {
	Hours    int
	Options  []int
	End      string // the form's value
	From, To string // the window, UTC
	Problem  string
	Counted  string // which records the counts cover
	Groups   []groupView
	Events   hoursChart
	Table    []hourRow // Events' numbers, hour by hour
	Approval barsChart
	ApprovalRows,
	ErrorRows []barItem
	Errors         hoursChart
	Redactions     barsChart
	RedactionRows  []barItem
	RedactionsNote string
	Scoped         bool // a tenant token: the sidecar's figures are not shown
	Lag            barsChart
	LagRows        []barItem
	LagNote        string
	Checkpoint     string
}

type groupView struct {
	Name, Color, Actions string
}

type hourRow struct {
	Hour   string
	Counts []int64
	Total  int64
}

// window is the overview's window from the request: ?hours= and ?end=.
func (c *console) window(r *http.Request, v *overviewView) (from, to time.Time, problem string) {
	in := r.URL.Query()
	v.Hours, v.Options, v.End = overviewHours, windowHours, in.Get("end")
	if h := in.Get("hours"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || !slices.Contains(windowHours, n) {
			return from, to, "The window must be one of the hours offered."
		}
		v.Hours = n
	}
	end := c.sessions.now().UTC()
	if v.End != "" {
		t, err := query.ParseTime(utc(v.End))
		if err != nil {
			return from, to, "The end of the window must be a time such as 2026-12-07T18:00 (UTC) or 2026-12-07T18:00:00Z."
		}
		end = t.UTC()
	}
	to = end.Truncate(time.Hour)
	if !to.Equal(end) || v.End == "" {
		to = to.Add(time.Hour)
	}
	from = to.Add(-time.Duration(v.Hours) * time.Hour)
	if from.Year() < 1 || to.Year() > 9999 {
		return from, to, "The window must lie inside the years 0001 to 9999."
	}
	return from, to, ""
}

func (c *console) serveOverview(w http.ResponseWriter, r *http.Request, _ string, ss *session) {
	v := overviewView{Scoped: ss.principal.Tenant() != ""}
	from, to, problem := c.window(r, &v)
	v.From, v.To = from.Format("2006-01-02 15:04"), to.Format("2006-01-02 15:04")
	if problem != "" {
		v.Problem = problem
		c.render(w, http.StatusBadRequest, "overview", ss, v)
		return
	}
	log := c.log.With(zap.String("token", ss.principal.Name()), zap.String("remote", r.RemoteAddr))
	hours, counted, err := c.reader.CountByHour(r.Context(), ss.principal, query.Window{From: from, To: to, Max: overviewMaxRecords})
	if err != nil {
		status, msg := http.StatusOK, "This store does not count records for an overview."
		if !errors.Is(err, query.ErrNoOverview) {
			status, msg = c.readFailed(w, r, err, log)
		}
		v.Problem = msg
		c.render(w, status, "overview", ss, v)
		return
	}
	v.Counted = countedWords(counted, overviewMaxRecords, "records")
	v.eventFigures(from, to, hours)
	red, rc, err := c.reader.CountRedactions(r.Context(), ss.principal, query.Window{From: from, To: to, Max: overviewMaxRedactions})
	if err != nil {
		_, msg := c.readFailed(w, r, err, log)
		v.RedactionsNote = "Not shown: " + msg
	} else {
		v.redactionFigure(red, rc)
	}
	if !v.Scoped {
		v.Lag, v.LagRows, v.LagNote = c.sinkLag()
		v.Checkpoint = checkpointWords(hours, c.sessions.now())
	}
	log.Info("console overview served", zap.Int("hours", v.Hours), zap.Int64("records", counted.N))
	c.render(w, http.StatusOK, "overview", ss, v)
}

// countedWords says which records a figure counted.
func countedWords(c sink.Counted, limit int, what string) string {
	if c.N < int64(limit) {
		return fmt.Sprintf("Counted all %d %s of the window.", c.N, what)
	}
	return fmt.Sprintf("The window holds more than %d %s: counted the newest %d, back to %s; older ones in the window are not counted. Choose a shorter window, or an earlier end, to count them.",
		limit, what, limit, c.Oldest)
}

// eventFigures fills the events chart and table, approvals against
// denials, and parse errors and gaps.
func (v *overviewView) eventFigures(from, to time.Time, hours []sink.HourCount) {
	n := int(to.Sub(from) / time.Hour)
	starts := make([]string, n)
	index := make(map[string]int, n)
	for i := range n {
		starts[i] = from.Add(time.Duration(i) * time.Hour).Format("2006-01-02T15")
		index[starts[i]] = i
	}
	group := map[string]int{}
	var names []string
	for g, ag := range actionGroups {
		names = append(names, ag.name)
		for _, a := range ag.actions {
			group[a] = g
		}
	}
	counts := make([][]int64, n)
	errs := make([][]int64, n)
	for i := range counts {
		counts[i], errs[i] = make([]int64, len(actionGroups)), make([]int64, 2)
	}
	byAction := map[string]int64{}
	for _, h := range hours {
		i, ok := index[h.Hour]
		if !ok {
			continue // not an hour of the window: a stored ts that is not a time
		}
		g, known := group[h.Action]
		if !known {
			g = 3 // "Decisions and other"
		}
		counts[i][g] += h.N
		byAction[h.Action] += h.N
		switch h.Action {
		case record.ActionParseError:
			errs[i][0] += h.N
		case record.ActionGap:
			errs[i][1] += h.N
		}
	}
	v.Events = newHoursChart(chartW, names, starts, counts)
	v.Events.Title = "Records per hour, stacked by kind of action, from " + v.From + " to " + v.To + " UTC. The numbers are in the table below the chart."
	for g, ag := range actionGroups {
		words := ""
		for i, a := range ag.actions {
			if i > 0 {
				words += ", "
			}
			words += a
		}
		v.Groups = append(v.Groups, groupView{ag.name, v.Events.Series[g].Color, words})
	}
	for i := range n {
		row := hourRow{Hour: starts[i][:10] + " " + starts[i][11:13] + ":00", Counts: counts[i]}
		for _, x := range counts[i] {
			row.Total += x
		}
		v.Table = append(v.Table, row)
	}
	v.ApprovalRows = []barItem{
		{"Approvals requested", byAction[record.ActionApprovalRequested], palette[0]},
		{"Approvals granted", byAction[record.ActionApprovalGranted], palette[1]},
		{"Approvals denied", byAction[record.ActionApprovalDenied], palette[2]},
	}
	v.Approval = newBarsChart(v.ApprovalRows)
	v.Approval.Title = "Approvals requested, granted and denied in the window. The numbers are in the table beside the chart."
	v.Errors = newHoursChart(halfW, []string{"Parse errors", "Gaps"}, starts, errs)
	v.Errors.Title = "Parse errors and gaps per hour. The numbers are in the table beside the chart."
	v.ErrorRows = []barItem{{"Parse errors", byAction[record.ActionParseError], ""}, {"Gaps", byAction[record.ActionGap], ""}}
}

// redactionFigure fills the redactions chart, most frequent type first.
func (v *overviewView) redactionFigure(red map[string]int64, c sink.Counted) {
	for typ, n := range red {
		v.RedactionRows = append(v.RedactionRows, barItem{Label: typ, N: n})
	}
	slices.SortFunc(v.RedactionRows, func(a, b barItem) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Label, b.Label)) })
	for i := range v.RedactionRows {
		v.RedactionRows[i].Label = cut(v.RedactionRows[i].Label, maxShownCell)
	}
	v.Redactions = newBarsChart(v.RedactionRows)
	v.Redactions.Title = "Values redacted in the window, by type. The numbers are in the table beside the chart."
	v.RedactionsNote = countedWords(c, overviewMaxRedactions, "records' redactions")
}

// checkpointWords says when the newest checkpoint record of the counted
// records was made.
func checkpointWords(hours []sink.HourCount, now time.Time) string {
	newest := ""
	for _, h := range hours {
		if h.Action == record.ActionCheckpoint && h.Newest > newest {
			newest = h.Newest
		}
	}
	t, err := time.Parse(time.RFC3339Nano, newest)
	if err != nil {
		return "No checkpoint record among the counted records of this window (checkpoints may be off, or older)."
	}
	age := now.Sub(t).Round(time.Second)
	if age < 0 {
		return fmt.Sprintf("The newest checkpoint record was made at %s UTC, %s after this console's clock.", t.Format("2006-01-02 15:04:05"), -age)
	}
	return fmt.Sprintf("The newest checkpoint record was made at %s UTC, %s ago.", t.Format("2006-01-02 15:04:05"), age)
}

// sinkLag is the sidecar's audit_sink_lag_records by sink, from its own
// metrics.
func (c *console) sinkLag() (barsChart, []barItem, string) {
	if c.metrics == nil {
		return barsChart{}, nil, "Not available: this console runs apart from a sidecar's pipeline, so it knows no sink's lag (each sidecar's /metrics has audit_sink_lag_records)."
	}
	mfs, err := c.metrics.Gather()
	if err != nil {
		c.log.Warn("console could not read the sidecar's metrics", zap.Error(err))
	}
	var rows []barItem
	for _, mf := range mfs {
		if mf.GetName() != "audit_sink_lag_records" {
			continue
		}
		for _, m := range mf.GetMetric() {
			name := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" {
					name = l.GetValue()
				}
			}
			rows = append(rows, barItem{Label: name, N: int64(m.GetGauge().GetValue())})
		}
	}
	if len(rows) == 0 {
		return barsChart{}, nil, "No sink has reported its lag yet."
	}
	slices.SortFunc(rows, func(a, b barItem) int { return cmp.Compare(a.Label, b.Label) })
	chart := newBarsChart(rows)
	chart.Title = "Records not yet in each sink. The numbers are in the table beside the chart."
	return chart, rows, "Records sealed into the spool but not yet in each sink, now (audit_sink_lag_records); 0 is caught up."
}

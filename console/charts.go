package console

import (
	"math"
	"strconv"
)

// The charts of the overview are inline SVG computed here and drawn by
// templates/overview.html: no script, no request. Every chart has a
// table of the same numbers beside it for screen readers, and its
// colours have a contrast of at least 3:1 with the white background
// (WCAG 1.4.11) and between neighbours a white gap.

// palette are the series' colours, each at least 6:1 against white.
var palette = []string{"#0b4fa8", "#1e6b2e", "#8a1111", "#7a4d00", "#5b3a8c", "#4a525c"}

// Geometry of the charts, in SVG user units (the SVG scales to the page).
const (
	chartW      = 760 // a chart the page's width
	halfW       = 460 // a chart half the page's width: its text stays as large
	hoursH      = 220
	hoursLeft   = 56 // the y axis' labels
	hoursBottom = 36 // the x axis' labels
	hoursTop    = 12
	barsLabelW  = 170
	barsValueW  = 70
	barRowH     = 28
	maxLabel    = 24 // bytes of a label an agent wrote shown in a chart
)

// series is one series of a chart: its name and colour.
type series struct {
	Name, Color string
}

// hoursChart is a stacked bar per hour.
type hoursChart struct {
	Title                                          string // what it shows, for screen readers
	W, H, PlotLeft, PlotBottom, PlotTop, PlotRight int
	Series                                         []series
	Bars                                           []hourBar
	Ticks                                          []tick // the y axis
	Empty                                          bool   // no record in the window
}

type hourBar struct {
	Label     string // "09:00", only on some bars
	LabelX    float64
	Segs      []rect
	Total     int64
	HourTitle string // "2026-03-04 09:00 UTC: 12 records"
}

type rect struct {
	X, Y, W, H float64
	Color      string
}

type tick struct {
	Y     float64
	Label string
}

// newHoursChart stacks counts[hour][series] (hours in order, len(names)
// values each) into bars w wide. starts are the hours' "2006-01-02T15".
func newHoursChart(w int, names []string, starts []string, counts [][]int64) hoursChart {
	c := hoursChart{W: w, H: hoursH, PlotLeft: hoursLeft, PlotBottom: hoursH - hoursBottom, PlotTop: hoursTop, PlotRight: w - 8}
	for i, n := range names {
		c.Series = append(c.Series, series{n, palette[i%len(palette)]})
	}
	var top int64
	for _, row := range counts {
		var t int64
		for _, v := range row {
			t += v
		}
		top = max(top, t)
	}
	c.Empty = top == 0
	scale := niceCeil(top)
	plotH := float64(c.PlotBottom - c.PlotTop)
	fractions := []float64{0, 0.5, 1}
	if scale < 2 {
		fractions = []float64{0, 1}
	}
	for _, f := range fractions {
		c.Ticks = append(c.Ticks, tick{Y: float64(c.PlotBottom) - f*plotH, Label: strconv.FormatInt(int64(f*float64(scale)), 10)})
	}
	n := len(counts)
	if n == 0 {
		return c
	}
	step := float64(c.PlotRight-c.PlotLeft) / float64(n)
	every := int(math.Ceil(float64(n) / float64(w/64)))
	for i, row := range counts {
		x := float64(c.PlotLeft) + float64(i)*step
		b := hourBar{LabelX: x + step/2}
		if i%every == 0 {
			b.Label = starts[i][11:13] + ":00"
		}
		y := float64(c.PlotBottom)
		for s, v := range row {
			b.Total += v
			if v == 0 {
				continue
			}
			h := float64(v) / float64(scale) * plotH
			y -= h
			b.Segs = append(b.Segs, rect{X: x + step*0.1, Y: y, W: step * 0.8, H: h, Color: c.Series[s].Color})
		}
		b.HourTitle = starts[i][:10] + " " + starts[i][11:13] + ":00 UTC: " + strconv.FormatInt(b.Total, 10) + " records"
		c.Bars = append(c.Bars, b)
	}
	return c
}

// barsChart is one horizontal bar per item.
type barsChart struct {
	Title        string
	W, H, LabelW int
	Rows         []barRow
}

type barRow struct {
	Label, Value string
	Y, TextY     float64
	Bar          rect
	ValueX       float64
}

type barItem struct {
	Label string
	N     int64
	Color string // "" for the first colour of the palette
}

// newBarsChart draws items in their order.
func newBarsChart(items []barItem) barsChart {
	c := barsChart{W: halfW, H: len(items)*barRowH + 8, LabelW: barsLabelW}
	var top int64
	for _, it := range items {
		top = max(top, it.N)
	}
	plotW := float64(halfW - barsLabelW - barsValueW)
	for i, it := range items {
		y := float64(4 + i*barRowH)
		w := 0.0
		if top > 0 {
			w = float64(it.N) / float64(top) * plotW
		}
		color := it.Color
		if color == "" {
			color = palette[0]
		}
		c.Rows = append(c.Rows, barRow{Label: cut(it.Label, maxLabel), Value: strconv.FormatInt(it.N, 10),
			Y: y, TextY: y + barRowH/2 + 5, Bar: rect{X: barsLabelW, Y: y + 4, W: max(w, 1), H: barRowH - 8, Color: color},
			ValueX: barsLabelW + w + 6})
	}
	return c
}

// niceCeil is the smallest of 1, 2, 5 times a power of ten at or above
// n (at least 1): the top of an axis.
func niceCeil(n int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
		if p > math.MaxInt64/100 {
			return n
		}
	}
}

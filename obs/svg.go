package obs

import (
	"math"
	"strconv"
	"strings"
)

// Chart geometry of the status page, in SVG user units.
const (
	chartW      = 560
	chartH      = 260
	chartLeft   = 56 // room for y tick labels
	chartRight  = 16
	chartTop    = 12 // above the legend rows
	chartBottom = 40 // room for x tick labels and the axis label
	// chartDotsMax is the most points a series has for its points to be
	// drawn as dots too (a one-point series is only a dot).
	chartDotsMax = 60
	// chartMarksMax is the most vertical marks drawn (every k-th).
	chartMarksMax = 12
	// legendPerRow legend entries share a row, legendW apart; rows are
	// legendH high.
	legendPerRow = 3
	legendW      = 160
	legendH      = 16
)

// seriesData is one line to draw: Y against X, in data units.
type seriesData struct {
	Name  string
	Color string
	X, Y  []float64
}

// chartMark is a vertical line at data X (an epoch boundary).
type chartMark struct {
	X     float64
	Label string
}

// chart is a line chart laid out for the page template: every coordinate
// is in SVG user units of a W×H viewBox.
type chart struct {
	Title  string
	XLabel string
	W, H   int
	// Left, Top, Right, Bottom bound the plot area.
	Left, Top, Right, Bottom float64
	XTicks, YTicks           []tick
	Series                   []series
	Marks                    []mark
	// Empty, when set, is shown instead of the axes (no data yet).
	Empty string
}

// tick is an axis tick at Pos (x for the x axis, y for the y axis).
type tick struct {
	Pos   float64
	Label string
}

// series is a laid-out line: Points is the polyline's points attribute;
// the legend entry's swatch is at (LX, LY), its text at (LX+14, LY+9).
type series struct {
	Name, Color, Last string
	Points            string
	Dots              []dot
	LX, LY            float64
}

// Positions the template derives from the plot area.

// PlotW and PlotH are the plot area's size.
func (c chart) PlotW() float64 { return c.Right - c.Left }

// PlotH is the plot area's height.
func (c chart) PlotH() float64 { return c.Bottom - c.Top }

// MidX and MidY are the plot area's centre.
func (c chart) MidX() float64 { return (c.Left + c.Right) / 2 }

// MidY is the plot area's vertical centre.
func (c chart) MidY() float64 { return (c.Top + c.Bottom) / 2 }

// YLabelX is where y tick labels end.
func (c chart) YLabelX() float64 { return c.Left - 6 }

// XTickEnd is the lower end of x tick lines.
func (c chart) XTickEnd() float64 { return c.Bottom + 4 }

// XLabelY is the baseline of x tick labels.
func (c chart) XLabelY() float64 { return c.Bottom + 16 }

// AxisLabelY is the baseline of the x axis label.
func (c chart) AxisLabelY() float64 { return c.Bottom + 32 }

// MarkLabelY is the baseline of mark labels, inside the plot area's top.
func (c chart) MarkLabelY() float64 { return c.Top + 10 }

type dot struct{ X, Y float64 }

// mark is a laid-out vertical line.
type mark struct {
	X     float64
	Label string
}

// lineChart lays out the series on shared axes. intX keeps x ticks on
// integers (steps, epochs). Non-finite values are left out; a chart with no
// finite point says empty instead.
func lineChart(title, xlabel, empty string, in []seriesData, marks []chartMark, intX bool) chart {
	c := chart{Title: title, XLabel: xlabel, W: chartW, H: chartH,
		Left: chartLeft, Top: chartTop, Right: chartW - chartRight, Bottom: chartH - chartBottom}
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, s := range in {
		for i := range s.X {
			if finite(s.X[i]) && finite(s.Y[i]) {
				xlo, xhi = math.Min(xlo, s.X[i]), math.Max(xhi, s.X[i])
				ylo, yhi = math.Min(ylo, s.Y[i]), math.Max(yhi, s.Y[i])
			}
		}
	}
	if xlo > xhi {
		c.Empty = empty
		return c
	}
	rows := (len(in) + legendPerRow - 1) / legendPerRow
	c.Top += float64(rows * legendH)
	xt, xlo, xhi := niceTicks(xlo, xhi, 6, intX)
	yt, ylo, yhi := niceTicks(ylo, yhi, 5, false)
	// Positions are rounded to 0.1 unit: finer is invisible and bloats the page.
	sx := func(x float64) float64 { return round1(c.Left + (x-xlo)/(xhi-xlo)*(c.Right-c.Left)) }
	sy := func(y float64) float64 { return round1(c.Bottom - (y-ylo)/(yhi-ylo)*(c.Bottom-c.Top)) }
	for _, v := range xt {
		c.XTicks = append(c.XTicks, tick{Pos: sx(v), Label: tickLabel(v, xt)})
	}
	for _, v := range yt {
		c.YTicks = append(c.YTicks, tick{Pos: sy(v), Label: tickLabel(v, yt)})
	}
	for _, s := range in {
		var b strings.Builder
		var dots []dot
		last := math.NaN()
		for i := range s.X {
			if !finite(s.X[i]) || !finite(s.Y[i]) {
				continue
			}
			x, y := sx(s.X[i]), sy(s.Y[i])
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
			b.WriteByte(',')
			b.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
			dots = append(dots, dot{x, y})
			last = s.Y[i]
		}
		if len(dots) > chartDotsMax {
			dots = nil
		}
		ls := ""
		if finite(last) {
			ls = strconv.FormatFloat(last, 'f', 4, 64)
		}
		i := len(c.Series)
		c.Series = append(c.Series, series{Name: s.Name, Color: s.Color, Last: ls, Points: b.String(), Dots: dots,
			LX: c.Left + float64(i%legendPerRow*legendW), LY: float64(chartTop - 8 + i/legendPerRow*legendH)})
	}
	every := (len(marks) + chartMarksMax - 1) / chartMarksMax // at most chartMarksMax marks
	for i, m := range marks {
		if i%every != 0 || m.X <= xlo || m.X > xhi {
			continue
		}
		c.Marks = append(c.Marks, mark{X: sx(m.X), Label: m.Label})
	}
	return c
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// niceTicks returns about n ticks at 1, 2 or 5 × 10^k spacing that cover
// [lo, hi], and the covered range (from the first tick to the last). A
// degenerate range is widened around its value. integer keeps the spacing
// at least 1.
func niceTicks(lo, hi float64, n int, integer bool) ([]float64, float64, float64) {
	if hi <= lo {
		pad := math.Abs(lo) * 0.1
		if pad == 0 || integer {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
	}
	step := niceStep((hi - lo) / float64(n))
	if integer && step < 1 {
		step = 1
	}
	k0, k1 := math.Floor(lo/step), math.Ceil(hi/step)
	var ts []float64
	for k := k0; k <= k1; k++ {
		ts = append(ts, k*step)
	}
	return ts, k0 * step, k1 * step
}

// niceStep rounds raw to the nearest 1, 2 or 5 × 10^k (on a log scale).
func niceStep(raw float64) float64 {
	if raw <= 0 || !finite(raw) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch r := raw / p; {
	case r < 1.5:
		return p
	case r < 3:
		return 2 * p
	case r < 7:
		return 5 * p
	}
	return 10 * p
}

// tickLabel formats v with as many decimals as the tick spacing needs.
func tickLabel(v float64, ticks []float64) string {
	dec := 0
	if len(ticks) > 1 {
		step := ticks[1] - ticks[0]
		if step < 1 {
			dec = int(math.Ceil(-math.Log10(step) - 1e-9))
		}
	}
	if math.Abs(v) < 1e-12 {
		v = 0
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

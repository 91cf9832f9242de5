package obs

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/trainerd/trainerd/internal/atomicfile"
)

// CurvePoint is one epoch of the training curve. Recall is NaN for epochs
// that were not evaluated.
type CurvePoint struct {
	Epoch  int
	Loss   float64
	Recall float64
}

// Plot file names in the run directory.
const (
	CurvePNG = "curve.png"
	CurveSVG = "curve.svg"
)

// WriteCurve draws loss by epoch (top panel) and recall by epoch (bottom;
// recallLabel titles it, e.g. "recall@20 (validation)") and writes runDir/curve.png and
// runDir/curve.svg, each atomically (temp file, fsync, rename).
func WriteCurve(runDir string, pts []CurvePoint, recallLabel string) error {
	var loss, recall plotter.XYs
	for _, p := range pts {
		if !math.IsNaN(p.Loss) && !math.IsInf(p.Loss, 0) {
			loss = append(loss, plotter.XY{X: float64(p.Epoch), Y: p.Loss})
		}
		if !math.IsNaN(p.Recall) && !math.IsInf(p.Recall, 0) {
			recall = append(recall, plotter.XY{X: float64(p.Epoch), Y: p.Recall})
		}
	}
	top, err := panel("training loss", "loss", loss, color.RGBA{R: 200, G: 40, B: 40, A: 255})
	if err != nil {
		return err
	}
	bottom, err := panel(recallLabel, recallLabel, recall, color.RGBA{R: 30, G: 90, B: 200, A: 255})
	if err != nil {
		return err
	}
	if len(pts) > 0 { // one epoch axis for both panels
		lo, hi := float64(pts[0].Epoch), float64(pts[0].Epoch)
		for _, p := range pts {
			lo, hi = math.Min(lo, float64(p.Epoch)), math.Max(hi, float64(p.Epoch))
		}
		for _, p := range []*plot.Plot{top, bottom} {
			p.X.Min, p.X.Max = lo, hi
		}
	}
	const w, h = 6 * vg.Inch, 6 * vg.Inch
	render := func(c vg.CanvasWriterTo) vg.CanvasWriterTo {
		dc := draw.New(c)
		tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
			PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
		cs := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
		top.Draw(cs[0][0])
		bottom.Draw(cs[1][0])
		return c
	}
	if err := writeAtomic(filepath.Join(runDir, CurvePNG), render(vgimg.PngCanvas{Canvas: vgimg.New(w, h)})); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(runDir, CurveSVG), render(vgsvg.New(w, h)))
}

func panel(title, ylabel string, xys plotter.XYs, c color.Color) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	if len(xys) == 0 {
		return p, nil
	}
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, fmt.Errorf("obs: plot %s: %w", title, err)
	}
	line.Color = c
	line.Width = vg.Points(1.5)
	points.Color = c
	points.Shape = draw.CircleGlyph{}
	p.Add(line, points)
	return p, nil
}

// writeAtomic writes w's output to path atomically and durably
// (atomicfile.Write).
func writeAtomic(path string, w io.WriterTo) error {
	if err := atomicfile.Write(path, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	}); err != nil {
		return fmt.Errorf("obs: %w", err)
	}
	return nil
}

// Series is one named line of a comparison plot: Y by epoch. Points with a
// non-finite Y are left out.
type Series struct {
	Name   string
	Epochs []int
	Y      []float64
	// Mark, when > 0, is an epoch to circle (e.g. the selected one).
	Mark int
}

// seriesColors are the comparison plot's line colours, in order (repeated
// with dashes past the end).
var seriesColors = []color.RGBA{
	{R: 30, G: 90, B: 200, A: 255}, {R: 200, G: 40, B: 40, A: 255}, {R: 30, G: 150, B: 60, A: 255},
	{R: 150, G: 60, B: 180, A: 255}, {R: 230, G: 130, B: 0, A: 255}, {R: 0, G: 150, B: 160, A: 255},
	{R: 120, G: 120, B: 120, A: 255}, {R: 160, G: 110, B: 40, A: 255},
}

// WriteCurves draws every series in one panel (title, y label ylabel, x the
// epoch, a legend of the series' names, each Mark circled) and writes
// base+".png" and base+".svg", each atomically. It returns the two paths.
func WriteCurves(base, title, ylabel string, series []Series) ([]string, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = false
	for i, s := range series {
		var xys plotter.XYs
		var mark plotter.XYs
		for k, e := range s.Epochs {
			if k >= len(s.Y) || math.IsNaN(s.Y[k]) || math.IsInf(s.Y[k], 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: float64(e), Y: s.Y[k]})
			if e == s.Mark {
				mark = append(mark, plotter.XY{X: float64(e), Y: s.Y[k]})
			}
		}
		if len(xys) == 0 {
			continue
		}
		c := seriesColors[i%len(seriesColors)]
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("obs: plot %s: %w", s.Name, err)
		}
		line.Color, points.Color = c, c
		line.Width = vg.Points(1.5)
		if i >= len(seriesColors) {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(1.5)
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
		if len(mark) > 0 {
			sc, err := plotter.NewScatter(mark)
			if err != nil {
				return nil, fmt.Errorf("obs: plot %s: %w", s.Name, err)
			}
			sc.Shape = draw.RingGlyph{}
			sc.Radius = vg.Points(5)
			sc.Color = c
			p.Add(sc)
		}
	}
	// Room above the data for the legend (one row per series) and beside
	// it for the marks' rings.
	if p.Y.Max > p.Y.Min {
		p.Y.Max += 0.08 * float64(len(series)) * (p.Y.Max - p.Y.Min)
	}
	p.X.Min, p.X.Max = p.X.Min-0.25, p.X.Max+0.25
	const w, h = 7 * vg.Inch, 4.5 * vg.Inch
	render := func(c vg.CanvasWriterTo) vg.CanvasWriterTo {
		p.Draw(draw.New(c))
		return c
	}
	paths := []string{base + ".png", base + ".svg"}
	if err := writeAtomic(paths[0], render(vgimg.PngCanvas{Canvas: vgimg.New(w, h)})); err != nil {
		return nil, err
	}
	if err := writeAtomic(paths[1], render(vgsvg.New(w, h))); err != nil {
		return nil, err
	}
	return paths, nil
}

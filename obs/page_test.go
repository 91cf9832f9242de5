package obs

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// feed drives a StatusBox's history the way the trainer's updates do, with
// a fake clock: epochs of perEpoch steps, each step dt long, loss falling,
// an evaluation after every epoch.
type feed struct {
	b        *StatusBox
	t        time.Time
	dt       time.Duration
	perEpoch int
}

func (f *feed) update(fn func(*Status)) {
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	fn(&f.b.s)
	f.b.s.Updated = f.t
	f.b.hist.observe(&f.b.s)
}

// train runs steps from the current position.
func (f *feed) train(steps int) {
	for range steps {
		f.t = f.t.Add(f.dt)
		f.update(func(s *Status) {
			s.Step++
			s.Batch++
			if s.Epoch == 0 {
				s.Epoch = 1
			}
			if s.Batch > f.perEpoch {
				s.Epoch++
				s.Batch = 1
			}
			s.Loss = 1 / float64(s.Step)
			s.ExamplesPerSec = 2048
		})
		if f.b.s.Batch == f.perEpoch {
			e := f.b.s.Epoch
			f.update(func(s *Status) {
				s.Eval = map[string]float64{"recall@20": 0.1 * float64(e), "ndcg@20": 0.05 * float64(e),
					"hit@20": 0.5, "users": 100}
				s.EvalEpoch = e
			})
		}
	}
}

func newFeed(perEpoch int) *feed {
	return &feed{b: &StatusBox{}, t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), dt: time.Second, perEpoch: perEpoch}
}

// svgParts returns the page's <svg> elements.
func svgParts(page string) []string {
	return regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
}

// wellFormed checks that s parses as XML to its end; html parses it as
// HTML (void elements, HTML entities).
func wellFormed(s string, html bool) error {
	d := xml.NewDecoder(strings.NewReader(s))
	if html {
		d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	}
	for {
		if _, err := d.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func render(t *testing.T, s Status, h historyView, g gauges, now time.Time) string {
	t.Helper()
	var b strings.Builder
	if err := pageTemplate.Execute(&b, buildPage(s, h, g, now)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPageRender(t *testing.T) {
	evil := `soft<script>alert("x")</script>&max`
	f := newFeed(10)
	f.update(func(s *Status) {
		s.State, s.Model, s.Device, s.RunDir, s.Epochs = "training", "pinsage", "cuda:0", "/runs/<q>", 5
		s.Started, s.ConfigHash = f.t, "abc123"
		s.Config = RunConfig{Loss: evil, Dim: 32, Layers: 2, BatchSize: 512, LR: 0.005}
		s.LastCheckpoint = "/runs/q/checkpoints/ckpt-000020.bin"
	})
	f.train(25) // epochs 1 and 2 whole, epoch 3 at batch 5
	s, h := f.b.snapshotHistory()
	now := f.t
	g := gauges{ConsumerWait: 0.25, HasConsumerWait: true, QueueDepth: 3, HasQueueDepth: true, CheckpointAge: 90}

	empty := render(t, Status{}, historyView{}, gauges{CheckpointAge: -1}, now)
	full := render(t, s, h, g, now)
	failed := s
	failed.State, failed.Error = "failed", "trainer: step 7: <nan> loss"
	failedPage := render(t, failed, h, g, now)
	mf := Status{State: "training", Model: "mf", Epochs: 3, Updated: now.Add(-2 * time.Minute),
		Config: RunConfig{Loss: "bpr", Dim: 64, BatchSize: 2048, LR: 0.001}}
	mfPage := render(t, mf, historyView{}, gauges{CheckpointAge: -1}, now)

	cases := []struct {
		name            string
		page            string
		want, dont      []string
		polylines, svgs int
	}{
		{name: "starting", page: empty,
			want: []string{"no training step yet", "no evaluation yet", "not reported", "none yet",
				"waiting for the first step", `<meta http-equiv="refresh" content="3">`, `data-refresh-ms="3000"`},
			dont: []string{"<polyline", "http://", "https://", "<script src", "<link rel=\"stylesheet\""},
			svgs: 2},
		{name: "training", page: full,
			want: []string{
				"<title>trainerd · pinsage · training</title>",
				">3 / 5<", "batch 5 / 10", // epoch and batch
				">25<",                      // step
				">25s<", "at 10s per epoch", // ETA: 2.5 epochs of 10 s
				">0.0400<",     // last loss 1/25
				">2\u2009048<", // examples/s
				">25.0 %<", "queue holds 3 ready batches", ">not tracked<",
				">1m 30s ago<", "ckpt-000020.bin", ">cuda:0<",
				">32<", ">512<", ">0.005<", ">abc123<",
				"soft&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;max",
				"/runs/&lt;q&gt;",
				`data-series="loss"`, `data-series="recall@20"`, `data-series="ndcg@20"`,
				"Last evaluation (epoch 2)", ">hit@20<", ">0.2000<",
			},
			dont:      []string{`<script>alert`, "/runs/<q>", `data-series="hit@20"`, `>users<`, "http://", "https://"},
			polylines: 3, svgs: 2},
		{name: "failed", page: failedPage,
			want: []string{`class="state bad"`, "trainer: step 7: &lt;nan&gt; loss", "run failed"},
			dont: []string{"<nan>"}, polylines: 3, svgs: 2},
		{name: "mf, stale", page: mfPage,
			want: []string{`<td class="k">layers</td><td class="v">0</td>`, `<td class="k">lr</td><td class="v">0.001</td>`,
				`<td class="k">batches/epoch</td><td class="v missing">not reported</td>`,
				"no status update for 2m 00s (state training)"},
			dont: []string{`<td class="k">layers</td><td class="v missing">`}, svgs: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, w := range c.want {
				if !strings.Contains(c.page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, d := range c.dont {
				if strings.Contains(c.page, d) {
					t.Errorf("page has %q", d)
				}
			}
			if n := strings.Count(c.page, "<polyline"); n != c.polylines {
				t.Errorf("%d polylines, want %d", n, c.polylines)
			}
			svgs := svgParts(c.page)
			if len(svgs) != c.svgs {
				t.Fatalf("%d <svg> elements, want %d", len(svgs), c.svgs)
			}
			for _, s := range svgs {
				if err := wellFormed(s, false); err != nil {
					t.Errorf("svg is not well-formed XML: %v\n%s", err, s)
				}
			}
			if err := wellFormed(c.page, true); err != nil {
				t.Errorf("page does not parse as HTML: %v", err)
			}
		})
	}
	if p := os.Getenv("TRAINERD_PAGE_OUT"); p != "" {
		if err := os.WriteFile(p, []byte(full), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPageLossCurve checks the polyline against the loss points: the
// chart's y order follows the losses (lower loss, larger y).
func TestPageLossCurve(t *testing.T) {
	f := newFeed(100)
	f.update(func(s *Status) { s.State, s.Epochs = "training", 3 })
	f.train(50)
	_, h := f.b.snapshotHistory()
	c := lossChart(h)
	if len(c.Series) != 1 {
		t.Fatalf("%d series", len(c.Series))
	}
	pts := strings.Fields(c.Series[0].Points)
	if len(pts) != 50 {
		t.Fatalf("%d points, want 50", len(pts))
	}
	prevX, prevY := -1.0, -1.0
	for _, p := range pts {
		var x, y float64
		if _, err := fmt.Sscanf(p, "%f,%f", &x, &y); err != nil {
			t.Fatal(err)
		}
		if x <= prevX || y < prevY { // loss 1/step falls, so y grows downwards
			t.Fatalf("point %s after (%.1f,%.1f): not increasing", p, prevX, prevY)
		}
		if x < c.Left-0.05 || x > c.Right+0.05 || y < c.Top-0.05 || y > c.Bottom+0.05 {
			t.Fatalf("point %s outside the plot area %v..%v × %v..%v", p, c.Left, c.Right, c.Top, c.Bottom)
		}
		prevX, prevY = x, y
	}
}

// TestHistoryLossBuckets feeds loss = step: every point is then the mean of
// the steps its bucket covers, however often the buckets were merged.
func TestHistoryLossBuckets(t *testing.T) {
	for _, steps := range []int{1, 399, 400, 401, 1000, 12345} {
		var h history
		t0 := time.Unix(0, 0)
		for i := 1; i <= steps; i++ {
			h.observe(&Status{Epoch: 1, Step: i, Batch: i, Loss: float64(i), Updated: t0.Add(time.Duration(i) * time.Millisecond)})
		}
		if len(h.loss) == 0 || len(h.loss) >= maxLossPoints {
			t.Fatalf("%d steps: %d points", steps, len(h.loss))
		}
		for _, p := range h.loss {
			want := float64(p.Step) - float64(h.stride-1)/2
			if p.Step%h.stride != 0 || math.Abs(p.Loss-want) > 1e-9 {
				t.Fatalf("%d steps, stride %d: point %+v, want loss %v", steps, h.stride, p, want)
			}
		}
		if last := h.loss[len(h.loss)-1].Step; steps-last >= h.stride {
			t.Errorf("%d steps: last point at %d, stride %d", steps, last, h.stride)
		}
	}
}

func TestHistoryEpochsAndRate(t *testing.T) {
	cases := []struct {
		name       string
		startBatch int // a resumed run starts mid-epoch
		steps      int
		perEpoch   int
		epochSecs  float64
		stepsPerS  float64
	}{
		{name: "first epoch", startBatch: 0, steps: 5, perEpoch: 0, epochSecs: 0, stepsPerS: 1},
		{name: "two epochs", startBatch: 0, steps: 25, perEpoch: 10, epochSecs: 10, stepsPerS: 1},
		{name: "resumed mid-epoch", startBatch: 4, steps: 8, perEpoch: 10, epochSecs: 0, stepsPerS: 1},
		{name: "resumed, one whole epoch", startBatch: 4, steps: 18, perEpoch: 10, epochSecs: 10, stepsPerS: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFeed(10)
			f.update(func(s *Status) { s.Epoch, s.Step, s.Batch, s.Epochs = 1, 100+c.startBatch, c.startBatch, 5 })
			f.train(c.steps)
			_, h := f.b.snapshotHistory()
			if h.PerEpoch != c.perEpoch {
				t.Errorf("perEpoch %d, want %d", h.PerEpoch, c.perEpoch)
			}
			if math.Abs(h.EpochSeconds-c.epochSecs) > 1e-9 {
				t.Errorf("epoch seconds %v, want %v", h.EpochSeconds, c.epochSecs)
			}
			if math.Abs(h.StepsPerSec-c.stepsPerS) > 1e-9 {
				t.Errorf("steps/s %v, want %v", h.StepsPerSec, c.stepsPerS)
			}
		})
	}
}

func TestETA(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		s     Status
		h     historyView
		value string
		note  string
	}{
		{name: "done", s: Status{State: "done", Epoch: 5, Epochs: 5}, value: "done"},
		{name: "no epoch length", s: Status{State: "training", Epoch: 1, Epochs: 5, Batch: 3},
			h: historyView{StepsPerSec: 2}, value: "—", note: "known after the first epoch"},
		{name: "reported epoch length, step rate", s: Status{State: "training", Epoch: 1, Epochs: 2, Batch: 20, BatchesPerEpoch: 100},
			h: historyView{StepsPerSec: 4}, value: "45s", note: "at 4.0 steps/s"},
		{name: "epoch wall time wins", s: Status{State: "training", Epoch: 2, Epochs: 3, Batch: 50},
			h: historyView{PerEpoch: 100, StepsPerSec: 4, EpochSeconds: 60}, value: "1m 30s", note: "ends about 12:01 UTC"},
		{name: "stopped", s: Status{State: "stopped", Epoch: 2, Epochs: 3}, value: "—", note: "run stopped"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			per := c.s.BatchesPerEpoch
			if per == 0 {
				per = c.h.PerEpoch
			}
			got := etaCard(c.s, c.h, per, now)
			if got.Value != c.value || !strings.Contains(got.Note, c.note) {
				t.Errorf("ETA %q (%s), want %q (…%s…)", got.Value, got.Note, c.value, c.note)
			}
		})
	}
}

func TestHistoryEvals(t *testing.T) {
	var h history
	t0 := time.Unix(0, 0)
	for _, e := range []struct {
		epoch  int
		recall float64
	}{{1, 0.1}, {1, 0.1}, {2, 0.2}, {2, 0.25}, {3, 0.3}} {
		h.observe(&Status{EvalEpoch: e.epoch, Eval: map[string]float64{"recall@20": e.recall}, Updated: t0})
	}
	v := h.view()
	want := []float64{0.1, 0.2, 0.3} // epoch 2's second update has the same EvalEpoch: not a new evaluation
	if len(v.Evals) != len(want) {
		t.Fatalf("%d evaluations, want %d: %+v", len(v.Evals), len(want), v.Evals)
	}
	for i, w := range want {
		if v.Evals[i].Epoch != i+1 || v.Evals[i].Values["recall@20"] != w {
			t.Errorf("evaluation %d = %+v, want epoch %d recall %v", i, v.Evals[i], i+1, w)
		}
	}
	v.Evals[0].Values["recall@20"] = 9 // the view is a copy
	if h.evals[0].Values["recall@20"] != 0.1 {
		t.Error("view shares the history's maps")
	}
}

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		lo, hi  float64
		n       int
		integer bool
		want    []float64
	}{
		{0, 1, 5, false, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0.013, 0.047, 5, false, []float64{0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05}},
		{1, 3, 6, true, []float64{1, 2, 3}},
		{1, 1, 6, true, []float64{0, 1, 2}},
		{7, 1234, 6, true, []float64{0, 200, 400, 600, 800, 1000, 1200, 1400}},
		{2.5, 2.5, 5, false, []float64{2.2, 2.3, 2.4, 2.5, 2.6, 2.7, 2.8}},
		{0.31, 0.95, 5, false, []float64{0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}},
	}
	for _, c := range cases {
		got, lo, hi := niceTicks(c.lo, c.hi, c.n, c.integer)
		ok := len(got) == len(c.want) && lo <= c.lo && hi >= c.hi
		for i := 0; ok && i < len(got); i++ {
			ok = math.Abs(got[i]-c.want[i]) < 1e-9
		}
		if !ok {
			t.Errorf("niceTicks(%v, %v, %d, %v) = %v [%v, %v], want %v", c.lo, c.hi, c.n, c.integer, got, lo, hi, c.want)
		}
	}
}

func TestPageRoute(t *testing.T) {
	m := NewMetrics()
	var st StatusBox
	st.Update(func(s *Status) {
		s.State, s.Model, s.Epoch, s.Epochs, s.Step, s.Batch = "training", "lightgcn", 1, 2, 1, 1
		s.Config = RunConfig{Loss: "bpr", Dim: 64}
		s.BatchesPerEpoch = 10
	})
	m.ConsumerWait.Set(0.5)
	ts := httptest.NewServer(Handler(m, &st))
	defer ts.Close()

	resp, err := ts.Client().Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, w := range []string{"lightgcn", ">50.0 %<", ">bpr<", ">64<", "batch 1 / 10"} {
		if !strings.Contains(string(body), w) {
			t.Errorf("GET / lacks %q", w)
		}
	}
	if code, _ := get(t, ts.URL+"/nope"); code != 404 {
		t.Errorf("GET /nope = %d, want 404", code)
	}
	_, js := get(t, ts.URL+"/status")
	var back Status
	if err := json.Unmarshal([]byte(js), &back); err != nil {
		t.Fatal(err)
	}
	if back.Config.Loss != "bpr" || back.Config.Dim != 64 || back.BatchesPerEpoch != 10 {
		t.Errorf("/status config = %+v, batches/epoch %d", back.Config, back.BatchesPerEpoch)
	}
	_, js = get(t, httptest.NewServer(Handler(m, &StatusBox{})).URL+"/status")
	if strings.Contains(js, `"config"`) || strings.Contains(js, "batches_per_epoch") {
		t.Errorf("/status without a config shows one:\n%s", js)
	}
}

// TestPageConcurrent renders the page while the status changes (run with
// -race).
func TestPageConcurrent(t *testing.T) {
	m := NewMetrics()
	var st StatusBox
	ts := httptest.NewServer(Handler(m, &st))
	defer ts.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= 2000; i++ {
			st.Update(func(s *Status) {
				s.State, s.Epoch, s.Epochs, s.Step, s.Batch, s.Loss = "training", 1+i/100, 30, i, i%100+1, 1/float64(i)
				if i%100 == 0 {
					s.Eval, s.EvalEpoch = map[string]float64{"recall@20": float64(i) / 1e4}, i/100
				}
			})
			m.ConsumerWait.Set(float64(i%10) / 10)
		}
	}()
	for range 20 {
		if code, body := get(t, ts.URL+"/"); code != 200 || !strings.Contains(body, "<svg") {
			t.Fatalf("GET / = %d", code)
		}
	}
	wg.Wait()
	if _, body := get(t, ts.URL+"/"); !strings.Contains(body, ">2000<") {
		t.Error("page after the updates lacks step 2000")
	}
}

func TestChartMarks(t *testing.T) {
	sd := seriesData{Name: "loss", X: []float64{1, 1000}, Y: []float64{2, 1}}
	for _, n := range []int{0, 1, chartMarksMax, chartMarksMax + 1, 999} {
		var marks []chartMark
		for i := range n {
			marks = append(marks, chartMark{X: float64(1 + i), Label: "e" + strconv.Itoa(i+1)})
		}
		c := lineChart("t", "step", "none", []seriesData{sd}, marks, true)
		// The mark at the left edge (x = 1) is not drawn.
		if got := len(c.Marks); got > chartMarksMax || (n > 1 && got == 0) {
			t.Errorf("%d marks: %d drawn", n, got)
		}
		for _, m := range c.Marks {
			if m.Label == "" || m.X <= c.Left || m.X > c.Right {
				t.Errorf("%d marks: mark %+v outside %v..%v or unlabelled", n, m, c.Left, c.Right)
			}
		}
	}
}

// BenchmarkPage renders the page of a long run: a full loss curve (about
// maxLossPoints), 50 evaluations and epoch marks.
func BenchmarkPage(b *testing.B) {
	f := newFeed(200)
	f.update(func(s *Status) { s.State, s.Model, s.Epochs = "training", "pinsage", 100 })
	f.train(50 * 200)
	s, h := f.b.snapshotHistory()
	g := gauges{ConsumerWait: 0.1, HasConsumerWait: true, CheckpointAge: 5}
	var size int
	for b.Loop() {
		var w strings.Builder
		if err := pageTemplate.Execute(&w, buildPage(s, h, g, f.t)); err != nil {
			b.Fatal(err)
		}
		size = w.Len()
	}
	b.ReportMetric(float64(size), "bytes/page")
}

// BenchmarkStatusUpdate is one training step's status update, history
// included (the trainer makes one per step).
func BenchmarkStatusUpdate(b *testing.B) {
	var st StatusBox
	i := 0
	for b.Loop() {
		i++
		st.Update(func(s *Status) { s.Epoch, s.Step, s.Batch, s.Loss = 1+i/1000, i, i%1000+1, 1/float64(i) })
	}
}

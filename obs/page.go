package obs

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RunConfig is the summary of the run's config that the status page shows
// (the model name and the planned epochs are Status.Model and
// Status.Epochs). A zero RunConfig is shown as not reported; in a reported
// one, zero Dim, BatchSize, LR or empty Loss are.
type RunConfig struct {
	// Loss is the training loss (bpr, margin, softmax).
	Loss string `json:"loss,omitempty"`
	// Dim is the embedding dimension; Layers the propagation or
	// convolution layers.
	Dim    int `json:"dim,omitempty"`
	Layers int `json:"layers,omitempty"`
	// BatchSize is the minibatch size in examples.
	BatchSize int `json:"batch_size,omitempty"`
	// LR is the base learning rate.
	LR float64 `json:"lr,omitempty"`
}

// PageRefresh is how often the status page at / reloads its content.
const PageRefresh = 3 * time.Second

//go:embed page.html.tmpl
var pageSource string

// pageTemplate is parsed once; executing it does not change it.
var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// pageHandler serves the live status page: the status, the history the
// StatusBox kept and the gauges of m, rendered server-side as HTML with
// inline SVG charts and a small script that reloads the content every
// PageRefresh (a meta refresh without scripts).
func pageHandler(m *Metrics, st *StatusBox) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		s, h := st.snapshotHistory()
		d := buildPage(s, h, readGauges(m), time.Now())
		var buf bytes.Buffer
		if err := pageTemplate.Execute(&buf, d); err != nil {
			http.Error(w, fmt.Sprintf("obs: status page: %v", err), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = buf.WriteTo(w)
	}
}

// snapshotHistory returns deep copies of the status and of its history,
// taken together.
func (b *StatusBox) snapshotHistory() (Status, historyView) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	s.Eval = maps.Clone(b.s.Eval)
	return s, b.hist.view()
}

// gauges are the Metrics values the page shows. HasConsumerWait and
// HasQueueDepth are false for a gauge the registry did not report.
type gauges struct {
	ConsumerWait, QueueDepth, BatchesPerSec float64
	HasConsumerWait, HasQueueDepth          bool
	// CheckpointAge is in seconds, -1 before the first checkpoint.
	CheckpointAge float64
}

// readGauges gathers m's registry for the gauges the page shows.
func readGauges(m *Metrics) gauges {
	g := gauges{CheckpointAge: -1}
	if m == nil {
		return g
	}
	g.CheckpointAge = m.checkpointAge()
	mfs, err := m.Registry.Gather()
	if err != nil {
		return g
	}
	for _, mf := range mfs {
		ms := mf.GetMetric()
		if len(ms) != 1 || ms[0].GetGauge() == nil {
			continue
		}
		v := ms[0].GetGauge().GetValue()
		switch mf.GetName() {
		case MetricConsumerWait:
			g.ConsumerWait, g.HasConsumerWait = v, true
		case MetricQueueDepth:
			g.QueueDepth, g.HasQueueDepth = v, true
		case MetricBatchesPerSec:
			g.BatchesPerSec = v
		}
	}
	return g
}

// pageData is what the template renders; every value is formatted here.
type pageData struct {
	Title      string
	State      string
	StateClass string
	Model      string
	Device     string
	RunDir     string
	Error      string
	RefreshMS  int64
	Refresh    string
	// NoScriptRefresh is a meta refresh for browsers without scripts.
	NoScriptRefresh template.HTML
	Updated         string
	Stale           string
	Cards           []card
	Config          []setting
	Charts          []chart
	EvalTable       []setting
	EvalEpoch       int
}

// card is one figure in the page's grid.
type card struct {
	ID, Label, Value, Note string
	Missing                bool
}

// setting is one row of a two-column table.
type setting struct {
	Key, Value string
	Missing    bool
}

// notReported is what the page shows for a value the trainer did not pass.
const notReported = "not reported"

// lossColor is the loss curve's colour; seriesColor gives the validation
// curves theirs.
const lossColor = "#c62828"

func seriesColor(i int) string {
	colors := [...]string{"#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457"}
	return colors[i%len(colors)]
}

// buildPage formats the status, its history and the gauges as of now.
func buildPage(s Status, h historyView, g gauges, now time.Time) pageData {
	d := pageData{
		State:     orDash(s.State),
		Model:     orDash(s.Model),
		Device:    orDash(s.Device),
		RunDir:    s.RunDir,
		Error:     s.Error,
		RefreshMS: PageRefresh.Milliseconds(),
		Refresh:   fmtDuration(PageRefresh),
		// Built from a constant, so it is safe HTML.
		NoScriptRefresh: template.HTML(fmt.Sprintf(`<meta http-equiv="refresh" content="%d">`,
			int(PageRefresh.Round(time.Second)/time.Second))),
		EvalEpoch: s.EvalEpoch,
	}
	d.Title = fmt.Sprintf("trainerd · %s · %s", d.Model, d.State)
	switch s.State {
	case "failed":
		d.StateClass = "bad"
	case "done":
		d.StateClass = "good"
	case "stopped":
		d.StateClass = "warn"
	default:
		d.StateClass = "live"
	}
	if !s.Updated.IsZero() {
		d.Updated = s.Updated.UTC().Format("2006-01-02 15:04:05 UTC")
		if age := now.Sub(s.Updated); age > 30*time.Second && s.State != "done" {
			d.Stale = fmt.Sprintf("no status update for %s (state %s)", fmtDuration(age), d.State)
		}
	}
	perEpoch := s.BatchesPerEpoch
	if perEpoch == 0 {
		perEpoch = h.PerEpoch
	}

	epoch := card{ID: "epoch", Label: "Epoch", Value: "—", Missing: s.Epoch == 0}
	if s.Epoch > 0 {
		epoch.Value = fmt.Sprintf("%d / %d", s.Epoch, s.Epochs)
		if perEpoch > 0 {
			epoch.Note = fmt.Sprintf("batch %d / %d", s.Batch, perEpoch)
		} else {
			epoch.Note = fmt.Sprintf("batch %d", s.Batch)
		}
	}
	step := card{ID: "step", Label: "Step", Value: strconv.Itoa(s.Step)}
	if !s.Started.IsZero() {
		step.Note = "running " + fmtDuration(now.Sub(s.Started))
	}
	eta := etaCard(s, h, perEpoch, now)
	loss := card{ID: "loss", Label: "Loss", Value: "—", Note: "last step", Missing: s.Step == 0}
	if s.Step > 0 {
		loss.Value = strconv.FormatFloat(s.Loss, 'f', 4, 64)
	}
	eps := card{ID: "examples", Label: "Examples/s", Value: "—", Missing: s.Step == 0}
	if s.Step > 0 {
		eps.Value = fmtThousands(s.ExamplesPerSec)
		if g.BatchesPerSec > 0 {
			eps.Note = fmt.Sprintf("%.1f batches/s", g.BatchesPerSec)
		}
	}
	cwait := card{ID: "consumer-wait", Label: "Consumer wait", Value: "—",
		Note: "share of wall time waiting for batches", Missing: !g.HasConsumerWait || s.Step == 0}
	if !cwait.Missing {
		cwait.Value = fmt.Sprintf("%.1f %%", 100*g.ConsumerWait)
	}
	pwait := card{ID: "producer-wait", Label: "Producer wait", Value: "not tracked", Missing: true}
	if g.HasQueueDepth && s.Step > 0 {
		pwait.Note = fmt.Sprintf("queue holds %.0f ready batches", g.QueueDepth)
	}
	ckpt := card{ID: "checkpoint", Label: "Checkpoint", Value: "none yet", Missing: g.CheckpointAge < 0}
	if g.CheckpointAge >= 0 {
		ckpt.Value = fmtDuration(time.Duration(g.CheckpointAge*float64(time.Second))) + " ago"
	}
	if s.LastCheckpoint != "" {
		ckpt.Note = filepath.Base(s.LastCheckpoint)
	}
	dev := card{ID: "device", Label: "Device", Value: d.Device, Missing: s.Device == ""}
	d.Cards = []card{epoch, step, eta, loss, eps, cwait, pwait, ckpt, dev}

	cfg := s.Config
	layers := ""
	if cfg != (RunConfig{}) { // reported: 0 layers is a real value (mf)
		layers = strconv.Itoa(cfg.Layers)
	}
	d.Config = []setting{
		{Key: "model", Value: s.Model},
		{Key: "loss", Value: cfg.Loss},
		{Key: "dim", Value: itoaPos(cfg.Dim)},
		{Key: "layers", Value: layers},
		{Key: "batch size", Value: itoaPos(cfg.BatchSize)},
		{Key: "lr", Value: fmtFloatPos(cfg.LR)},
		{Key: "epochs", Value: itoaPos(s.Epochs)},
		{Key: "batches/epoch", Value: itoaPos(perEpoch)},
		{Key: "config hash", Value: s.ConfigHash},
		{Key: "run dir", Value: s.RunDir},
	}
	if !s.Started.IsZero() {
		d.Config = append(d.Config, setting{Key: "started", Value: s.Started.UTC().Format("2006-01-02 15:04:05 UTC")})
	}
	for i := range d.Config {
		if d.Config[i].Value == "" {
			d.Config[i].Value, d.Config[i].Missing = notReported, true
		}
	}

	d.Charts = []chart{lossChart(h), evalChart(h)}
	for _, k := range evalKeys(s.Eval, false) {
		d.EvalTable = append(d.EvalTable, setting{Key: k, Value: strconv.FormatFloat(s.Eval[k], 'f', 4, 64)})
	}
	return d
}

// etaCard estimates the time left: the remaining share of epochs times the
// mean epoch wall time seen (evaluation and checkpoints included), else the
// remaining batches at the recent step rate.
func etaCard(s Status, h historyView, perEpoch int, now time.Time) card {
	c := card{ID: "eta", Label: "ETA", Value: "—", Missing: true}
	switch {
	case s.State == "done":
		c.Value, c.Missing = "done", false
		return c
	case s.State == "failed" || s.State == "stopped":
		c.Note = "run " + s.State
		return c
	case s.Epoch == 0 || s.Epochs == 0:
		c.Note = "waiting for the first step"
		return c
	case perEpoch == 0:
		c.Note = "known after the first epoch"
		return c
	}
	left := float64(s.Epochs-s.Epoch) + float64(perEpoch-s.Batch)/float64(perEpoch)
	left = math.Max(left, 0)
	var secs float64
	switch {
	case h.EpochSeconds > 0:
		secs = left * h.EpochSeconds
		c.Note = fmt.Sprintf("at %s per epoch", fmtDuration(time.Duration(h.EpochSeconds*float64(time.Second))))
	case h.StepsPerSec > 0:
		secs = left * float64(perEpoch) / h.StepsPerSec
		c.Note = fmt.Sprintf("at %.1f steps/s, evaluation not included", h.StepsPerSec)
	default:
		c.Note = "measuring the step rate"
		return c
	}
	c.Value, c.Missing = fmtDuration(time.Duration(secs*float64(time.Second))), false
	c.Note += "; ends about " + now.Add(time.Duration(secs*float64(time.Second))).UTC().Format("15:04 UTC")
	return c
}

func lossChart(h historyView) chart {
	sd := seriesData{Name: "loss", Color: lossColor}
	for _, p := range h.Loss {
		sd.X = append(sd.X, float64(p.Step))
		sd.Y = append(sd.Y, p.Loss)
	}
	var marks []chartMark
	for i, e := range h.Epochs {
		if i > 0 || e.Batch == 1 {
			marks = append(marks, chartMark{X: float64(e.Step), Label: "e" + strconv.Itoa(e.Epoch)})
		}
	}
	return lineChart("Training loss", "step", "no training step yet", []seriesData{sd}, marks, true)
}

func evalChart(h historyView) chart {
	var keys []string
	if len(h.Evals) > 0 {
		keys = evalKeys(h.Evals[len(h.Evals)-1].Values, true)
	}
	var ss []seriesData
	for i, k := range keys {
		sd := seriesData{Name: k, Color: seriesColor(i)}
		for _, e := range h.Evals {
			v, ok := e.Values[k]
			if !ok {
				continue
			}
			sd.X = append(sd.X, float64(e.Epoch))
			sd.Y = append(sd.Y, v)
		}
		ss = append(ss, sd)
	}
	return lineChart("Validation", "epoch", "no evaluation yet", ss, nil, true)
}

// evalKeys orders the metric names of an evaluation: recall@K, then
// ndcg@K, then the rest by name; "users" (a count) is left out. chart keeps
// only recall and ndcg when there are any (their scales are comparable).
func evalKeys(m map[string]float64, chart bool) []string {
	rank := func(k string) int {
		switch {
		case strings.HasPrefix(k, "recall@"):
			return 0
		case strings.HasPrefix(k, "ndcg@"):
			return 1
		}
		return 2
	}
	var keys []string
	main := 0
	for k := range m {
		if k == "users" {
			continue
		}
		keys = append(keys, k)
		if rank(k) < 2 {
			main++
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	if chart && main > 0 {
		keys = keys[:main]
	}
	return keys
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func itoaPos(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func fmtFloatPos(v float64) string {
	if v <= 0 || !finite(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// fmtDuration writes d as "0s", "0.4s", "42s", "3m 12s" or "2h 05m".
func fmtDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case d < time.Second && d >= 100*time.Millisecond:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh %02dm", s/3600, (s%3600)/60)
}

// fmtThousands writes v rounded, with thin spaces between thousands.
func fmtThousands(v float64) string {
	if !finite(v) {
		return "—"
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u2009")
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

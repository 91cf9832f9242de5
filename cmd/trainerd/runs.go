package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/obs"
	"github.com/trainerd/trainerd/trainer"
	"github.com/trainerd/trainerd/tune"
)

// newRunsCmd is `trainerd runs compare RUN...`.
func newRunsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "Inspect and compare run directories",
	}
	var metric, plotBase string
	compare := &cobra.Command{
		Use:   "compare RUN_DIR RUN_DIR... [--metric recall@20] [--plot FILE_BASE]",
		Short: "Table of runs' selected and final metrics, wall time and config differences, plus one plot of their curves",
		Long: `compare reads each run directory that trainerd train wrote (result.json,
best/best.json, curve.json, config.yaml) and prints:

  - one row per run: the split its evaluations scored (validation, or test
    for a run without a validation split), the selected epoch and its
    --metric on that split, the chosen checkpoint's test --metric (with
    ndcg@K beside recall@K and the reverse; the only test scores a run with a
    validation split has), the last epoch and its --metric, the training
    wall time (evaluations excluded, summed over resumes) and whether it
    stopped early;
  - for a run that chose a key on validation (train.tune), the value chosen
    and each pilot's score (tune.json);
  - the config keys whose values differ between the runs (config.yaml),
    one row per key; a key absent from a run's config shows as "-", and a
    run without config.yaml is left out of this part.

A run still training (no result.json yet) shows its best so far and "-"
for test. It also draws every run's --metric curve into one plot,
FILE_BASE.png and FILE_BASE.svg (the selected epochs circled); --plot ""
skips the plot.`,
		Example: `  trainerd runs compare runs/lgcn runs/mf-ccl runs/mf-bpr
  trainerd runs compare runs/a runs/b --metric ndcg@20 --plot /tmp/ab`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runsCompare(cmd.OutOrStdout(), args, metric, plotBase)
		},
	}
	compare.Flags().StringVar(&metric, "metric", "", "metric of the table's selected/final columns and the plot, e.g. recall@20, ndcg@20; default: the first run's train.select")
	compare.Flags().StringVar(&plotBase, "plot", "runs-compare", `write the curves to FILE_BASE.png and FILE_BASE.svg; "" = no plot`)
	cmd.AddCommand(compare)
	return cmd
}

// runSummary is what compare reads of one run directory.
type runSummary struct {
	dir    string
	result *trainer.RunResult // nil while training
	best   *trainer.Best      // nil without a validation split
	curve  []trainer.EvalRecord
	config map[string]string // flattened config.yaml; nil when missing
	tuned  *tune.Summary     // tune.json; nil for a run without train.tune
}

// loadRunSummary reads runDir's result, best, curve and config. A run
// needs at least a curve.json or a result.json.
func loadRunSummary(dir string) (*runSummary, error) {
	s := &runSummary{dir: dir}
	var err error
	if s.result, err = trainer.ReadResult(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if s.best, err = trainer.ReadBest(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if s.curve, err = trainer.ReadCurve(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if s.tuned, err = tune.Read(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if s.result == nil && len(s.curve) == 0 {
		return nil, fmt.Errorf("%s: neither %s nor %s: not the run directory of a trainerd train run that reached an evaluation",
			dir, trainer.ResultFile, trainer.CurveFile)
	}
	path := filepath.Join(dir, trainer.ConfigFile)
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		var tree map[string]any
		if err := yaml.Unmarshal(raw, &tree); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s.config = map[string]string{}
		flattenYAML(tree, "", s.config)
	}
	return s, nil
}

// flattenYAML flattens a decoded YAML mapping into dotted keys; lists and
// scalars print as YAML flow values.
func flattenYAML(v any, prefix string, out map[string]string) {
	if m, ok := v.(map[string]any); ok && (len(m) > 0 || prefix == "") {
		for k, sub := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flattenYAML(sub, key, out)
		}
		return
	}
	out[prefix] = flowYAML(v)
}

// flowYAML formats a decoded YAML value on one line.
func flowYAML(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = flowYAML(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + flowYAML(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// split is the split the run's evaluations scored.
func (s *runSummary) split() string {
	if s.result != nil {
		return s.result.Split
	}
	if n := len(s.curve); n > 0 && s.curve[n-1].Split != "" {
		return s.curve[n-1].Split
	}
	return trainer.SplitTest
}

// selected is the chosen epoch and its metrics (on split()): the result's,
// else the best so far, else the last evaluation.
func (s *runSummary) selected() (int, eval.Metrics) {
	switch {
	case s.result != nil:
		return s.result.Selected.Epoch, s.result.Selected.Metrics
	case s.best != nil:
		return s.best.Epoch, s.best.Metrics
	case len(s.curve) > 0:
		r := s.curve[len(s.curve)-1]
		return r.Epoch, r.Metrics
	}
	return 0, nil
}

// final is the last epoch trained and its metrics (nil when it was not
// evaluated).
func (s *runSummary) final() (int, eval.Metrics) {
	if s.result != nil {
		return s.result.Final.Epoch, s.result.Final.Metrics
	}
	r := s.curve[len(s.curve)-1]
	return r.Epoch, r.Metrics
}

// trainSeconds is the run's training wall time so far.
func (s *runSummary) trainSeconds() float64 {
	if s.result != nil {
		return s.result.TrainSeconds
	}
	return s.curve[len(s.curve)-1].TrainSeconds
}

// metricOf formats m[key] ("-" when absent).
func metricOf(m eval.Metrics, key string) string {
	v, ok := m[key]
	if !ok || math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// runsCompare writes the comparison of runDirs to w and, unless plotBase
// is "", the plot of their curves.
func runsCompare(w io.Writer, runDirs []string, metric, plotBase string) error {
	runs := make([]*runSummary, len(runDirs))
	for i, d := range runDirs {
		s, err := loadRunSummary(d)
		if err != nil {
			return fmt.Errorf("runs compare: %w", err)
		}
		runs[i] = s
	}
	if metric == "" {
		metric = "recall@20"
		if r := runs[0].result; r != nil && r.Select != "" {
			metric = r.Select
		} else if v, ok := runs[0].config["train.select"]; ok {
			if u, err := strconv.Unquote(v); err == nil {
				metric = u
			}
		}
	}
	// The test columns: metric and its companion at the same K (recall and
	// ndcg go together).
	testKeys := []string{metric}
	if name, k, ok := strings.Cut(metric, "@"); ok {
		switch name {
		case "recall":
			testKeys = append(testKeys, "ndcg@"+k)
		case "ndcg":
			testKeys = append(testKeys, "recall@"+k)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RUN\tSPLIT\tSELECTED\tSELECTED %s", metric)
	for _, k := range testKeys {
		fmt.Fprintf(tw, "\tTEST %s", k)
	}
	fmt.Fprintf(tw, "\tFINAL\tFINAL %s\tTRAIN TIME\tSTOPPED EARLY\n", metric)
	for _, s := range runs {
		selEpoch, selM := s.selected()
		finEpoch, finM := s.final()
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s", s.dir, s.split(), selEpoch, metricOf(selM, metric))
		for _, k := range testKeys {
			v := "-"
			if s.result != nil {
				v = metricOf(s.result.Test, k)
			}
			fmt.Fprintf(tw, "\t%s", v)
		}
		stopped := "-"
		if s.result != nil {
			stopped = strconv.FormatBool(s.result.StoppedEarly)
		}
		fmt.Fprintf(tw, "\t%d\t%s\t%.1fs\t%s\n", finEpoch, metricOf(finM, metric), s.trainSeconds(), stopped)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range runs {
		if t := s.tuned; t != nil {
			pilots := make([]string, len(t.Pilots))
			for i, p := range t.Pilots {
				pilots[i] = fmt.Sprintf("%s → %.4f at epoch %d", strconv.FormatFloat(p.Value, 'g', -1, 64), p.Score, p.Epoch)
			}
			fmt.Fprintf(w, "%s: train.tune chose %s on validation; pilots' %s: %s\n", s.dir,
				config.TuneSet(t.Key, t.Chosen), t.Select, strings.Join(pilots, ", "))
		}
	}

	// Config differences, among the runs that recorded their config.
	var withCfg []*runSummary
	var missing []string
	for _, s := range runs {
		if s.config == nil {
			missing = append(missing, s.dir)
		} else {
			withCfg = append(withCfg, s)
		}
	}
	keys := map[string]bool{}
	for _, s := range withCfg {
		for k := range s.config {
			keys[k] = true
		}
	}
	value := func(s *runSummary, k string) string {
		if v, ok := s.config[k]; ok {
			return v
		}
		return "-"
	}
	var differ []string
	for k := range keys {
		for _, s := range withCfg[1:] {
			if value(s, k) != value(withCfg[0], k) {
				differ = append(differ, k)
				break
			}
		}
	}
	slices.Sort(differ)
	fmt.Fprintln(w)
	if len(missing) > 0 {
		fmt.Fprintf(w, "no %s in %s: left out of the config comparison\n", trainer.ConfigFile, strings.Join(missing, ", "))
	}
	switch {
	case len(withCfg) < 2:
		fmt.Fprintln(w, "config: fewer than two runs to compare")
	case len(differ) == 0:
		fmt.Fprintln(w, "config: identical")
	default:
		fmt.Fprintf(w, "config differences (%d keys; \"-\": the run's config lacks the key):\n", len(differ))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, "KEY")
		for _, s := range withCfg {
			fmt.Fprintf(tw, "\t%s", s.dir)
		}
		fmt.Fprintln(tw)
		for _, k := range differ {
			fmt.Fprint(tw, k)
			for _, s := range withCfg {
				fmt.Fprintf(tw, "\t%s", value(s, k))
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if plotBase == "" {
		return nil
	}
	series := make([]obs.Series, len(runs))
	splits := map[string]bool{}
	for i, s := range runs {
		sel, _ := s.selected()
		series[i] = obs.Series{Name: s.dir, Mark: sel}
		for _, r := range s.curve {
			v, ok := r.Metrics[metric]
			if !ok {
				v = math.NaN()
			}
			series[i].Epochs = append(series[i].Epochs, r.Epoch)
			series[i].Y = append(series[i].Y, v)
		}
		splits[s.split()] = true
	}
	title := metric + " on the validation split"
	if !splits[trainer.SplitValidation] {
		title = metric + " on the test split"
	} else if splits[trainer.SplitTest] {
		title = metric + " (validation; test for runs without a validation split)"
	}
	paths, err := obs.WriteCurves(plotBase, title, metric, series)
	if err != nil {
		return fmt.Errorf("runs compare: plot: %w", err)
	}
	fmt.Fprintf(w, "\nplot: %s\n", strings.Join(paths, ", "))
	return nil
}

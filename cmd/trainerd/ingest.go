package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/ingest"
	"github.com/trainerd/trainerd/obs"
)

// ingestFlags holds the flags of `trainerd ingest`.
type ingestFlags struct {
	store, format, name string
	// lightgcn
	train, test string
	// movielens
	dir string
	// csv
	edges, itemFeatures, userFeatures    string
	userCol, itemCol, weightCol, timeCol string
	featureIDCol, delimiter              string
	numericCols                          []string
	header                               bool
	// splits
	split     string
	testRatio float64
	seed      uint64
	lastN     int
	coldRatio float64
	// appendTo is --append: grow the existing store instead of replacing it.
	appendTo bool
	// progress is --progress: auto ("" too), on or off.
	progress string
}

func newIngestCmd() *cobra.Command {
	f := ingestFlags{}
	cmd := &cobra.Command{
		Use:   "ingest --store DIR --format lightgcn|movielens|csv [flags]",
		Short: "Parse interaction files and commit them to a feature store",
		Long: `ingest parses an interaction data set, validates all of it, and only then
commits it to the Badger feature store in --store in one atomic switch-over.
Bad input exits non-zero with one message FILE:LINE: reason (FILE as given on
the command line) and leaves the store exactly as it was. Lines (and CSV
records) are at most 16 MiB and ids at most 1 KiB; devices such as /dev/zero
are refused (pipes are fine). The commit needs room for the new version beside
the current one and fails with "no space left on device" before writing when
the filesystem lacks it.

Formats:
  lightgcn   --train FILE [--test FILE]: lines "user item item ...", ids are
             non-negative integers; a user may span several lines.
  movielens  --dir DIR: MovieLens 100K (u.data, u.item, u.user, u.genre,
             u.occupation). Item features: genre multi-hot, release year
             (z-scored) and a missing-year flag; user features: age (z-scored),
             gender and occupation one-hot. Rating is the edge weight.
  csv        --edges FILE with --user-col and --item-col (header name or
             0-based index), optional --weight-col/--time-col, and optional
             --user-features/--item-features files (id in --feature-id-col;
             numeric columns as is, text one-hot, "a|b|c" multi-hot). A
             column whose values are all numbers is numeric: NaN, Inf and
             values beyond float32 are errors there.

Splits, when no --test file is given:
  --split random --test-ratio R --seed S   per-user random holdout (default
                                           for movielens and csv: 0.2, seed 1)
  --split last --last-n N                  each user's N latest interactions
  --split cold-items --cold-ratio R --seed S   hold out R of the items
                                           (default 0.2) with all their
                                           interactions: no train edge
                                           touches a cold item
  --split none                             every interaction is train (the
                                           default with --append)
The random and last splits leave each user at least one train interaction.

--append grows the store instead of replacing it: users and items whose
external id the store lacks get new dense ids after the existing ones, with
the input's feature rows (the store's feature schema must match: same
columns, dims and labels); existing nodes keep their ids and rows; the input's
interactions are added to train (and test, with --test or a --split). The new
version records the old one's fingerprint, so infer and serve accept it with
a run trained on the old one and embed the new nodes from their features and
edges. Numeric features are not rescaled: give them as the store has them.

On a terminal a progress line on stderr shows the share of the input read,
the rate, the rows so far and an ETA, then the commit's elapsed time
(--progress on|off, or $TRAINERD_PROGRESS, forces it either way); a summary
is always printed at the end.`,
		Example: `  trainerd ingest --store /var/lib/trainerd/gowalla --format lightgcn \
      --train data/gowalla/train.txt --test data/gowalla/test.txt
  trainerd ingest --store store/ml --format movielens --dir data/ml-100k --split last --last-n 10
  trainerd ingest --store store/shop --format csv --edges clicks.tsv --delimiter '\t' \
      --user-col user_id --item-col sku --time-col ts --item-features skus.tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runIngest(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.store, "store", "", "feature store directory (created if absent; required)")
	fl.StringVar(&f.format, "format", "", "input format: lightgcn, movielens or csv (required)")
	fl.StringVar(&f.name, "name", "", "data set name (default: derived from the input path)")
	fl.StringVar(&f.train, "train", "", "lightgcn: train file")
	fl.StringVar(&f.test, "test", "", "test file in the same format as the train data (lightgcn, movielens u.data layout, csv)")
	fl.StringVar(&f.dir, "dir", "", "movielens: directory holding u.data, u.item, u.user, u.genre, u.occupation")
	fl.StringVar(&f.edges, "edges", "", "csv: interactions file")
	fl.StringVar(&f.itemFeatures, "item-features", "", "csv: item feature file")
	fl.StringVar(&f.userFeatures, "user-features", "", "csv: user feature file")
	fl.StringVar(&f.userCol, "user-col", "", "csv: user id column, header name or 0-based index")
	fl.StringVar(&f.itemCol, "item-col", "", "csv: item id column, header name or 0-based index")
	fl.StringVar(&f.weightCol, "weight-col", "", "csv: weight column (default: weight 1)")
	fl.StringVar(&f.timeCol, "time-col", "", "csv: time column, Unix seconds or RFC 3339 (default: time 0)")
	fl.StringVar(&f.featureIDCol, "feature-id-col", "0", "csv: id column of the feature files")
	fl.StringSliceVar(&f.numericCols, "numeric-cols", nil, "csv: feature columns that must be numeric (error instead of one-hot)")
	fl.StringVar(&f.delimiter, "delimiter", ",", `csv: field delimiter, one character; '\t' or "tab" for tabs`)
	fl.BoolVar(&f.header, "header", true, "csv: files start with a header line")
	fl.StringVar(&f.split, "split", "", "given, random, last, cold-items or none (default: given with --test, else none with --append, else random for movielens and csv)")
	fl.Float64Var(&f.testRatio, "test-ratio", 0.2, "random split: share of each user's interactions held out")
	fl.Uint64Var(&f.seed, "seed", 1, "random and cold-items splits: seed")
	fl.IntVar(&f.lastN, "last-n", 1, "last split: latest interactions per user held out")
	fl.BoolVar(&f.appendTo, "append", false, "add the input's new users, items and interactions to the existing store as a new version")
	fl.Float64Var(&f.coldRatio, "cold-ratio", 0.2, "cold-items split: share of the items held out with all their interactions")
	addProgressFlag(cmd, &f.progress)
	_ = cmd.MarkFlagRequired("store")
	_ = cmd.MarkFlagRequired("format")
	return cmd
}

// resolveSplit turns the split flags into an ingest.Split for the format.
func (f ingestFlags) resolveSplit() (ingest.Split, error) {
	s := ingest.Split{Kind: ingest.SplitKind(f.split), TestRatio: f.testRatio, Seed: f.seed, LastN: f.lastN, ColdRatio: f.coldRatio}
	switch {
	case f.test != "" && s.Kind != "" && s.Kind != ingest.SplitGiven:
		return s, fmt.Errorf("--split %s conflicts with --test; drop one", s.Kind)
	case f.test != "":
		s.Kind = ingest.SplitGiven
	case s.Kind == ingest.SplitGiven:
		return s, errors.New("--split given needs --test FILE")
	case s.Kind == "" && f.appendTo:
		s.Kind = ingest.SplitNone
	case s.Kind == "" && f.format == "lightgcn":
		return s, errors.New("lightgcn needs --test FILE, or --split random to hold out part of --train")
	case s.Kind == "":
		s.Kind = ingest.SplitRandom
	}
	return s, nil
}

// parseDelimiter accepts one character, or \t / "tab".
func parseDelimiter(s string) (rune, error) {
	switch s {
	case `\t`, "tab", "\t":
		return '\t', nil
	}
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || n != len(s) || r == utf8.RuneError || r == '"' || r == '\n' || r == '\r' {
		return 0, fmt.Errorf("--delimiter %q must be one character other than a quote or newline", s)
	}
	return r, nil
}

// required checks that the flags a format needs are set.
func required(pairs ...string) error {
	var miss []string
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			miss = append(miss, "--"+pairs[i])
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("missing %s", strings.Join(miss, ", "))
	}
	return nil
}

// parse runs the parser the flags select and returns its data set.
func (f ingestFlags) parse(ctx context.Context, prog *ingest.Progress) (*dataset.Dataset, error) {
	split, err := f.resolveSplit()
	if err != nil {
		return nil, err
	}
	switch f.format {
	case "lightgcn":
		if err := required("train", f.train); err != nil {
			return nil, err
		}
		return ingest.ParseLightGCN(ctx, ingest.LightGCNOptions{Name: f.name, Train: f.train, Test: f.test, Split: split, Progress: prog})
	case "movielens":
		if err := required("dir", f.dir); err != nil {
			return nil, err
		}
		ml, err := ingest.ParseMovieLens(ctx, ingest.MovieLensOptions{Name: f.name, Dir: f.dir, Test: f.test, Split: split, Progress: prog})
		if err != nil {
			return nil, err
		}
		return ml.Dataset, nil
	case "csv":
		if err := required("edges", f.edges, "user-col", f.userCol, "item-col", f.itemCol); err != nil {
			return nil, err
		}
		delim := ','
		if f.delimiter != "" {
			if delim, err = parseDelimiter(f.delimiter); err != nil {
				return nil, err
			}
		}
		return ingest.ParseCSV(ctx, ingest.CSVOptions{
			Name: f.name, Edges: f.edges, Test: f.test, ItemFeatures: f.itemFeatures, UserFeatures: f.userFeatures,
			UserCol: f.userCol, ItemCol: f.itemCol, WeightCol: f.weightCol, TimeCol: f.timeCol,
			FeatureIDCol: f.featureIDCol, NumericCols: f.numericCols, Delimiter: delim, NoHeader: !f.header,
			Split: split, Progress: prog,
		})
	}
	return nil, fmt.Errorf("--format %q: want lightgcn, movielens or csv", f.format)
}

// inputs lists the files the flags name, for the progress total.
func (f ingestFlags) inputs() []string {
	var out []string
	switch f.format {
	case "lightgcn":
		out = []string{f.train}
	case "movielens":
		out = ingest.MovieLensFiles(f.dir)
	case "csv":
		out = []string{f.edges, f.userFeatures, f.itemFeatures}
	}
	return append(out, f.test)
}

// runIngest parses, commits and reports. Parse errors come back unwrapped
// (an *ingest.Error prints as FILE:LINE: reason).
func runIngest(ctx context.Context, f ingestFlags, stdout, stderr io.Writer) error {
	if f.store == "" {
		return errors.New("ingest: --store is required")
	}
	start := time.Now()
	var total int64
	for _, p := range f.inputs() {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	display, err := newProgress(stderr, f.progress)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	counts := &ingest.Progress{}
	task := display.Start("ingest", obs.UnitBytes, total)
	stopBar := task.Follow(func() int64 {
		task.SetNote(obs.FormatCount(float64(counts.Rows.Load())) + " rows")
		return counts.Bytes.Load()
	})
	ds, err := f.parse(ctx, counts)
	stopBar()
	if err != nil {
		if _, ok := ingest.AsError(err); ok {
			return err
		}
		return fmt.Errorf("ingest: %w", err)
	}
	parsed := time.Since(start)
	stopCommit := display.Start("commit", "", 0).Follow(nil)
	var sum *featurestore.Summary
	verb := "ingested"
	if f.appendTo {
		verb = "appended"
		sum, err = featurestore.Append(ctx, f.store, ds)
	} else {
		sum, err = featurestore.Commit(ctx, f.store, ds)
	}
	stopCommit()
	if err != nil {
		return fmt.Errorf("ingest: commit to %s: %w", f.store, err)
	}
	fmt.Fprintf(stdout, "%s %q into %s: %d users, %d items, %d train + %d test edges, feature dims user %d item %d; "+
		"parse %.2f s, commit %.2f s, total %.2f s; store %s (%s, version %s)\n",
		verb, ds.Name, f.store, sum.Users, sum.Items, sum.TrainEdges, sum.TestEdges, sum.UserFeatureDim, sum.ItemFeatureDim,
		parsed.Seconds(), sum.Seconds, time.Since(start).Seconds(), obs.FormatBytes(sum.BytesOnDisk), shortFP(sum.Fingerprint), sum.Version)
	return nil
}

func shortFP(fp string) string {
	if len(fp) > 12 {
		return "fingerprint " + fp[:12]
	}
	return "fingerprint " + fp
}

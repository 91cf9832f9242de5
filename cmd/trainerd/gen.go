package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/gen"
	"github.com/trainerd/trainerd/obs"
)

// genFlags holds the flags of `trainerd gen`; the size flags override the
// preset only when given.
type genFlags struct {
	store, preset, name           string
	users, items, edges, comms    int
	userDim, itemDim              int
	seed                          uint64
	testRatio, inCommunity, noise float64
}

func newGenCmd() *cobra.Command {
	f := genFlags{}
	cmd := &cobra.Command{
		Use:   "gen --store DIR [--preset tiny|small|large] [flags]",
		Short: "Generate a synthetic data set with planted communities and commit it to a feature store",
		Long: `gen builds a synthetic interaction data set and commits it to the Badger
feature store in --store (atomically; the previous data set stays until the
new one is complete).

Each user and item belongs to a community; about --in-community of a user's
interactions go to items of its own community, item popularity within a
community is Zipf-distributed and user activity follows a power law. User and
item features are a noisy embedding of the community plus the standardised log
degree. Each user's interactions are held out for test at random (--test-ratio).
The same flags and --seed always give the same data set (and fingerprint).
On a terminal a progress line on stderr shows the users generated, the rate
and an ETA, then the commit (--progress on|off, or $TRAINERD_PROGRESS, forces
it either way).

Presets (size flags given on the command line override them):
  tiny    200 users, 300 items, 3k edges, 5 communities, feature dims 8
  small   5k users, 8k items, 150k edges, 20 communities, feature dims 32
  dense   6040 users, 3600 items, 1.02M edges (~670k train after merging), 20 communities, feature dims 32
  large   1M users, 500k items, 20M edges, 1000 communities, feature dims 16`,
		Example: `  trainerd gen --store store/tiny --preset tiny
  trainerd gen --store store/small --preset small --seed 7
  trainerd gen --store store/custom --users 20000 --items 10000 --edges 500000 \
      --communities 50 --test-ratio 0.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(func(name string) bool { return cmd.Flags().Changed(name) })
			if err != nil {
				return err
			}
			display, err := commandProgress(cmd)
			if err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			return runGen(cmd.Context(), f.store, cfg, cmd.OutOrStdout(), display)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.store, "store", "", "feature store directory (created if absent; required)")
	fl.StringVar(&f.preset, "preset", "small", "size preset: "+strings.Join(gen.PresetNames(), ", "))
	fl.StringVar(&f.name, "name", "", `data set name (default "gen-PRESET")`)
	fl.IntVar(&f.users, "users", 0, "number of users (default: the preset's)")
	fl.IntVar(&f.items, "items", 0, "number of items (default: the preset's)")
	fl.IntVar(&f.edges, "edges", 0, "number of interactions, train and test together (default: the preset's)")
	fl.IntVar(&f.comms, "communities", 0, "number of planted communities (default: the preset's)")
	fl.IntVar(&f.userDim, "user-dim", 0, "user feature dimension, 0 for none (default: the preset's)")
	fl.IntVar(&f.itemDim, "item-dim", 0, "item feature dimension, 0 for none (default: the preset's)")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed")
	fl.Float64Var(&f.testRatio, "test-ratio", 0.2, "share of each user's interactions held out for test (0 for none)")
	fl.Float64Var(&f.inCommunity, "in-community", 0.8, "share of interactions inside the user's community")
	fl.Float64Var(&f.noise, "feature-noise", 1.0, "standard deviation of the noise on the community embedding")
	addProgressFlag(cmd, nil)
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

// config resolves the preset and applies the flags that were given.
func (f genFlags) config(changed func(string) bool) (gen.Config, error) {
	cfg, err := gen.Preset(f.preset)
	if err != nil {
		return cfg, fmt.Errorf("--preset: %w", err)
	}
	setInt := func(flag string, dst *int, v int) {
		if changed(flag) {
			*dst = v
		}
	}
	setInt("users", &cfg.Users, f.users)
	setInt("items", &cfg.Items, f.items)
	setInt("edges", &cfg.Edges, f.edges)
	setInt("communities", &cfg.Communities, f.comms)
	setInt("user-dim", &cfg.UserFeatDim, f.userDim)
	setInt("item-dim", &cfg.ItemFeatDim, f.itemDim)
	if changed("name") {
		cfg.Name = f.name
	}
	cfg.Seed = f.seed
	cfg.TestRatio = f.testRatio
	if f.testRatio == 0 {
		cfg.TestRatio = -1 // gen.Config reads 0 as its default 0.2
	}
	cfg.InCommunity = f.inCommunity
	if f.inCommunity == 0 {
		cfg.InCommunity = -1 // gen.Config: negative is none, 0 the default
	}
	cfg.FeatureNoise = f.noise
	if f.noise == 0 {
		cfg.FeatureNoise = -1 // gen.Config: negative is none, 0 the default
	}
	return cfg, nil
}

// runGen generates, commits and prints the summary to w; display shows the
// users generated (rate, ETA) and then the commit.
func runGen(ctx context.Context, store string, cfg gen.Config, w io.Writer, display *obs.Progress) error {
	start := time.Now()
	task := display.Start("gen", "users", int64(cfg.Users))
	cfg.Progress = func(users int) { task.Add(int64(users)) }
	ds, err := gen.Generate(ctx, cfg)
	task.Finish()
	if err != nil {
		return err
	}
	genSecs := time.Since(start).Seconds()
	stopCommit := display.Start("commit", "", 0).Follow(nil)
	sum, err := featurestore.Commit(ctx, store, ds)
	stopCommit()
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	fmt.Fprintf(w, "generated %q into %s: %d users, %d items (%d communities), %d train + %d test interactions, "+
		"feature dims user %d item %d; generate %.2fs, commit %.2fs, total %.2fs; %s on disk, fingerprint %.12s\n",
		ds.Name, store, sum.Users, sum.Items, cfg.Communities, sum.TrainEdges, sum.TestEdges,
		sum.UserFeatureDim, sum.ItemFeatureDim, genSecs, sum.Seconds, time.Since(start).Seconds(),
		obs.FormatBytes(sum.BytesOnDisk), sum.Fingerprint)
	return nil
}

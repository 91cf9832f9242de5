// Package tune runs train.tune: it chooses one numeric config key on the
// validation split with one short pilot run per candidate value, then trains
// the run itself with the winner.
//
// Each pilot is an ordinary run directory, RUN/tune/KEY=VALUE, trained
// through train.tune.epochs epochs under the full run's schedule (the
// learning rate a pilot sees is the one the full run would see in those
// epochs) and scored at its best train.select on validation; pilots never
// read the test split. The winner's run trains from scratch in RUN with the
// candidate's config, so it is bit for bit the run a config holding that
// value gives. The choice is recomputed from the pilots' own files on every
// start (a finished pilot resumes and returns at once), so a run stopped by a
// signal at any point resumes with the same choice; RUN/tune.json records it
// for people.
package tune

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/internal/atomicfile"
	"github.com/trainerd/trainerd/trainer"
)

// Dir is the run-directory folder holding the pilots, and File the record
// of the choice.
const (
	Dir  = "tune"
	File = "tune.json"
)

// Pilot is one candidate's result.
type Pilot struct {
	// Value is the candidate value of Summary.Key.
	Value float64 `json:"value"`
	// RunDir is the pilot's run directory, relative to the run's.
	RunDir string `json:"run_dir"`
	// Epoch and Score are its best train.select on validation and the
	// epoch that reached it.
	Epoch int     `json:"epoch"`
	Score float64 `json:"score"`
}

// Summary is the content of RUN/File.
type Summary struct {
	// Key, Epochs and Select are train.tune.key, train.tune.epochs and
	// train.select.
	Key    string `json:"key"`
	Epochs int    `json:"epochs"`
	Select string `json:"select"`
	// Pilots are the candidates in train.tune.values order.
	Pilots []Pilot `json:"pilots"`
	// Chosen is the winning value, the one the run trains with.
	Chosen float64 `json:"chosen"`
}

// Options are a tuned run's inputs.
type Options struct {
	// Trainer is the run's trainer.Options; Config is its loaded config
	// (with train.tune set) and RunDir the run's directory. Each pilot gets
	// a copy with its candidate's config and directory.
	Trainer trainer.Options
	// Candidates are config.Candidates of Trainer.Config, in
	// train.tune.values order.
	Candidates []*config.Config
}

// Run trains the pilots, chooses, writes RUN/File and trains the run with
// the chosen value. On a cancelled context it returns the interrupted
// pilot's or run's Result (Interrupted set) and a nil error: the same call
// later resumes where it stopped.
func Run(ctx context.Context, o Options) (*trainer.Result, error) {
	cfg := o.Trainer.Config
	t := cfg.Train.Tune
	if t.Key == "" || len(o.Candidates) != len(t.Values) {
		return nil, fmt.Errorf("tune: want one candidate config per train.tune.values entry (%d), got %d", len(t.Values), len(o.Candidates))
	}
	log := o.Trainer.Logger
	if log == nil {
		log = slog.Default()
	}
	sum := Summary{Key: t.Key, Epochs: t.Epochs, Select: cfg.Train.Select}
	best := -1
	for i, c := range o.Candidates {
		set := config.TuneSet(t.Key, t.Values[i])
		rel := filepath.Join(Dir, set)
		po := o.Trainer
		po.Config, po.RunDir, po.StopAfter = c, filepath.Join(o.Trainer.RunDir, rel), t.Epochs
		log.Info("tune: pilot", "candidate", fmt.Sprintf("%d/%d", i+1, len(o.Candidates)), "set", set, "epochs", t.Epochs, "run_dir", po.RunDir)
		res, err := trainer.Run(ctx, po)
		if err != nil {
			return res, fmt.Errorf("tune: pilot %s: %w", set, err)
		}
		if res.Interrupted {
			return res, nil
		}
		b, err := trainer.ReadBest(po.RunDir)
		if err != nil {
			return res, fmt.Errorf("tune: pilot %s has no best checkpoint: %w", set, err)
		}
		sum.Pilots = append(sum.Pilots, Pilot{Value: t.Values[i], RunDir: rel, Epoch: b.Epoch, Score: b.Value})
		if best < 0 || b.Value > sum.Pilots[best].Score {
			best = i
		}
	}
	sum.Chosen = t.Values[best]
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	// RUN exists: the pilots' directories are inside it.
	if err := atomicfile.WriteFile(filepath.Join(o.Trainer.RunDir, File), append(b, '\n')); err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	log.Info("tune: chosen on validation", "set", config.TuneSet(t.Key, sum.Chosen), cfg.Train.Select, sum.Pilots[best].Score, "pilot_epoch", sum.Pilots[best].Epoch)
	ro := o.Trainer
	ro.Config = o.Candidates[best]
	return trainer.Run(ctx, ro)
}

// Read reads RUN/File.
func Read(runDir string) (*Summary, error) {
	path := filepath.Join(runDir, File)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("tune: %s: %w", path, err)
	}
	return &s, nil
}

// Chosen returns the config a tuned run in runDir trained with, given the
// tuned config it was started from (cfg, which config.Load returned for path
// and sets): the candidate for the value RUN/File records. A cfg without
// train.tune is returned as it is. It is an error when the run has no File
// yet (its pilots have not finished) or when File's choice is not one of
// cfg's candidates.
func Chosen(path string, sets []string, cfg *config.Config, runDir string) (*config.Config, error) {
	t := cfg.Train.Tune
	if t.Key == "" {
		return cfg, nil
	}
	sum, err := Read(runDir)
	if err != nil {
		return nil, fmt.Errorf("the config chooses %s on validation (train.tune) and the run records no choice: %w", t.Key, err)
	}
	if sum.Key == t.Key && slices.Contains(t.Values, sum.Chosen) {
		c, err := config.Candidate(path, sets, t.Key, sum.Chosen)
		if err != nil {
			return nil, fmt.Errorf("tune: %s's choice %s: %w", filepath.Join(runDir, File), config.TuneSet(t.Key, sum.Chosen), err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("tune: %s chose %s, which is not among this config's train.tune candidates (%s %v)",
		filepath.Join(runDir, File), config.TuneSet(sum.Key, sum.Chosen), t.Key, t.Values)
}

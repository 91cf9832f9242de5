package tune

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/internal/teststore"
	"github.com/trainerd/trainerd/trainer"
)

// sets is MF with BPR on the tiny store; the tests tune its learning rate,
// where 1e-5 barely moves the initial embeddings in three epochs and 0.05
// learns.
var sets = []string{"train.device=cpu", "http.addr=127.0.0.1:0", "model.name=mf", "model.loss=bpr",
	"model.dim=16", "producer.batch_size=128", "producer.negatives.pool_size=100", "train.epochs=6", "train.eval_every=2"}

func load(t *testing.T, extra ...string) (*config.Config, []*config.Config) {
	t.Helper()
	s := append(append([]string(nil), sets...), extra...)
	cfg, err := config.Load("", s)
	if err != nil {
		t.Fatal(err)
	}
	cands, err := config.Candidates("", s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cands
}

// lastParams is the sha256 of the newest valid checkpoint's parameters.
func lastParams(t *testing.T, run string) string {
	t.Helper()
	ck, _, err := checkpoints.Latest(checkpoints.Dir(run))
	if err != nil {
		t.Fatalf("%s: %v", run, err)
	}
	return checkpoints.ParamsSHA256(ck.Tensors)
}

// TestRunChoosesOnValidation: whichever order the candidates come in, the
// learning rate that learns wins; tune.json records both pilots with the
// scores their own best.json hold; no pilot scores the test split; the run
// is bit for bit a plain run configured with the winner, and its recorded
// config holds the winner and no tune section.
func TestRunChoosesOnValidation(t *testing.T) {
	store := teststore.Preset(t, "tiny")
	plainCfg, err := config.Load("", append(append([]string(nil), sets...), "model.lr=0.05"))
	if err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	if _, err := trainer.Run(context.Background(), trainer.Options{Config: plainCfg, StoreDir: store, RunDir: plain, Out: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	for _, values := range []string{"[0.00001, 0.05]", "[0.05, 0.00001]"} {
		t.Run(values, func(t *testing.T) {
			cfg, cands := load(t, "train.tune.key=model.lr", "train.tune.values="+values, "train.tune.epochs=3")
			run := t.TempDir()
			res, err := Run(context.Background(), Options{Trainer: trainer.Options{Config: cfg, StoreDir: store, RunDir: run, Out: &bytes.Buffer{}}, Candidates: cands})
			if err != nil {
				t.Fatal(err)
			}
			if res.Final == nil || res.Paused {
				t.Fatalf("result %+v: want a finished run", res)
			}
			sum, err := Read(run)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Chosen != 0.05 || len(sum.Pilots) != 2 || sum.Key != "model.lr" || sum.Epochs != 3 {
				t.Fatalf("summary %+v: want 2 pilots and model.lr 0.05 chosen", sum)
			}
			for i, p := range sum.Pilots {
				if p.Value != cfg.Train.Tune.Values[i] {
					t.Errorf("pilot %d is value %v, want %v (train.tune.values order)", i, p.Value, cfg.Train.Tune.Values[i])
				}
				dir := filepath.Join(run, p.RunDir)
				b, err := trainer.ReadBest(dir)
				if err != nil || b.Value != p.Score || b.Epoch != p.Epoch || b.Epoch > 3 {
					t.Errorf("pilot %v: best %+v (%v), summary %+v", p.Value, b, err, p)
				}
				if _, err := os.Stat(filepath.Join(dir, trainer.ResultFile)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("pilot %v wrote %s: a pilot must not score the test split", p.Value, trainer.ResultFile)
				}
			}
			if sum.Pilots[0].Score == sum.Pilots[1].Score {
				t.Fatalf("pilots tie (%v): the test cannot tell a choice from the first-listed rule", sum.Pilots[0].Score)
			}
			if lastParams(t, run) != lastParams(t, plain) {
				t.Error("the tuned run's parameters differ from a plain run with model.lr 0.05")
			}
			rec, err := config.Load(filepath.Join(run, trainer.ConfigFile), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Model.LR != 0.05 || rec.Train.Tune.Key != "" || config.Hash(rec) != config.Hash(plainCfg) {
				t.Errorf("recorded config: lr %v, tune %+v; want the plain run's config", rec.Model.LR, rec.Train.Tune)
			}
		})
	}
}

// TestRunResumes cancels the context as the second pilot starts and again
// as the run itself starts; each start of the same call goes on from there,
// and the end is the uninterrupted tuned run.
func TestRunResumes(t *testing.T) {
	store := teststore.Preset(t, "tiny")
	cfg, cands := load(t, "train.tune.key=model.lr", "train.tune.values=[0.00001, 0.05]", "train.tune.epochs=3")
	whole := t.TempDir()
	if _, err := Run(context.Background(), Options{Trainer: trainer.Options{Config: cfg, StoreDir: store, RunDir: whole, Out: &bytes.Buffer{}}, Candidates: cands}); err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	for _, stopAt := range []int{2, 3} { // the Ready calls: pilot 1, pilot 2, run
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		o := trainer.Options{Config: cfg, StoreDir: store, RunDir: run, Out: &bytes.Buffer{}, Ready: func(string) {
			if n++; n == stopAt {
				cancel()
			}
		}}
		res, err := Run(ctx, Options{Trainer: o, Candidates: cands})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !res.Interrupted {
			t.Fatalf("cancelled at start %d: result %+v, want interrupted", stopAt, res)
		}
	}
	res, err := Run(context.Background(), Options{Trainer: trainer.Options{Config: cfg, StoreDir: store, RunDir: run, Out: &bytes.Buffer{}}, Candidates: cands})
	if err != nil || res.Final == nil {
		t.Fatalf("final start: %+v, %v", res, err)
	}
	a, _ := Read(whole)
	b, _ := Read(run)
	if a == nil || b == nil || a.Chosen != b.Chosen || a.Pilots[0].Score != b.Pilots[0].Score || a.Pilots[1].Score != b.Pilots[1].Score {
		t.Fatalf("interrupted summary %+v, uninterrupted %+v", b, a)
	}
	if lastParams(t, run) != lastParams(t, whole) {
		t.Error("interrupted and resumed tuned run's parameters differ from the uninterrupted one's")
	}
}

// TestRunRefusesMismatch: candidates that do not match train.tune.values
// are refused before anything trains.
func TestRunRefusesMismatch(t *testing.T) {
	cfg, cands := load(t, "train.tune.key=model.lr", "train.tune.values=[0.01, 0.05]", "train.tune.epochs=3")
	run := t.TempDir()
	if _, err := Run(context.Background(), Options{Trainer: trainer.Options{Config: cfg, RunDir: run}, Candidates: cands[:1]}); err == nil {
		t.Fatal("one candidate for two values accepted")
	}
	if ents, _ := os.ReadDir(run); len(ents) != 0 {
		t.Errorf("refused run left %d entries in its directory", len(ents))
	}
}

// TestChosen: a tuned config and a run's tune.json give the candidate the
// run chose; a config without tuning is returned as it is; a run with no
// choice, or a choice the config does not list, is an error naming it.
func TestChosen(t *testing.T) {
	cfg, _ := load(t, "train.tune.key=model.lr", "train.tune.values=[0.01, 0.05]", "train.tune.epochs=3")
	s := append(append([]string(nil), sets...), "train.tune.key=model.lr", "train.tune.values=[0.01, 0.05]", "train.tune.epochs=3")
	run := t.TempDir()
	if _, err := Chosen("", s, cfg, run); err == nil || !strings.Contains(err.Error(), "records no choice") {
		t.Errorf("no tune.json: err = %v", err)
	}
	write := func(sum Summary) {
		b, err := json.Marshal(sum)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(run, File), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(Summary{Key: "model.lr", Chosen: 0.05})
	c, err := Chosen("", s, cfg, run)
	if err != nil || c.Model.LR != 0.05 || c.Train.Tune.Key != "" {
		t.Fatalf("chosen 0.05: %+v, %v", c, err)
	}
	write(Summary{Key: "model.lr", Chosen: 0.02})
	if _, err := Chosen("", s, cfg, run); err == nil || !strings.Contains(err.Error(), "model.lr=0.02, which is not among") {
		t.Errorf("choice outside the candidates: err = %v", err)
	}
	plain, _ := load(t)
	if c, err := Chosen("", sets, plain, run); err != nil || c != plain {
		t.Errorf("untuned config: %p, %v; want the same config back", c, err)
	}
}

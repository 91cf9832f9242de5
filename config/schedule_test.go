package config

import (
	"math"
	"path/filepath"
	"testing"
)

// TestAblationLRUnchanged: configs/curriculum-ablation.yaml scheduled its
// learning rate with curriculum.lr {kind: cosine, start: 0.002, end: 0.0002,
// over: 12} in unit epoch before model.lr_schedule became the one scheduler.
// Its model.lr_schedule form (cosine over the whole 12-epoch run, lr_unit
// epoch) must give every step the same float32 rate the model received
// before, whatever the batches per epoch.
func TestAblationLRUnchanged(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "configs", "curriculum-ablation.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The removed curriculum cosine, as curriculum.Spec.eval computed it at
	// p = epoch−1.
	old := func(epoch int) float64 {
		const start, end, over = 0.002, 0.0002, 12
		x := math.Min(float64(epoch-1), over) / over
		return end + (start-end)*(1+math.Cos(math.Pi*x))/2
	}
	for _, bpe := range []int{1, 3, 17, 100, 1583} {
		for epoch := 1; epoch <= cfg.Train.Epochs; epoch++ {
			lr, ok := cfg.EpochLR(bpe, epoch)
			if !ok {
				t.Fatal("curriculum-ablation.yaml: model.lr_unit is not epoch")
			}
			if float32(lr) != float32(old(epoch)) {
				t.Errorf("%d batches/epoch, epoch %d: lr %v, was %v", bpe, epoch, float32(lr), float32(old(epoch)))
			}
		}
	}
}

// TestEpochLR: lr_unit epoch holds each epoch at the step schedule's value
// at the epoch's first step (warm-up included); lr_unit step leaves the rate
// to the model.
func TestEpochLR(t *testing.T) {
	cfg, err := Load("", []string{"model.lr=0.01", "model.lr_schedule=cosine", "model.warmup_epochs=2",
		"model.min_lr=0.001", "train.epochs=6", "model.lr_unit=epoch"})
	if err != nil {
		t.Fatal(err)
	}
	const bpe = 10
	s := cfg.LRSchedule(bpe)
	if s.Warmup != 20 || s.DecaySteps != 40 {
		t.Fatalf("schedule %+v: want warm-up 20 steps, cosine 40", s)
	}
	for epoch := 1; epoch <= 6; epoch++ {
		lr, ok := cfg.EpochLR(bpe, epoch)
		if want := s.LR((epoch - 1) * bpe); !ok || lr != want {
			t.Errorf("epoch %d: EpochLR %g, %v; want %g", epoch, lr, ok, want)
		}
	}
	if lr, _ := cfg.EpochLR(bpe, 1); lr != 0.01/20 {
		t.Errorf("epoch 1 lr %g, want the warm-up's first step 0.0005", lr)
	}
	cfg.Model.LRUnit = "step"
	if _, ok := cfg.EpochLR(bpe, 3); ok {
		t.Error("lr_unit step: EpochLR overrides the model's per-step schedule")
	}
}

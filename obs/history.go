package obs

import (
	"maps"
	"math"
	"time"
)

// Bounds of the history the status page draws.
const (
	// maxLossPoints bounds the loss curve: when it fills, neighbouring
	// points are merged (their mean) and each point covers twice the steps.
	maxLossPoints = 400
	// rateSamples step positions, taken at least rateEvery apart, give the
	// recent step rate (a window of about rateSamples*rateEvery).
	rateSamples = 30
	rateEvery   = time.Second
)

// lossPoint is one point of the live loss curve: the mean training loss of
// the steps since the previous point, up to and including Step.
type lossPoint struct {
	Step int
	Loss float64
}

// evalPoint is one evaluation of the live validation curve.
type evalPoint struct {
	Epoch  int
	Values map[string]float64
}

// epochMark is the first step of an epoch seen: its step, its batch within
// the epoch (1 unless the run resumed mid-epoch) and when it was seen.
type epochMark struct {
	Epoch, Step, Batch int
	At                 time.Time
}

// stepSample is a training position at a time, for the step rate.
type stepSample struct {
	step int
	at   time.Time
}

// history is what the status page draws that one Status forgets: the loss
// by step (bucketed means, at most maxLossPoints), the evaluations by epoch,
// when each epoch began, the recent step rate and the epoch length seen. It
// is fed every Status update by StatusBox and covers this process's life
// (a resumed run starts a new history).
type history struct {
	lastStep  int
	lastEpoch int
	lastBatch int
	// perEpoch is the last batch cursor seen in an epoch that ended: the
	// number of batches per epoch (0 until an epoch ends).
	perEpoch int

	loss   []lossPoint
	stride int // steps per loss point
	accSum float64
	accN   int // finite losses in the bucket
	accK   int // steps in the bucket

	evalEpoch int
	evals     []evalPoint
	epochs    []epochMark

	rate     [rateSamples]stepSample
	rateN    int // samples held
	rateHead int // index of the oldest sample
}

// observe records s, stamped at s.Updated. It is called under StatusBox's
// lock after every update, so it is O(1) amortised.
func (h *history) observe(s *Status) {
	now := s.Updated
	if s.Step > h.lastStep {
		if s.Epoch != h.lastEpoch {
			if h.lastEpoch != 0 && s.Epoch == h.lastEpoch+1 {
				h.perEpoch = h.lastBatch
			}
			h.epochs = append(h.epochs, epochMark{Epoch: s.Epoch, Step: s.Step, Batch: s.Batch, At: now})
		}
		h.addLoss(s.Step, s.Loss)
		h.addRate(s.Step, now)
		h.lastStep, h.lastEpoch, h.lastBatch = s.Step, s.Epoch, s.Batch
	}
	if len(s.Eval) > 0 && s.EvalEpoch != h.evalEpoch {
		p := evalPoint{Epoch: s.EvalEpoch, Values: maps.Clone(s.Eval)}
		if n := len(h.evals); n > 0 && h.evals[n-1].Epoch >= p.Epoch {
			h.evals[n-1] = p // a repeated evaluation replaces the last one
		} else {
			h.evals = append(h.evals, p)
		}
		h.evalEpoch = s.EvalEpoch
	}
}

// addLoss adds one step's loss to the current bucket and closes the bucket
// after stride steps. Non-finite losses are left out of the mean.
func (h *history) addLoss(step int, loss float64) {
	if h.stride == 0 {
		h.stride = 1
	}
	if !math.IsNaN(loss) && !math.IsInf(loss, 0) {
		h.accSum += loss
		h.accN++
	}
	h.accK++
	if h.accK < h.stride {
		return
	}
	if h.accN > 0 {
		h.loss = append(h.loss, lossPoint{Step: step, Loss: h.accSum / float64(h.accN)})
	}
	h.accSum, h.accN, h.accK = 0, 0, 0
	if len(h.loss) < maxLossPoints {
		return
	}
	// Merge neighbours: half the points, each covering twice the steps.
	half := h.loss[:0]
	for i := 0; i+1 < len(h.loss); i += 2 {
		a, b := h.loss[i], h.loss[i+1]
		half = append(half, lossPoint{Step: b.Step, Loss: (a.Loss + b.Loss) / 2})
	}
	h.loss = half
	h.stride *= 2
}

// addRate keeps a step sample when the newest one is at least rateEvery old.
func (h *history) addRate(step int, at time.Time) {
	if h.rateN > 0 {
		newest := h.rate[(h.rateHead+h.rateN-1)%rateSamples]
		if at.Sub(newest.at) < rateEvery {
			return
		}
	}
	if h.rateN < rateSamples {
		h.rate[(h.rateHead+h.rateN)%rateSamples] = stepSample{step, at}
		h.rateN++
		return
	}
	h.rate[h.rateHead] = stepSample{step, at}
	h.rateHead = (h.rateHead + 1) % rateSamples
}

// stepsPerSec is the step rate over the sample window (0 when unknown).
func (h *history) stepsPerSec() float64 {
	if h.rateN < 2 {
		return 0
	}
	old, newest := h.rate[h.rateHead], h.rate[(h.rateHead+h.rateN-1)%rateSamples]
	dt := newest.at.Sub(old.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(newest.step-old.step) / dt
}

// epochSeconds is the mean wall time of the consecutive epochs seen whole
// (first step to next epoch's first step; it includes evaluation and
// checkpoints), or 0 when none was.
func (h *history) epochSeconds() float64 {
	var sum float64
	n := 0
	for i := 1; i < len(h.epochs); i++ {
		a, b := h.epochs[i-1], h.epochs[i]
		if b.Epoch == a.Epoch+1 && a.Batch == 1 {
			sum += b.At.Sub(a.At).Seconds()
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// historyView is a copy of the history for rendering outside the lock.
type historyView struct {
	Loss         []lossPoint
	Evals        []evalPoint
	Epochs       []epochMark
	PerEpoch     int
	StepsPerSec  float64
	EpochSeconds float64
}

func (h *history) view() historyView {
	v := historyView{
		Loss:         append([]lossPoint(nil), h.loss...),
		Epochs:       append([]epochMark(nil), h.epochs...),
		PerEpoch:     h.perEpoch,
		StepsPerSec:  h.stepsPerSec(),
		EpochSeconds: h.epochSeconds(),
	}
	v.Evals = make([]evalPoint, len(h.evals))
	for i, e := range h.evals {
		v.Evals[i] = evalPoint{Epoch: e.Epoch, Values: maps.Clone(e.Values)}
	}
	return v
}

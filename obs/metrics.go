// Package obs owns trainerd's observability: Prometheus metrics on a
// per-daemon registry (never the global default one), the HTTP server that
// serves /metrics, /healthz, /status and the live status page at /, the JSON
// status snapshot the trainer updates, the training-curve plot written into the run directory, and the
// live progress line on terminals.
//
// obs only reports: it never blocks training (every update is a gauge set or
// a short mutex section) and never decides anything.
//
// The daemon's long-running parts are actors in an oklog/run.Group, as in
// prometheus's cmd/prometheus: see Example_runGroup.
package obs

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metric names, all prefixed trainerd_.
const (
	MetricLoss           = "trainerd_loss"
	MetricExamples       = "trainerd_examples_total"
	MetricBatches        = "trainerd_batches_total"
	MetricExamplesPerSec = "trainerd_examples_per_second"
	MetricBatchesPerSec  = "trainerd_batches_per_second"
	MetricQueueDepth     = "trainerd_producer_queue_depth"
	MetricConsumerWait   = "trainerd_consumer_wait_fraction"
	MetricEval           = "trainerd_eval"
	MetricCheckpointAge  = "trainerd_checkpoint_age_seconds"
	MetricEpoch          = "trainerd_epoch"
	MetricStep           = "trainerd_step"
)

// Metrics are one daemon's Prometheus metrics, registered on their own
// Registry together with the Go and process collectors.
type Metrics struct {
	// Registry is what /metrics serves.
	Registry *prometheus.Registry
	// Loss is the loss of the last step (or its moving average, as the
	// trainer chooses).
	Loss prometheus.Gauge
	// Examples and Batches count training examples and batches consumed.
	Examples prometheus.Counter
	Batches  prometheus.Counter
	// ExamplesPerSec and BatchesPerSec are the trainer's recent throughput.
	ExamplesPerSec prometheus.Gauge
	BatchesPerSec  prometheus.Gauge
	// QueueDepth is the number of ready batches waiting for the consumer.
	QueueDepth prometheus.Gauge
	// ConsumerWait is the fraction of recent wall time the consumer spent
	// waiting for batches (near 1: producer-bound; near 0: consumer-bound).
	ConsumerWait prometheus.Gauge
	// Eval holds the last evaluation, labelled by metric ("recall@20", ...).
	Eval *prometheus.GaugeVec
	// Epoch and Step are the training position.
	Epoch prometheus.Gauge
	Step  prometheus.Gauge

	mu       sync.Mutex
	lastCkpt time.Time
	now      func() time.Time
}

// NewMetrics creates the metrics on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), now: time.Now}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m.Loss = g(MetricLoss, "Training loss of the last step.")
	m.Examples = prometheus.NewCounter(prometheus.CounterOpts{Name: MetricExamples, Help: "Training examples consumed."})
	m.Batches = prometheus.NewCounter(prometheus.CounterOpts{Name: MetricBatches, Help: "Minibatches consumed."})
	m.ExamplesPerSec = g(MetricExamplesPerSec, "Recent training throughput in examples per second.")
	m.BatchesPerSec = g(MetricBatchesPerSec, "Recent training throughput in batches per second.")
	m.QueueDepth = g(MetricQueueDepth, "Batches ready in the producer queue.")
	m.ConsumerWait = g(MetricConsumerWait, "Fraction of recent wall time the consumer waited for batches.")
	m.Eval = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricEval, Help: "Last evaluation result by metric."}, []string{"metric"})
	m.Epoch = g(MetricEpoch, "Current epoch (1-based).")
	m.Step = g(MetricStep, "Optimiser steps done.")
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: MetricCheckpointAge,
		Help: "Seconds since the last checkpoint was written (-1 before the first)."}, m.checkpointAge)
	m.Registry.MustRegister(m.Loss, m.Examples, m.Batches, m.ExamplesPerSec, m.BatchesPerSec, m.QueueDepth,
		m.ConsumerWait, m.Eval, m.Epoch, m.Step, age,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// CheckpointWritten records when the last checkpoint was made durable.
func (m *Metrics) CheckpointWritten(t time.Time) {
	m.mu.Lock()
	m.lastCkpt = t
	m.mu.Unlock()
}

func (m *Metrics) checkpointAge() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastCkpt.IsZero() {
		return -1
	}
	return m.now().Sub(m.lastCkpt).Seconds()
}

// SetEval sets the evaluation gauges from name → value.
func (m *Metrics) SetEval(results map[string]float64) {
	for k, v := range results {
		m.Eval.WithLabelValues(k).Set(v)
	}
}

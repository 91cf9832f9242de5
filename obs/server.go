package obs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trainerd/trainerd/internal/httpserver"
)

// Status is the JSON snapshot /status serves. The trainer fills it through
// StatusBox.Update.
type Status struct {
	// State is starting, training, evaluating, checkpointing, done or failed.
	State string `json:"state"`
	// Model is the model name.
	Model string `json:"model"`
	// Device is where the consumer runs (cpu, cuda:0).
	Device string `json:"device"`
	// RunDir is the run directory.
	RunDir string `json:"run_dir"`
	// Epoch (1-based), Epochs (planned), Step (done) and Batch (within the
	// epoch) are the training position.
	Epoch  int `json:"epoch"`
	Epochs int `json:"epochs"`
	Step   int `json:"step"`
	Batch  int `json:"batch"`
	// Loss is the last (or smoothed) training loss.
	Loss float64 `json:"loss"`
	// ExamplesPerSec is the recent throughput.
	ExamplesPerSec float64 `json:"examples_per_sec"`
	// Eval is the last evaluation by metric name.
	Eval map[string]float64 `json:"eval,omitempty"`
	// EvalEpoch is the epoch of Eval.
	EvalEpoch int `json:"eval_epoch,omitempty"`
	// LastCheckpoint is the path of the last checkpoint written.
	LastCheckpoint string `json:"last_checkpoint,omitempty"`
	// ConfigHash is config.Hash of the run's config.
	ConfigHash string `json:"config_hash,omitempty"`
	// Started is when the run began; Updated when the status last changed.
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// Error is the failure, when State is failed.
	Error string `json:"error,omitempty"`
	// Config summarises the run's config for the status page.
	Config RunConfig `json:"config,omitzero"`
	// BatchesPerEpoch is the number of minibatches in an epoch (0: not
	// reported; the status page then learns it when an epoch ends).
	BatchesPerEpoch int `json:"batches_per_epoch,omitempty"`
}

// StatusBox holds the Status under a mutex, and the history of it that the
// status page draws. The zero value is ready to use.
type StatusBox struct {
	mu   sync.Mutex
	s    Status
	hist history
}

// Update applies f to the status under the lock and stamps Updated. f must
// be quick and must not keep the pointer.
func (b *StatusBox) Update(f func(*Status)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.s)
	b.s.Updated = time.Now().UTC()
	b.hist.observe(&b.s)
}

// Snapshot returns a deep copy of the status.
func (b *StatusBox) Snapshot() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	if b.s.Eval != nil {
		s.Eval = make(map[string]float64, len(b.s.Eval))
		for k, v := range b.s.Eval {
			s.Eval[k] = v
		}
	}
	return s
}

// Handler returns the routes: / (the live status page), /metrics
// (Prometheus text format from m.Registry), /healthz ("ok") and /status
// (st's JSON snapshot).
func Handler(m *Metrics, st *StatusBox) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", pageHandler(m, st))
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st.Snapshot()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}

// Server serves Handler over HTTP (internal/httpserver). Use Listen, then
// Serve (blocking) in one goroutine and Shutdown from another.
type Server struct {
	addr string
	h    http.Handler
	s    *httpserver.Server
}

// NewServer prepares a server for addr (host:port; port 0 picks a free one).
func NewServer(addr string, m *Metrics, st *StatusBox) *Server {
	return &Server{addr: addr, h: Handler(m, st)}
}

// Listen binds the address, so Addr is known before Serve.
func (s *Server) Listen() error {
	hs, err := httpserver.Listen(s.addr, s.h)
	if err != nil {
		return fmt.Errorf("obs: http.addr %q: %w", s.addr, err)
	}
	s.s = hs
	return nil
}

// Addr is the bound address after Listen ("" before).
func (s *Server) Addr() string {
	if s.s == nil {
		return ""
	}
	return s.s.Addr()
}

// Serve serves until Shutdown, then returns nil (any other error is
// returned). It calls Listen when that was not done.
func (s *Server) Serve() error {
	if s.s == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	if err := s.s.Serve(); err != nil {
		return fmt.Errorf("obs: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for active requests until
// ctx ends. Before Listen there is nothing to stop.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.s == nil {
		return nil
	}
	if err := s.s.Shutdown(ctx); err != nil {
		return fmt.Errorf("obs: %w", err)
	}
	return nil
}

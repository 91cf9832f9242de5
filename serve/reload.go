package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
)

// Loader builds the model to serve: a Reloader calls it once at start and
// again on every reload (for example, after `trainerd ingest --append` and
// `trainerd infer` produced embeddings of new nodes).
type Loader func(ctx context.Context) (Model, error)

// ReloadResponse is the JSON body of a successful POST /reload.
type ReloadResponse struct {
	// Status is "reloaded".
	Status string `json:"status"`
	// Generation counts successful loads: 1 for the model loaded at start.
	Generation int64 `json:"generation"`
	// Users and Items are the new model's row counts.
	Users int `json:"users"`
	Items int `json:"items"`
}

// Reloader serves the most recent model its Loader built. POST /reload
// calls the Loader and, when it succeeds, switches every later request to
// the new model at once (requests in flight finish on the old one); when
// it fails, the current model stays and the reply is 500 with the error.
// Every other path is answered by the current Handler. Reloads run one at
// a time; a reload requested while one runs waits for it and then runs.
// It is safe for concurrent use.
type Reloader struct {
	load Loader
	opts Options
	log  *slog.Logger
	cur  atomic.Pointer[Handler]
	gen  atomic.Int64
	mu   sync.Mutex // serialises reloads
}

// NewReloader loads the first model with load and returns a Reloader
// serving it; a failing first load is an error.
func NewReloader(ctx context.Context, load Loader, opts Options) (*Reloader, error) {
	if load == nil {
		return nil, errors.New("serve: nil loader")
	}
	r := &Reloader{load: load, opts: opts, log: opts.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	if _, err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload builds a new model with the Loader and serves it from now on. On
// error the current model stays.
func (r *Reloader) Reload(ctx context.Context) (ReloadResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.load(ctx)
	if err != nil {
		return ReloadResponse{}, fmt.Errorf("serve: load model: %w", err)
	}
	h, err := NewHandler(m, r.opts)
	if err != nil {
		return ReloadResponse{}, fmt.Errorf("serve: load model: %w", err)
	}
	r.cur.Store(h)
	g := r.gen.Add(1)
	r.log.Info("serve: model loaded", "generation", g, "users", h.nu, "items", h.ni, "dim", m.Dim)
	return ReloadResponse{Status: "reloaded", Generation: g, Users: h.nu, Items: h.ni}, nil
}

// Generation is the number of successful loads so far.
func (r *Reloader) Generation() int64 { return r.gen.Load() }

// Current returns the Handler now serving.
func (r *Reloader) Current() *Handler { return r.cur.Load() }

// ServeHTTP answers POST /reload and hands every other request to the
// current Handler.
func (r *Reloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h := r.cur.Load()
	if req.URL.Path != "/reload" {
		h.ServeHTTP(w, req)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		h.writeError(w, http.StatusMethodNotAllowed, "", fmt.Sprintf("method %s not allowed (use POST)", req.Method))
		return
	}
	if _, err := parseQuery(req.URL.RawQuery, nil); err != nil {
		h.writeParamError(w, err)
		return
	}
	res, err := r.Reload(req.Context())
	if err != nil {
		r.log.Warn("serve: reload failed; still serving the previous model", "generation", r.gen.Load(), "err", err)
		h.writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

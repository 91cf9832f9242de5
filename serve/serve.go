// Package serve owns the HTTP recommendation endpoint over trained
// embeddings: GET /recommend (top-K items for a user, train items excluded),
// GET /similar (top-K items most like an item, the item excluded) and GET
// /healthz (liveness), plus a Server with graceful shutdown.
//
// Query strings are parsed strictly: a malformed escape, an unknown or
// repeated parameter, a missing or unknown id and a k that is not an integer
// in [1, MaxK] are each answered 400 with an ErrorResponse naming the
// parameter, never with a guess.
//
// A query is one matrix-vector product (linalg.Sgemm with n=1) over all item
// embeddings and a partial top-K selection (eval.TopK); nothing is cached
// per user. The Handler is read-only after construction and safe for
// concurrent requests; it never touches the store or model code.
package serve

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/trainerd/trainerd/eval"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/linalg"
)

// DefaultK is the number of results when the request has no k parameter.
const DefaultK = 20

// DefaultMaxK is the largest k accepted when Options.MaxK is zero.
const DefaultMaxK = 1000

// Model is what the handler serves. Users and Items are row-major with Dim
// columns; row u is dense user u.
type Model struct {
	Dim   int
	Users []float32
	Items []float32
	// UserIDs and ItemIDs map dense id → external id. Nil means the
	// external id is the decimal dense id ("0", "1", ...).
	UserIDs []string
	ItemIDs []string
	// Train, when not nil, gives each user's train items, which
	// /recommend never returns. Its node counts must match the matrices.
	Train *graph.Bipartite
}

// Options configures NewHandler. The zero value accepts k up to
// DefaultMaxK and logs to slog.Default().
type Options struct {
	// MaxK is the largest k a request may ask for. Default 0: DefaultMaxK.
	MaxK int
	// Logger receives one Debug line per request error. Default nil:
	// slog.Default().
	Logger *slog.Logger
}

// Handler answers /recommend and /similar; see the package doc.
type Handler struct {
	m       Model
	nu, ni  int
	maxK    int
	log     *slog.Logger
	userIdx map[string]uint32
	itemIdx map[string]uint32
	normed  []float32 // item rows scaled to unit length, for /similar
	mux     *http.ServeMux
	bufs    sync.Pool // *buffers
}

type buffers struct {
	scores []float32
	top    []eval.Scored
}

// NewHandler validates m and builds the id indexes and the normalised item
// matrix used by /similar.
func NewHandler(m Model, opts Options) (*Handler, error) {
	if m.Dim <= 0 || len(m.Users)%m.Dim != 0 || len(m.Items)%m.Dim != 0 {
		return nil, fmt.Errorf("serve: %d user and %d item values do not divide into dim %d", len(m.Users), len(m.Items), m.Dim)
	}
	h := &Handler{m: m, nu: len(m.Users) / m.Dim, ni: len(m.Items) / m.Dim, maxK: opts.MaxK, log: opts.Logger}
	if h.maxK <= 0 {
		h.maxK = DefaultMaxK
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if m.UserIDs != nil && len(m.UserIDs) != h.nu {
		return nil, fmt.Errorf("serve: %d user ids for %d user rows", len(m.UserIDs), h.nu)
	}
	if m.ItemIDs != nil && len(m.ItemIDs) != h.ni {
		return nil, fmt.Errorf("serve: %d item ids for %d item rows", len(m.ItemIDs), h.ni)
	}
	if m.Train != nil && (m.Train.NumUsers != h.nu || m.Train.NumItems != h.ni) {
		return nil, fmt.Errorf("serve: train graph is %d×%d but embeddings are %d×%d", m.Train.NumUsers, m.Train.NumItems, h.nu, h.ni)
	}
	var err error
	if h.userIdx, err = index(m.UserIDs, "user"); err != nil {
		return nil, err
	}
	if h.itemIdx, err = index(m.ItemIDs, "item"); err != nil {
		return nil, err
	}
	h.normed = make([]float32, len(m.Items))
	for i := 0; i < h.ni; i++ {
		row := m.Items[i*m.Dim : (i+1)*m.Dim]
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		if s == 0 {
			continue // a zero vector stays zero: cosine 0 with everything
		}
		inv := float32(1 / math.Sqrt(s))
		for d, v := range row {
			h.normed[i*m.Dim+d] = v * inv
		}
	}
	h.bufs.New = func() any {
		return &buffers{scores: make([]float32, h.ni), top: make([]eval.Scored, 0, 64)}
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("/recommend", h.onlyGet(h.recommend))
	h.mux.HandleFunc("/similar", h.onlyGet(h.similar))
	h.mux.HandleFunc("/healthz", h.onlyGet(h.healthz))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, http.StatusNotFound, "", fmt.Sprintf("no such endpoint %q (GET /recommend?user=ID&k=N, /similar?item=ID&k=N or /healthz)", r.URL.Path))
	})
	return h, nil
}

// index maps external id → dense id; nil ids means decimal dense ids,
// resolved by lookup instead.
func index(ids []string, what string) (map[string]uint32, error) {
	if ids == nil {
		return nil, nil
	}
	m := make(map[string]uint32, len(ids))
	for i, id := range ids {
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("serve: duplicate %s id %q", what, id)
		}
		m[id] = uint32(i)
	}
	return m, nil
}

// onlyGet answers 405 with a JSON error for methods other than GET and HEAD.
func (h *Handler) onlyGet(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			h.writeError(w, http.StatusMethodNotAllowed, "", fmt.Sprintf("method %s not allowed (use GET)", r.Method))
			return
		}
		f(w, r)
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// ScoredItem is one result entry.
type ScoredItem struct {
	Item  string  `json:"item"`
	Score float32 `json:"score"`
}

// RecommendResponse is the JSON body of /recommend.
type RecommendResponse struct {
	User  string       `json:"user"`
	Items []ScoredItem `json:"items"`
}

// SimilarResponse is the JSON body of /similar.
type SimilarResponse struct {
	Item  string       `json:"item"`
	Items []ScoredItem `json:"items"`
}

// ErrorResponse is the JSON body of every error reply.
type ErrorResponse struct {
	// Error says what is wrong.
	Error string `json:"error"`
	// Param names the query parameter at fault, when one is.
	Param string `json:"param,omitempty"`
}

// HealthResponse is the JSON body of /healthz.
type HealthResponse struct {
	// Status is "ok" whenever the handler answers.
	Status string `json:"status"`
	// Users and Items are the model's row counts.
	Users int `json:"users"`
	Items int `json:"items"`
}

// paramError is a 400 reply naming the parameter at fault.
type paramError struct {
	param, msg string
}

func (e *paramError) Error() string { return e.msg }

// healthz answers 200 while the handler is up: the model is loaded before
// the listener opens, so an answer means the server can recommend.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	if _, err := parseQuery(r.URL.RawQuery, nil); err != nil {
		h.writeParamError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, HealthResponse{Status: "ok", Users: h.nu, Items: h.ni})
}

// parseQuery parses a raw query string strictly: every pair must unescape,
// every key must be in allowed, and no key may repeat. Errors are
// *paramError values naming the key.
func parseQuery(raw string, allowed []string) (map[string]string, error) {
	q := make(map[string]string, len(allowed))
	if raw == "" {
		return q, nil
	}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue // "a=1&&b=2" and a trailing "&" carry nothing
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, &paramError{rawKey, fmt.Sprintf("malformed query string: parameter name %q: %v", rawKey, err)}
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			return nil, &paramError{key, fmt.Sprintf("malformed query string: parameter %s: value %q: %v", key, rawVal, err)}
		}
		known := false
		for _, a := range allowed {
			known = known || a == key
		}
		if !known {
			want := "no parameters"
			if len(allowed) > 0 {
				want = "only " + strings.Join(allowed, " and ")
			}
			return nil, &paramError{key, fmt.Sprintf("unknown parameter %q (this endpoint takes %s)", key, want)}
		}
		if _, dup := q[key]; dup {
			return nil, &paramError{key, fmt.Sprintf("parameter %s given more than once", key)}
		}
		q[key] = val
	}
	return q, nil
}

// request parses r's query for an endpoint whose id parameter is idParam
// ("user" or "item"), resolving the id through idx and reading k.
func (h *Handler) request(r *http.Request, idParam string, idx map[string]uint32, n int) (ext string, id uint32, k int, err error) {
	q, err := parseQuery(r.URL.RawQuery, []string{idParam, "k"})
	if err != nil {
		return "", 0, 0, err
	}
	ext, ok := q[idParam]
	if !ok || ext == "" {
		return "", 0, 0, &paramError{idParam, fmt.Sprintf("missing parameter %s (e.g. ?%s=ID&k=%d)", idParam, idParam, DefaultK)}
	}
	if id, ok = lookup(idx, ext, n); !ok {
		return "", 0, 0, &paramError{idParam, fmt.Sprintf("unknown %s %q", idParam, ext)}
	}
	k, err = h.parseK(q)
	return ext, id, k, err
}

// recommend: score = dot(user, item) over all items, the user's train items
// masked, top k by score (ties by lower dense item id).
func (h *Handler) recommend(w http.ResponseWriter, r *http.Request) {
	ext, u, k, err := h.request(r, "user", h.userIdx, h.nu)
	if err != nil {
		h.writeParamError(w, err)
		return
	}
	b := h.bufs.Get().(*buffers)
	defer h.bufs.Put(b)
	q := h.m.Users[int(u)*h.m.Dim : int(u+1)*h.m.Dim]
	linalg.Sgemm(false, false, h.ni, 1, h.m.Dim, 1, h.m.Items, h.m.Dim, q, 1, 0, b.scores, 1)
	if h.m.Train != nil {
		eval.Mask(b.scores, h.m.Train.ItemsOf(u))
	}
	b.top = eval.TopK(b.top, b.scores, k)
	writeJSON(w, http.StatusOK, RecommendResponse{User: ext, Items: h.items(b.top)})
}

// similar: score = cosine(item, other) over all items, the item itself
// excluded, top k (ties by lower dense item id). Zero vectors score 0.
func (h *Handler) similar(w http.ResponseWriter, r *http.Request) {
	ext, i, k, err := h.request(r, "item", h.itemIdx, h.ni)
	if err != nil {
		h.writeParamError(w, err)
		return
	}
	b := h.bufs.Get().(*buffers)
	defer h.bufs.Put(b)
	q := h.normed[int(i)*h.m.Dim : int(i+1)*h.m.Dim]
	linalg.Sgemm(false, false, h.ni, 1, h.m.Dim, 1, h.normed, h.m.Dim, q, 1, 0, b.scores, 1)
	eval.Mask(b.scores, []uint32{i})
	b.top = eval.TopK(b.top, b.scores, k)
	writeJSON(w, http.StatusOK, SimilarResponse{Item: ext, Items: h.items(b.top)})
}

func (h *Handler) items(top []eval.Scored) []ScoredItem {
	out := make([]ScoredItem, len(top))
	for j, s := range top {
		out[j] = ScoredItem{Item: h.itemName(s.Item), Score: s.Score}
	}
	return out
}

func (h *Handler) itemName(i uint32) string {
	if h.m.ItemIDs != nil {
		return h.m.ItemIDs[i]
	}
	return strconv.FormatUint(uint64(i), 10)
}

// lookup resolves an external id; with no id map the id must be a decimal
// dense id below n.
func lookup(idx map[string]uint32, ext string, n int) (uint32, bool) {
	if idx != nil {
		v, ok := idx[ext]
		return v, ok
	}
	v, err := strconv.ParseUint(ext, 10, 32)
	if err != nil || v >= uint64(n) || strconv.FormatUint(v, 10) != ext {
		return 0, false
	}
	return uint32(v), true
}

// parseK reads k from q: absent means min(DefaultK, maxK); present, it must
// be a decimal integer in [1, maxK].
func (h *Handler) parseK(q map[string]string) (int, error) {
	s, ok := q["k"]
	if !ok {
		return min(DefaultK, h.maxK), nil
	}
	k, err := strconv.Atoi(s)
	if err != nil || k < 1 || k > h.maxK {
		return 0, &paramError{"k", fmt.Sprintf("bad k %q: want an integer in [1, %d]", s, h.maxK)}
	}
	return k, nil
}

// writeParamError answers 400 for a *paramError (naming its parameter) and
// for any other error.
func (h *Handler) writeParamError(w http.ResponseWriter, err error) {
	var param string
	if pe, ok := err.(*paramError); ok {
		param = pe.param
	}
	h.writeError(w, http.StatusBadRequest, param, err.Error())
}

func (h *Handler) writeError(w http.ResponseWriter, code int, param, msg string) {
	h.log.Debug("serve: request error", "status", code, "param", param, "error", msg)
	writeJSON(w, code, ErrorResponse{Error: msg, Param: param})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

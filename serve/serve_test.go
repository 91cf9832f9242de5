package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trainerd/trainerd/graph"
)

// testModel: dim 2, items
//
//	i0 "a" (3, 0)   i1 "b" (2, 0)   i2 "c" (1, 0)   i3 "d" (0, 1)   i4 "e" (0, 2)
//
// users u0 "alice" (1, 0) with train {a}, u1 "bob" (0, 1) with no train.
func testModel(t testing.TB) Model {
	train, err := graph.Build(2, 5, []graph.Edge{{User: 0, Item: 0}})
	if err != nil {
		t.Fatal(err)
	}
	return Model{
		Dim:     2,
		Users:   []float32{1, 0, 0, 1},
		Items:   []float32{3, 0, 2, 0, 1, 0, 0, 1, 0, 2},
		UserIDs: []string{"alice", "bob"},
		ItemIDs: []string{"a", "b", "c", "d", "e"},
		Train:   train,
	}
}

func get(t *testing.T, h http.Handler, url string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", url, ct)
	}
	return rec.Code, rec.Body.String()
}

func TestHandler(t *testing.T) {
	h, err := NewHandler(testModel(t), Options{MaxK: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url  string
		code int
		body string
	}{
		// alice scores a=3 (train: excluded), b=2, c=1, d=0, e=0 (tie: d first).
		{"/recommend?user=alice&k=3", 200, `{"user":"alice","items":[{"item":"b","score":2},{"item":"c","score":1},{"item":"d","score":0}]}`},
		// bob scores e=2, d=1, a=b=c=0; default k=20 returns all 5.
		{"/recommend?user=bob", 200, `{"user":"bob","items":[{"item":"e","score":2},{"item":"d","score":1},{"item":"a","score":0},{"item":"b","score":0},{"item":"c","score":0}]}`},
		// k larger than the candidates: all 4 non-train items.
		{"/recommend?user=alice&k=50", 200, `{"user":"alice","items":[{"item":"b","score":2},{"item":"c","score":1},{"item":"d","score":0},{"item":"e","score":0}]}`},
		// Cosine: a, b, c all point along x (cosine 1), d, e along y (0);
		// a itself excluded, ties by dense id.
		{"/similar?item=a&k=2", 200, `{"item":"a","items":[{"item":"b","score":1},{"item":"c","score":1}]}`},
		{"/similar?item=e&k=1", 200, `{"item":"e","items":[{"item":"d","score":1}]}`},
		// Escaped values are unescaped before lookup.
		{"/similar?item=%61&k=1", 200, `{"item":"a","items":[{"item":"b","score":1}]}`},
		{"/recommend?user=zed", 400, `{"error":"unknown user \"zed\"","param":"user"}`},
		{"/similar?item=zz&k=2", 400, `{"error":"unknown item \"zz\"","param":"item"}`},
		{"/recommend?user=alice&k=0", 400, `{"error":"bad k \"0\": want an integer in [1, 50]","param":"k"}`},
		{"/similar?item=a&k=51", 400, `{"error":"bad k \"51\": want an integer in [1, 50]","param":"k"}`},
		{"/healthz", 200, `{"status":"ok","users":2,"items":5}`},
		{"/nope", 404, `{"error":"no such endpoint \"/nope\" (GET /recommend?user=ID\u0026k=N, /similar?item=ID\u0026k=N or /healthz)"}`},
	} {
		code, body := get(t, h, tc.url)
		if code != tc.code || body != tc.body+"\n" {
			t.Errorf("GET %s = %d %s, want %d %s", tc.url, code, body, tc.code, tc.body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/recommend?user=alice", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /recommend = %d, want 405", rec.Code)
	}
}

// TestHandlerBadQuery: every malformed, unknown, repeated or out-of-range
// query parameter is answered 400 with a JSON error naming the parameter,
// never with a default result.
func TestHandlerBadQuery(t *testing.T) {
	h, err := NewHandler(testModel(t), Options{MaxK: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string // raw query after "/recommend?" or the full path when it starts with "/"
		param string
		msg   string // a substring of the error
	}{
		{"user=alice&k=3%zz", "k", `invalid URL escape "%zz"`},
		{"user=al%zzice&k=3", "user", `invalid URL escape`},
		{"us%zzer=alice", "us%zzer", `parameter name`},
		{"user=alice&k=3%", "k", `invalid URL escape`},
		{"user=alice&kk=3", "kk", `unknown parameter "kk"`},
		{"user=alice&k=3&debug", "debug", `unknown parameter "debug"`},
		{"user=alice&k=3&k=4", "k", `more than once`},
		{"user=alice&user=bob", "user", `more than once`},
		{"", "user", `missing parameter user`},
		{"k=3", "user", `missing parameter user`},
		{"user=&k=3", "user", `missing parameter user`},
		{"user=zed", "user", `unknown user "zed"`},
		{"user=alice;k=3", "user", `unknown user "alice;k=3"`},
		{"user=alice&k=x", "k", `bad k "x"`},
		{"user=alice&k=", "k", `bad k ""`},
		{"user=alice&k=3.0", "k", `bad k "3.0"`},
		{"user=alice&k=-1", "k", `bad k "-1"`},
		{"user=alice&k=0", "k", `bad k "0"`},
		{"user=alice&k=51", "k", `bad k "51"`},
		{"user=alice&k=99999999999999999999", "k", `bad k`},
		{"/similar?item=a&k=2%zz", "k", `invalid URL escape`},
		{"/similar?user=alice", "user", `unknown parameter "user" (this endpoint takes only item and k)`},
		{"/similar", "item", `missing parameter item`},
		{"/similar?item=zz", "item", `unknown item "zz"`},
		{"/healthz?x=1", "x", `unknown parameter "x" (this endpoint takes no parameters)`},
	} {
		url := tc.query
		if !strings.HasPrefix(url, "/") {
			url = "/recommend?" + url
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawQuery, _ = strings.Cut(url, "?")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var e ErrorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Errorf("GET %s: body %q is not a JSON error: %v", url, rec.Body, err)
			continue
		}
		if rec.Code != http.StatusBadRequest || e.Param != tc.param || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("GET %s = %d %s, want 400 naming param %q with %q", url, rec.Code, rec.Body, tc.param, tc.msg)
		}
	}
}

func TestHandlerDenseIDs(t *testing.T) {
	m := testModel(t)
	m.UserIDs, m.ItemIDs = nil, nil
	h, err := NewHandler(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, h, "/recommend?user=0&k=1"); code != 200 || body != `{"user":"0","items":[{"item":"1","score":2}]}`+"\n" {
		t.Errorf("dense ids: %d %s", code, body)
	}
	for _, id := range []string{"2", "01", "-1", "x"} {
		if code, _ := get(t, h, "/recommend?user="+id); code != 400 {
			t.Errorf("user %q: %d, want 400", id, code)
		}
	}
}

func TestNewHandlerErrors(t *testing.T) {
	for name, mut := range map[string]func(*Model){
		"zero dim":      func(m *Model) { m.Dim = 0 },
		"ragged":        func(m *Model) { m.Items = m.Items[:9] },
		"short ids":     func(m *Model) { m.ItemIDs = m.ItemIDs[:4] },
		"duplicate ids": func(m *Model) { m.UserIDs = []string{"x", "x"} },
		"graph shape": func(m *Model) {
			g, _ := graph.Build(3, 5, nil)
			m.Train = g
		},
	} {
		m := testModel(t)
		mut(&m)
		if _, err := NewHandler(m, Options{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestRecommendRandom checks /recommend against a brute-force ranking on
// random data: train items never appear and the order matches.
func TestRecommendRandom(t *testing.T) {
	const nu, ni, dim = 20, 300, 8
	r := rand.New(rand.NewPCG(3, 4))
	m := Model{Dim: dim, Users: make([]float32, nu*dim), Items: make([]float32, ni*dim)}
	for i := range m.Users {
		m.Users[i] = float32(r.IntN(7) - 3)
	}
	for i := range m.Items {
		m.Items[i] = float32(r.IntN(7) - 3)
	}
	var es []graph.Edge
	for i := 0; i < 2000; i++ {
		es = append(es, graph.Edge{User: uint32(r.IntN(nu)), Item: uint32(r.IntN(ni))})
	}
	m.Train, _ = graph.Build(nu, ni, es)
	h, err := NewHandler(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for u := 0; u < nu; u++ {
		code, body := get(t, h, fmt.Sprintf("/recommend?user=%d&k=25", u))
		if code != 200 {
			t.Fatalf("user %d: %d %s", u, code, body)
		}
		var resp RecommendResponse
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatal(err)
		}
		type cand struct {
			i int
			s float32
		}
		var all []cand
		for i := 0; i < ni; i++ {
			if m.Train.HasEdge(uint32(u), uint32(i)) {
				continue
			}
			var s float32
			for d := 0; d < dim; d++ {
				s += m.Users[u*dim+d] * m.Items[i*dim+d]
			}
			all = append(all, cand{i, s})
		}
		sort.SliceStable(all, func(a, b int) bool { return all[a].s > all[b].s })
		var want, got []string
		for _, c := range all[:25] {
			want = append(want, fmt.Sprint(c.i))
		}
		for _, it := range resp.Items {
			got = append(got, it.Item)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("user %d: got %v, want %v", u, got, want)
		}
	}
}

func TestServerShutdown(t *testing.T) {
	h, err := NewHandler(testModel(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	resp, err := http.Get("http://" + s.Addr() + "/recommend?user=bob&k=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"user":"bob","items":[{"item":"e","score":2}]}`+"\n" {
		t.Fatalf("live server: %d %s", resp.StatusCode, b)
	}
	// The raw query reaches the handler unparsed: a bad escape is a 400 over
	// the wire too, not the default 20 items.
	resp, err = http.Get("http://" + s.Addr() + "/recommend?user=bob&k=3%zz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"param":"k"`) {
		t.Fatalf("live server, k=3%%zz: %d %s, want 400 naming k", resp.StatusCode, b)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Shutdown = %v, want nil", err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/recommend?user=bob"); err == nil {
		t.Fatal("server still answers after Shutdown")
	}
	// ListenAndServe returns nil once its context is cancelled.
	errc := make(chan error, 1)
	go func() { errc <- ListenAndServe(ctx, "127.0.0.1:0", h, time.Second) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("ListenAndServe = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	if _, err := Listen("256.0.0.1:1", h); err == nil {
		t.Fatal("Listen on a bad address: no error")
	}
}

// BenchmarkRecommend measures /recommend latency (k=20) on Gowalla-size
// random embeddings (29,858 users, 40,981 items, dim 64, ~27 train items
// per user) through the full handler, reporting p50 and p99 in µs.
func BenchmarkRecommend(b *testing.B) {
	const nu, ni, dim = 29858, 40981, 64
	r := rand.New(rand.NewPCG(1, 1))
	m := Model{Dim: dim, Users: make([]float32, nu*dim), Items: make([]float32, ni*dim)}
	for i := range m.Users {
		m.Users[i] = float32(r.NormFloat64())
	}
	for i := range m.Items {
		m.Items[i] = float32(r.NormFloat64())
	}
	es := make([]graph.Edge, 810128)
	for i := range es {
		es[i] = graph.Edge{User: uint32(r.IntN(nu)), Item: uint32(r.IntN(ni))}
	}
	m.Train, _ = graph.Build(nu, ni, es)
	h, err := NewHandler(m, Options{})
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/recommend?user=%d&k=20", r.IntN(nu)), nil)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		lat = append(lat, time.Since(start))
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

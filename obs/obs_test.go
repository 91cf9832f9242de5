package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestMetricsEndpoint(t *testing.T) {
	m := NewMetrics()
	m.Loss.Set(0.6931)
	m.Examples.Add(512)
	m.Batches.Inc()
	m.QueueDepth.Set(3)
	m.ConsumerWait.Set(0.25)
	m.SetEval(map[string]float64{"recall@20": 0.18, "ndcg@20": 0.15})
	m.Epoch.Set(2)
	m.Step.Set(100)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return t0.Add(90 * time.Second) }
	ts := httptest.NewServer(Handler(m, &StatusBox{}))
	defer ts.Close()

	_, body := get(t, ts.URL+"/metrics")
	if !strings.Contains(body, MetricCheckpointAge+" -1") {
		t.Errorf("checkpoint age before any checkpoint should be -1:\n%s", grep(body, MetricCheckpointAge))
	}
	m.CheckpointWritten(t0)
	code, body := get(t, ts.URL+"/metrics")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		MetricLoss + " 0.6931",
		MetricExamples + " 512",
		MetricBatches + " 1",
		MetricExamplesPerSec,
		MetricBatchesPerSec,
		MetricQueueDepth + " 3",
		MetricConsumerWait + " 0.25",
		MetricEval + `{metric="recall@20"} 0.18`,
		MetricEval + `{metric="ndcg@20"} 0.15`,
		MetricCheckpointAge + " 90",
		MetricEpoch + " 2",
		MetricStep + " 100",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Registries are per daemon: a second Metrics is independent.
	m2 := NewMetrics()
	m2.Loss.Set(5)
	if _, body := get(t, ts.URL+"/metrics"); !strings.Contains(body, MetricLoss+" 0.6931") {
		t.Error("a second Metrics changed the first one's registry")
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestStatusAndHealth(t *testing.T) {
	var st StatusBox
	st.Update(func(s *Status) {
		s.State, s.Model, s.Epoch, s.Step, s.Loss = "training", "pinsage", 3, 1234, 0.42
		s.Eval = map[string]float64{"recall@20": 0.1}
	})
	ts := httptest.NewServer(Handler(NewMetrics(), &st))
	defer ts.Close()
	code, body := get(t, ts.URL+"/healthz")
	if code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	code, body = get(t, ts.URL+"/status")
	if code != 200 {
		t.Fatalf("/status = %d", code)
	}
	var got Status
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if got.State != "training" || got.Model != "pinsage" || got.Epoch != 3 || got.Step != 1234 || got.Loss != 0.42 ||
		got.Eval["recall@20"] != 0.1 || got.Updated.IsZero() {
		t.Fatalf("/status = %+v", got)
	}
	// Snapshot is a copy.
	snap := st.Snapshot()
	snap.Eval["recall@20"] = 9
	if st.Snapshot().Eval["recall@20"] != 0.1 {
		t.Fatal("Snapshot shares the Eval map")
	}
	if code, _ := get(t, ts.URL+"/nope"); code != 404 {
		t.Fatalf("/nope = %d", code)
	}
}

func TestStatusConcurrent(t *testing.T) {
	var st StatusBox
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				st.Update(func(s *Status) {
					s.Step++
					if s.Eval == nil {
						s.Eval = map[string]float64{}
					}
					s.Eval["x"] = float64(i*1000 + j)
				})
				_ = st.Snapshot()
			}
		}()
	}
	wg.Wait()
	if got := st.Snapshot().Step; got != 800 {
		t.Fatalf("Step = %d, want 800", got)
	}
}

func TestServerShutdown(t *testing.T) {
	s := NewServer("127.0.0.1:0", NewMetrics(), &StatusBox{})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	if code, _ := get(t, "http://"+s.Addr()+"/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Shutdown = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if _, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		t.Fatal("still serving after Shutdown")
	}
}

func TestWriteCurve(t *testing.T) {
	dir := t.TempDir()
	pts := []CurvePoint{{1, 0.9, math.NaN()}, {2, 0.7, 0.05}, {3, 0.6, math.NaN()}, {4, 0.55, 0.09}}
	if err := WriteCurve(dir, pts, "recall@20"); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(filepath.Join(dir, CurvePNG))
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("curve.png: %d bytes, prefix %q", len(png), png[:min(8, len(png))])
	}
	svg, err := os.ReadFile(filepath.Join(dir, CurveSVG))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("recall@20")) {
		t.Fatalf("curve.svg lacks <svg or the recall label (%d bytes)", len(svg))
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	// No evaluation yet and an empty curve still draw.
	if err := WriteCurve(dir, nil, "recall@20"); err != nil {
		t.Fatal(err)
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgressWriter(&buf, true, 0)
	p.Update("epoch %d step %d", 1, 10)
	p.Update("epoch %d step %d", 1, 20)
	p.Done()
	if got, want := buf.String(), "\repoch 1 step 10\x1b[K\repoch 1 step 20\x1b[K\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	buf.Reset()
	off := NewProgressWriter(&buf, false, 0)
	off.Update("x")
	off.Done()
	if buf.Len() != 0 {
		t.Fatalf("disabled progress wrote %q", buf.String())
	}
	slow := NewProgressWriter(&buf, true, time.Hour)
	slow.Update("a")
	slow.Update("b")
	if got := buf.String(); got != "\ra\x1b[K" {
		t.Fatalf("rate limit: got %q", got)
	}
	// A pipe is not a terminal.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if NewProgress(w).Enabled() {
		t.Fatal("progress enabled on a pipe")
	}
}

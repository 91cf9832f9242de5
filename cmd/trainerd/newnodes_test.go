package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/serve"
	"github.com/trainerd/trainerd/trainer"
)

// appendNodes appends one new user (who rated items 0..2 and the new item)
// and one new item, with features of the store's schemas, named by suffix.
func appendNodes(t *testing.T, store, suffix string) {
	t.Helper()
	s, err := featurestore.Open(store, featurestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	us, is := s.Schema(dataset.User), s.Schema(dataset.Item)
	items, err := s.IDs(dataset.Item)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	add := &dataset.Dataset{Name: "add", UserIDs: []string{"new-u" + suffix}, ItemIDs: append([]string{"new-i" + suffix}, items[:3]...),
		UserFeatures: &dataset.Features{Schema: us, Data: make([]float32, us.Dim())},
		ItemFeatures: &dataset.Features{Schema: is, Data: make([]float32, 4*is.Dim())}}
	for i := range add.ItemFeatures.Data {
		add.ItemFeatures.Data[i] = float32(i%5) - 2
	}
	for i := range 4 {
		add.Train = append(add.Train, dataset.Interaction{User: 0, Item: uint32(i), Weight: 1})
	}
	if _, err := featurestore.Append(context.Background(), store, add); err != nil {
		t.Fatal(err)
	}
}

// TestNewNodesServed: a features-only PinSage run, a store grown by
// Append, infer over it and serve --embeddings's loader serving the new
// user; serving the run's own embeddings over the grown store, or infer's
// output over a store that grew again, is refused with what to do.
func TestNewNodesServed(t *testing.T) {
	store := tinyStoreInProcess(t)
	run := filepath.Join(t.TempDir(), "run")
	cfg, err := config.Load("", []string{"train.device=cpu", "http.addr=", "model.name=pinsage", "model.inputs=features",
		"train.epochs=1", "producer.batch_size=64", "model.dim=8", "model.hidden=8", "model.loss=margin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trainer.Run(context.Background(), trainer.Options{Config: cfg, StoreDir: store, RunDir: run, Out: io.Discard,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	appendNodes(t, store, "0")
	if _, err := runModel(run, store, checkpointBest, false); err == nil || !strings.Contains(err.Error(), "grew from run") {
		t.Fatalf("serving the run's embeddings over a grown store: %v", err)
	}
	out := filepath.Join(t.TempDir(), "emb")
	for _, args := range [][]string{{"--run-dir", run, "--store", store, "--out", out, "--shard", "0/1"}, {"--merge", "--out", out}} {
		if msg, err := execCmd(t, context.Background(), newInferCmd(), args...); err != nil {
			t.Fatalf("infer %v: %v\n%s", args, err, msg)
		}
	}
	m, err := inferredModel(out, store, false)
	if err != nil {
		t.Fatal(err)
	}
	h, err := serve.NewHandler(m, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/recommend?user=new-u0&k=3", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"user":"new-u0"`) {
		t.Fatalf("new user: %d %s", rec.Code, rec.Body.String())
	}
	msg, err := execCmd(t, context.Background(), newEvalCmd(), "--store", store, "--embeddings", out, "--json", "--progress", "off")
	if err != nil || !strings.Contains(msg, `"recall@20"`) {
		t.Fatalf("eval --embeddings: %v\n%s", err, msg)
	}
	msg, err = execCmd(t, context.Background(), newEvalCmd(), "--store", store, "--baseline", "content", "--json", "--progress", "off")
	if err != nil || !strings.Contains(msg, `"recall@20"`) {
		t.Fatalf("eval --baseline content: %v\n%s", err, msg)
	}
	if _, err := execCmd(t, context.Background(), newEvalCmd(), "--store", store, "--baseline", "content", "--run-dir", run); err == nil {
		t.Error("eval with --baseline and --run-dir: no error")
	}
	appendNodes(t, store, "1")
	if _, err := execCmd(t, context.Background(), newEvalCmd(), "--store", store, "--embeddings", out); err == nil || !strings.Contains(err.Error(), "computed over store fingerprint") {
		t.Errorf("eval --embeddings over a store that grew again: %v", err)
	}
	if _, err := inferredModel(out, store, false); err == nil || !strings.Contains(err.Error(), "infer over the store again") {
		t.Fatalf("infer output over a store that grew again: %v", err)
	}
}

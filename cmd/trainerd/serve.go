package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/serve"
)

func newServeCmd() *cobra.Command {
	var runDir, store, addr string
	var maxK int
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "serve --run-dir DIR --store DIR [--addr 127.0.0.1:8080]",
		Short: "Serve recommendations and similar items from trained embeddings over HTTP",
		Long: `serve loads RUN/embeddings (users.npy, items.npy) and, from the feature
store, the external id maps and every user's train items, then answers:

  GET /recommend?user=ID&k=20  the k items with the highest inner product with
                               the user's embedding, the user's train items excluded
  GET /similar?item=ID&k=20    the k items with the highest cosine similarity to
                               the item, the item itself excluded

IDs are the external ids of the source data. Replies are JSON, e.g.
{"user":"17","items":[{"item":"4021","score":3.2},...]}; an unknown id gives
404 {"error":"unknown user \"x\""}, a bad k 400. SIGINT/SIGTERM shut the
server down gracefully, letting in-flight requests finish within --grace.`,
		Example: `  trainerd serve --run-dir runs/lightgcn-1 --store store/gowalla
  trainerd serve --run-dir runs/mf --store store/ml-100k --addr :9090 &
  curl 'http://127.0.0.1:9090/recommend?user=196&k=10'
  curl 'http://127.0.0.1:9090/similar?item=242'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			emb, err := export.Load(runDir)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			if err := idsFromStore(store, emb); err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			train, err := loadTrainGraph(store)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			h, err := serve.NewHandler(serve.Model{
				Dim: emb.Dim, Users: emb.Users, Items: emb.Items,
				UserIDs: emb.UserIDs, ItemIDs: emb.ItemIDs, Train: train,
			}, serve.Options{MaxK: maxK})
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			slog.Info("serve: model loaded", "users", emb.NumUsers(), "items", emb.NumItems(), "dim", emb.Dim)
			return serve.ListenAndServe(cmd.Context(), addr, h, grace)
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory holding embeddings/ (required)")
	cmd.Flags().StringVar(&store, "store", "", "feature store with the id maps and train interactions (required)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	cmd.Flags().IntVar(&maxK, "max-k", serve.DefaultMaxK, "largest k a request may ask for")
	cmd.Flags().DurationVar(&grace, "grace", serve.DefaultShutdownGrace, "how long shutdown waits for in-flight requests")
	_ = cmd.MarkFlagRequired("run-dir")
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

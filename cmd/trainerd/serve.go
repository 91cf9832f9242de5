package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/serve"
)

// defaultServeAddr is serve's listen address when neither --addr nor the
// http.addr environment variable says otherwise: loopback only.
const defaultServeAddr = "127.0.0.1:8080"

func newServeCmd() *cobra.Command {
	var runDir, store, addr, which string
	var maxK int
	var grace time.Duration
	var force bool
	addrEnv := config.EnvName("http.addr")
	cmd := &cobra.Command{
		Use:   "serve --run-dir DIR --store DIR [--addr 127.0.0.1:8080]",
		Short: "Serve recommendations and similar items from trained embeddings over HTTP",
		Long: `serve loads the embeddings of the run's best checkpoint (RUN/best/embeddings;
--checkpoint latest: RUN/embeddings) and, from the feature
store, the external id maps and every user's train items, then answers:

  GET /recommend?user=ID&k=20  the k items with the highest inner product with
                               the user's embedding, the user's train items excluded
  GET /similar?item=ID&k=20    the k items with the highest cosine similarity to
                               the item, the item itself excluded
  GET /healthz                 200 {"status":"ok",...} once the model is loaded

IDs are the external ids of the source data. Replies are JSON, e.g.
{"user":"17","items":[{"item":"4021","score":3.2},...]}. A malformed query
string, an unknown or repeated parameter, a missing or unknown id and a k that
is not an integer in [1, --max-k] give 400 with the parameter named, e.g.
{"error":"unknown user \"x\"","param":"user"}. SIGINT/SIGTERM shut the server
down gracefully, letting in-flight requests finish within --grace.

The store must be the one the run was trained on: its fingerprint is checked
against the one the run records, and another store is refused unless --force.

The address defaults to loopback (` + defaultServeAddr + `), or to $` + addrEnv + ` when set
(the variable train reads for http.addr; the container image sets 0.0.0.0:9090).
An address that binds every interface (":9090", "0.0.0.0:9090") is served
with a warning naming it: anyone who can reach the host can then query the model.`,
		Example: `  trainerd serve --run-dir runs/lightgcn-1 --store store/gowalla
  trainerd serve --run-dir runs/mf --store store/ml-100k --addr 127.0.0.1:9090 &
  curl 'http://127.0.0.1:9090/recommend?user=196&k=10'
  curl 'http://127.0.0.1:9090/similar?item=242'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			emb, err := loadRun(runDir, which)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			s, err := openRunStore(runDir, store, emb, force)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			train, err := modelData(s, store, emb)
			s.Close()
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
	def := defaultServeAddr
	if v := os.Getenv(addrEnv); v != "" {
		def = v
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory holding embeddings/ (required)")
	cmd.Flags().StringVar(&store, "store", "", "the feature store the run was trained on: id maps and train interactions (required)")
	cmd.Flags().StringVar(&addr, "addr", def, "listen address: $"+addrEnv+" when set, else loopback")
	cmd.Flags().IntVar(&maxK, "max-k", serve.DefaultMaxK, "largest k a request may ask for")
	cmd.Flags().DurationVar(&grace, "grace", serve.DefaultShutdownGrace, "how long shutdown waits for in-flight requests")
	cmd.Flags().BoolVar(&force, "force", false, "serve even if the store's fingerprint differs from the run's training store")
	cmd.Flags().StringVar(&which, "checkpoint", checkpointBest, checkpointFlagHelp)
	_ = cmd.MarkFlagRequired("run-dir")
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

// modelData fills emb's missing id maps from the store and returns its
// train graph.
func modelData(s *featurestore.Store, storeDir string, emb *export.Embeddings) (*graph.Bipartite, error) {
	if err := idsFromStore(s, storeDir, emb); err != nil {
		return nil, err
	}
	return s.LoadGraph()
}

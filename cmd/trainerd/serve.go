package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/graph"
	"github.com/trainerd/trainerd/infer"
	"github.com/trainerd/trainerd/serve"
)

// defaultServeAddr is serve's listen address when neither --addr nor the
// http.addr environment variable says otherwise: loopback only.
const defaultServeAddr = "127.0.0.1:8080"

func newServeCmd() *cobra.Command {
	var runDir, store, addr, which, embDir string
	var maxK int
	var grace time.Duration
	var force bool
	addrEnv := config.EnvName("http.addr")
	cmd := &cobra.Command{
		Use:   "serve (--run-dir DIR | --embeddings DIR) --store DIR [--addr 127.0.0.1:8080]",
		Short: "Serve recommendations and similar items from trained embeddings over HTTP",
		Long: `serve loads the embeddings of the run's best checkpoint (RUN/best/embeddings;
--checkpoint latest: RUN/embeddings) and, from the feature
store, the external id maps and every user's train items, then answers:

  GET /recommend?user=ID&k=20  the k items with the highest inner product with
                               the user's embedding, the user's train items excluded
  GET /similar?item=ID&k=20    the k items with the highest cosine similarity to
                               the item, the item itself excluded
  GET /healthz                 200 {"status":"ok",...} once the model is loaded
  POST /reload                 load the embeddings and store again (see below)

IDs are the external ids of the source data. Replies are JSON, e.g.
{"user":"17","items":[{"item":"4021","score":3.2},...]}. A malformed query
string, an unknown or repeated parameter, a missing or unknown id and a k that
is not an integer in [1, --max-k] give 400 with the parameter named, e.g.
{"error":"unknown user \"x\"","param":"user"}. SIGINT/SIGTERM shut the server
down gracefully, letting in-flight requests finish within --grace.

The store must be the one the run was trained on: its fingerprint is checked
against the one the run records, and another store is refused unless --force.

New nodes: after ingest --append grew the store, embed it with trainerd infer
(PinSage/GraphSAGE reading features) and serve the merged output with
--embeddings DIR instead of --run-dir; the store must be the one infer read.
POST /reload, or SIGHUP, loads the run (or --embeddings) and the store again
and switches to them at once, so a server picks up new nodes without a
restart: ingest --append, infer, infer --merge, then reload. A reload that
fails (a store changed since infer ran) keeps the current model and answers
500 with the reason.

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
			switch {
			case store == "":
				return errors.New(`serve: required flag(s) "store" not set`)
			case runDir == "" && embDir == "":
				return errors.New(`serve: required flag(s) "run-dir" not set (or give --embeddings from trainerd infer)`)
			case runDir != "" && embDir != "":
				return errors.New("serve: --run-dir and --embeddings are exclusive: --embeddings serves what infer wrote (infer checked the run)")
			}
			load := func(ctx context.Context) (serve.Model, error) {
				if embDir != "" {
					return inferredModel(embDir, store, force)
				}
				return runModel(runDir, store, which, force)
			}
			ctx := cmd.Context()
			r, err := serve.NewReloader(ctx, load, serve.Options{MaxK: maxK})
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						if _, err := r.Reload(ctx); err != nil {
							slog.Warn("serve: reload on SIGHUP failed; still serving the previous model", "err", err)
						}
					}
				}
			}()
			return serve.ListenAndServe(ctx, addr, r, grace)
		},
	}
	def := defaultServeAddr
	if v := os.Getenv(addrEnv); v != "" {
		def = v
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory holding embeddings/ (required unless --embeddings)")
	cmd.Flags().StringVar(&store, "store", "", "the feature store the run was trained on: id maps and train interactions (required)")
	cmd.Flags().StringVar(&addr, "addr", def, "listen address: $"+addrEnv+" when set, else loopback")
	cmd.Flags().IntVar(&maxK, "max-k", serve.DefaultMaxK, "largest k a request may ask for")
	cmd.Flags().DurationVar(&grace, "grace", serve.DefaultShutdownGrace, "how long shutdown waits for in-flight requests")
	cmd.Flags().BoolVar(&force, "force", false, "serve even if the store's fingerprint differs from the run's training store")
	cmd.Flags().StringVar(&which, "checkpoint", checkpointBest, checkpointFlagHelp)
	cmd.Flags().StringVar(&embDir, "embeddings", "", "serve a merged trainerd infer output directory instead of the run's embeddings (new nodes of a grown store)")
	return cmd
}

// runModel loads the run's embeddings and the store's id maps and train
// graph. A store grown by ingest --append is refused here: the run's
// embeddings have no rows for its new nodes.
func runModel(runDir, store, which string, force bool) (serve.Model, error) {
	emb, err := loadRun(runDir, which)
	if err != nil {
		return serve.Model{}, err
	}
	s, err := featurestore.Open(store, featurestore.Options{ReadOnly: true})
	if err != nil {
		return serve.Model{}, err
	}
	defer s.Close()
	if a, ok := s.DescendsFrom(emb.Fingerprint); ok && a.Fingerprint != s.Fingerprint() {
		return serve.Model{}, fmt.Errorf("store %s grew from run %s's store (%d users, %d items) to %d users, %d items; "+
			"the run's embeddings have no rows for the new nodes: embed them with `trainerd infer --run-dir %s --store %s --out DIR --shard 0/1`, "+
			"`trainerd infer --merge --out DIR`, and serve --embeddings DIR", store, runDir, a.Users, a.Items, s.Stats().Users, s.Stats().Items, runDir, store)
	}
	if err := checkStore(runDir, emb.Fingerprint, store, s.Fingerprint(), force); err != nil {
		return serve.Model{}, err
	}
	train, err := modelData(s, store, emb)
	if err != nil {
		return serve.Model{}, err
	}
	return serve.Model{Dim: emb.Dim, Users: emb.Users, Items: emb.Items, UserIDs: emb.UserIDs, ItemIDs: emb.ItemIDs, Train: train}, nil
}

// inferredModel loads a merged infer output directory and the train graph
// of the store it was computed over (the fingerprints must match: a store
// that changed since needs infer again).
func inferredModel(embDir, store string, force bool) (serve.Model, error) {
	emb, _, err := infer.Read(embDir)
	if err != nil {
		return serve.Model{}, err
	}
	s, err := featurestore.Open(store, featurestore.Options{ReadOnly: true})
	if err != nil {
		return serve.Model{}, err
	}
	defer s.Close()
	if fp := s.Fingerprint(); fp != emb.Fingerprint {
		if !force {
			return serve.Model{}, fmt.Errorf("embeddings in %s were computed over store fingerprint %.12s but store %s is now %.12s: "+
				"run trainerd infer over the store again, then reload (or --force)", embDir, emb.Fingerprint, store, fp)
		}
		slog.Warn("serve: embeddings were computed over another store (forced)", "embeddings", embDir, "store", store)
	}
	train, err := modelData(s, store, emb)
	if err != nil {
		return serve.Model{}, err
	}
	return serve.Model{Dim: emb.Dim, Users: emb.Users, Items: emb.Items, UserIDs: emb.UserIDs, ItemIDs: emb.ItemIDs, Train: train}, nil
}

// modelData fills emb's missing id maps from the store and returns its
// train graph.
func modelData(s *featurestore.Store, storeDir string, emb *export.Embeddings) (*graph.Bipartite, error) {
	if err := idsFromStore(s, storeDir, emb); err != nil {
		return nil, err
	}
	return s.LoadGraph()
}

// Command trainerd trains graph-neural-network recommenders (PinSage,
// GraphSAGE, LightGCN, NGCF, MF, random-walk embeddings) from an interaction
// graph held in an embedded Badger feature store.
//
// Each subcommand lives in its own file; this file only wires them.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/linalg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "trainerd:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:   "trainerd",
		Short: "Train graph-neural-network recommenders (PinSage, LightGCN, MF, ...) from an interaction graph",
		Long: `trainerd learns user and item embeddings from an interaction graph.

Data goes into a Badger feature store (ingest, gen), producers sample random-walk
neighborhoods and negatives on CPU, and a consumer trains on CPU or CUDA
(train). Trained embeddings are evaluated (eval), exported (export) and
served over HTTP (serve).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: %w", logLevel, err)
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
			// Producers, the consumer and the evaluator parallelise over
			// goroutines; OpenBLAS's own threads would only spin beside them.
			// The environment variable keeps the last word. This is also
			// where linalg chooses its GEMM backend, and logs it, once.
			if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
				linalg.SetThreads(1)
			} else {
				linalg.Default()
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	for _, c := range subcommands() {
		root.AddCommand(c)
	}
	return root
}

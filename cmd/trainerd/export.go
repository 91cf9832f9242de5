package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/export"
	"github.com/trainerd/trainerd/featurestore"
)

func newExportCmd() *cobra.Command {
	var runDir, out, store string
	cmd := &cobra.Command{
		Use:   "export --run-dir DIR --out DIR [--store DIR]",
		Short: "Write a run's embeddings as NumPy .npy matrices plus TSV id maps",
		Long: `export reads RUN/embeddings (users.npy, items.npy and, when present,
users.tsv and items.tsv) and writes the same set into --out:

  OUT/users.npy   float32 '<f4', C order, shape (users, dim): numpy.load() reads it
  OUT/items.npy   float32 '<f4', C order, shape (items, dim)
  OUT/users.tsv   "dense_id<TAB>external_id" header, then one line per user
  OUT/items.tsv   the same for items

When the run has no id maps, --store supplies them from the feature store the
run was trained on. Each file is written atomically (temp file, fsync, rename).`,
		Example: `  trainerd export --run-dir runs/lightgcn-1 --out /tmp/emb
  trainerd export --run-dir runs/mf --store store/gowalla --out share/mf
  python3 -c "import numpy; print(numpy.load('/tmp/emb/items.npy').shape)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExportCmd(runDir, out, store, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory holding embeddings/ (required)")
	cmd.Flags().StringVar(&out, "out", "", "output directory, created if missing (required)")
	cmd.Flags().StringVar(&store, "store", "", "feature store to take id maps from when the run has none")
	_ = cmd.MarkFlagRequired("run-dir")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runExportCmd(runDir, out, storeDir string, w io.Writer) error {
	emb, err := export.Load(runDir)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if storeDir != "" && (emb.UserIDs == nil || emb.ItemIDs == nil) {
		if err := idsFromStore(storeDir, emb); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if err := export.SaveDir(out, emb); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	slog.Info("export: written", "dir", out, "users", emb.NumUsers(), "items", emb.NumItems(), "dim", emb.Dim, "id_maps", emb.UserIDs != nil)
	fmt.Fprintf(w, "wrote %d users and %d items (dim %d) to %s\n", emb.NumUsers(), emb.NumItems(), emb.Dim, out)
	return nil
}

// idsFromStore fills emb's missing id maps from the store, checking counts.
func idsFromStore(storeDir string, emb *export.Embeddings) error {
	s, err := featurestore.Open(storeDir, featurestore.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	for _, m := range []struct {
		t    dataset.NodeType
		dst  *[]string
		want int
	}{{dataset.User, &emb.UserIDs, emb.NumUsers()}, {dataset.Item, &emb.ItemIDs, emb.NumItems()}} {
		if *m.dst != nil {
			continue
		}
		ids, err := s.IDs(m.t)
		if err != nil {
			return err
		}
		if len(ids) != m.want {
			return fmt.Errorf("store %s has %d %s ids but the embeddings have %d rows", storeDir, len(ids), m.t, m.want)
		}
		*m.dst = ids
	}
	return nil
}

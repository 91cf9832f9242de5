package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/dataset"
	"github.com/trainerd/trainerd/featurestore"
	"github.com/trainerd/trainerd/obs"
)

func newStatsCmd() *cobra.Command {
	var store string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats --store DIR [--json]",
		Short: "Show what the feature store holds: counts, feature dims, fingerprint, size",
		Long: `stats opens the committed data set in --store read-only (a shared lock, so it
runs beside other read-only openers) and prints its name, format version, node and
edge counts, feature dimensions and schemas, content fingerprint and size on disk.

With --json it prints one JSON object with the keys name, format_version,
fingerprint, users, items, train_edges, test_edges, graph_edges,
user_feature_dim, item_feature_dim, version, bytes_on_disk, created_at,
user_schema and item_schema.`,
		Example: `  trainerd stats --store /var/lib/trainerd/gowalla
  trainerd stats --store store/gen-small --json | jq .train_edges`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStats(store, asJSON, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "feature store directory (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of a table")
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

// storeReport is the JSON form of `trainerd stats`.
type storeReport struct {
	featurestore.Stats
	UserSchema dataset.Schema `json:"user_schema"`
	ItemSchema dataset.Schema `json:"item_schema"`
}

func runStats(dir string, asJSON bool, w io.Writer) error {
	s, err := featurestore.Open(dir, featurestore.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	defer s.Close()
	rep := storeReport{Stats: s.Stats(), UserSchema: s.Schema(dataset.User), ItemSchema: s.Schema(dataset.Item)}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeStatsTable(w, dir, rep)
}

func writeStatsTable(w io.Writer, dir string, r storeReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("store", dir)
	row("name", r.Name)
	row("format version", r.FormatVersion)
	row("version", r.Version)
	row("committed", r.CreatedAt.Local().Format(time.DateTime))
	row("users", r.Users)
	row("items", r.Items)
	row("train edges", r.TrainEdges)
	row("test edges", r.TestEdges)
	row("graph edges", fmt.Sprintf("%d (distinct train pairs)", r.GraphEdges))
	if r.Users > 0 && r.Items > 0 {
		row("density", fmt.Sprintf("%.5f%%", 100*float64(r.GraphEdges)/float64(r.Users)/float64(r.Items)))
		row("mean degree", fmt.Sprintf("%.1f per user, %.1f per item", float64(r.GraphEdges)/float64(r.Users), float64(r.GraphEdges)/float64(r.Items)))
	}
	row("user features", schemaLine(r.UserFeatureDim, r.UserSchema))
	row("item features", schemaLine(r.ItemFeatureDim, r.ItemSchema))
	row("fingerprint", r.Fingerprint)
	row("size on disk", obs.FormatBytes(r.BytesOnDisk))
	return tw.Flush()
}

// schemaLine renders "dim 9: genre onehot(8), year numeric(1)".
func schemaLine(dim int, s dataset.Schema) string {
	if dim == 0 {
		return "none"
	}
	out := fmt.Sprintf("dim %d:", dim)
	for i, c := range s {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf(" %s %s(%d)", c.Name, c.Derivation, c.Dim)
	}
	return out
}

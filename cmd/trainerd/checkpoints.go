package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/trainer"
)

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// newCheckpointsCmd is `trainerd checkpoints --run-dir DIR [--json]`.
func newCheckpointsCmd() *cobra.Command {
	var runDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "checkpoints",
		Short: "List a run's checkpoints, verifying each (path, step, epoch, valid, params_sha256)",
		Long: `checkpoints reads every checkpoint in RUN_DIR/checkpoints, verifies its
checksum and prints one line per file, then the run's best checkpoint
(RUN_DIR/best/checkpoint.trd, kept beside them) when it has one. --json prints
a JSON array of {path, step, epoch, valid, error, params_sha256, best, ...};
params_sha256 is the sha256 of the parameter tensors' bytes, equal for
bit-identical models; best is true for the best checkpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" {
				return errors.New("checkpoints: --run-dir is required")
			}
			infos, err := checkpoints.List(checkpoints.Dir(runDir))
			if err != nil {
				return err
			}
			if best := filepath.Join(runDir, trainer.BestDir, trainer.BestCheckpoint); fileExists(best) {
				in := checkpoints.Describe(best, -1)
				in.Best = true
				infos = append(infos, in)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "STEP\tEPOCH\tVALID\tPARAMS_SHA256\tPATH")
			for _, in := range infos {
				sum := in.ParamsSHA256
				if len(sum) > 16 {
					sum = sum[:16]
				}
				if !in.Valid {
					sum = in.Error
				}
				path := in.Path
				if in.Best {
					path += "  (best: train.select on validation; never pruned)"
				}
				fmt.Fprintf(tw, "%d\t%d\t%v\t%s\t%s\n", in.Step, in.Epoch, in.Valid, sum, path)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory (checkpoints are in RUN_DIR/checkpoints)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

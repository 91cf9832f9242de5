package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/checkpoints"
)

// newCheckpointsCmd is `trainerd checkpoints --run-dir DIR [--json]`.
func newCheckpointsCmd() *cobra.Command {
	var runDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "checkpoints",
		Short: "List a run's checkpoints, verifying each (path, step, epoch, valid, params_sha256)",
		Long: `checkpoints reads every checkpoint in RUN_DIR/checkpoints, verifies its
checksum and prints one line per file. --json prints a JSON array of
{path, step, epoch, valid, error, params_sha256, ...}; params_sha256 is the
sha256 of the parameter tensors' bytes, equal for bit-identical models.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runDir == "" {
				return errors.New("checkpoints: --run-dir is required")
			}
			infos, err := checkpoints.List(checkpoints.Dir(runDir))
			if err != nil {
				return err
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
				fmt.Fprintf(tw, "%d\t%d\t%v\t%s\t%s\n", in.Step, in.Epoch, in.Valid, sum, in.Path)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory (checkpoints are in RUN_DIR/checkpoints)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

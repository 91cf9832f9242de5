package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/config"
)

// newConfigCmd is `trainerd config print --config FILE [--set k=v]...`.
func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect training configurations",
	}
	var file string
	var sets []string
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the effective config (defaults < --config < TRAINERD_* env < --set) as YAML",
		Long: `Print loads the configuration the way 'trainerd train' does and prints every
key with its effective value as YAML, preceded by a comment with the config
hash that checkpoints record. The output loads back to the identical config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(file, sets)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "# trainerd effective config; hash %s\n", config.Hash(cfg))
			return config.Print(w, cfg)
		},
	}
	print.Flags().StringVar(&file, "config", "", "YAML config file (empty: defaults only)")
	print.Flags().StringArrayVar(&sets, "set", nil, "override one key, dotted.key=value (value parsed as YAML); repeatable")
	cmd.AddCommand(print)
	return cmd
}

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
	var diff bool
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the effective config (defaults < --config < TRAINERD_* env < --set) as YAML",
		Long: `Print loads the configuration the way 'trainerd train' does and prints every
key with its effective value as YAML, preceded by a comment with the config
hash that checkpoints record (for a model.lr_schedule given in epochs or over
the whole run, checkpoints hash the steps it resolves to on the data set
instead). The output loads back to the identical config.

--diff prints only the keys whose values differ from the defaults (keys
derived from model.name, like producer.layers, compared with that model's
defaults): the few lines a config file needs. It too loads back to the
identical config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(file, sets)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "# trainerd effective config; hash %s\n", config.Hash(cfg))
			if diff {
				fmt.Fprintln(w, "# only the keys that differ from the defaults")
				return config.PrintDiff(w, cfg)
			}
			return config.Print(w, cfg)
		},
	}
	print.Flags().StringVar(&file, "config", "", "YAML config file (empty: defaults only)")
	print.Flags().StringArrayVar(&sets, "set", nil, "override one key, dotted.key=value (value parsed as YAML); repeatable")
	print.Flags().BoolVar(&diff, "diff", false, "print only the keys that differ from the defaults")
	cmd.AddCommand(print)
	return cmd
}

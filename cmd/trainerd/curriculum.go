package main

import (
	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/config"
)

// newCurriculumCmd is `trainerd curriculum show --config FILE [--epochs N]`.
func newCurriculumCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "curriculum",
		Short: "Inspect the curriculum schedules of a config",
	}
	var file string
	var sets []string
	var epochs, stepsPerEpoch int
	show := &cobra.Command{
		Use:   "show",
		Short: "Print hard negatives, rank window, pool size, learning rate and margin per epoch",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(file, sets)
			if err != nil {
				return err
			}
			s, err := cfg.Schedule()
			if err != nil {
				return err
			}
			if epochs <= 0 {
				epochs = cfg.Train.Epochs
			}
			return s.Table(cmd.OutOrStdout(), epochs, stepsPerEpoch)
		},
	}
	show.Flags().StringVar(&file, "config", "", "YAML config file (empty: defaults only)")
	show.Flags().StringArrayVar(&sets, "set", nil, "override one key, dotted.key=value; repeatable")
	show.Flags().IntVar(&epochs, "epochs", 0, "epochs to show (0: train.epochs)")
	show.Flags().IntVar(&stepsPerEpoch, "steps-per-epoch", 1, "steps per epoch, for curriculum.unit step")
	cmd.AddCommand(show)
	return cmd
}

package main

import "github.com/spf13/cobra"

// subcommands lists every subcommand; each is defined in its own file.
func subcommands() []*cobra.Command {
	return []*cobra.Command{
		newIngestCmd(),
		newGenCmd(),
		newStatsCmd(),
		newTrainCmd(),
		newEvalCmd(),
		newExportCmd(),
		newInferCmd(),
		newServeCmd(),
		newCheckpointsCmd(),
		newRunsCmd(),
		newConfigCmd(),
		newCurriculumCmd(),
	}
}

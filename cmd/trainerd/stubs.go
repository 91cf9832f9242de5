package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholders: each is replaced by the subcommand's own file.

func newIngestCmd() *cobra.Command { return stub("ingest") }
func newStatsCmd() *cobra.Command  { return stub("stats") }
func newGenCmd() *cobra.Command    { return stub("gen") }

func stub(name string) *cobra.Command {
	return &cobra.Command{Use: name, RunE: func(*cobra.Command, []string) error { return errors.New(name + ": not built yet") }}
}

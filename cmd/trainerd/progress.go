package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/obs"
)

// progressFlag names the flag that forces a command's progress line on or
// off.
const progressFlag = "progress"

// addProgressFlag registers --progress on cmd, stored in p (nil: read it
// back with commandProgress).
func addProgressFlag(cmd *cobra.Command, p *string) {
	if p == nil {
		p = new(string)
	}
	cmd.Flags().StringVar(p, progressFlag, "auto", "progress line with rate and ETA on stderr: auto (on a terminal, unless $"+
		obs.ProgressEnv+" says on or off), on or off")
}

// commandProgress returns cmd's progress line on its stderr, drawn as its
// --progress flag (when it has one) and $TRAINERD_PROGRESS decide.
func commandProgress(cmd *cobra.Command) (*obs.Progress, error) {
	mode := "auto"
	if f := cmd.Flags().Lookup(progressFlag); f != nil {
		mode = f.Value.String()
	}
	return newProgress(cmd.ErrOrStderr(), mode)
}

// newProgress returns a progress line on w for a --progress value; a bad
// value is an error naming the flag.
func newProgress(w io.Writer, mode string) (*obs.Progress, error) {
	m, err := obs.ParseProgressMode(mode)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", progressFlag, err)
	}
	on, err := obs.ProgressEnabled(w, m, os.Getenv)
	if err != nil {
		return nil, err
	}
	return obs.NewProgressWriter(w, on, obs.DefaultProgressInterval), nil
}

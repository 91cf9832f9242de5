package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/trainerd/trainerd/obs"
)

// runApart executes a fresh command with args and returns its stdout and
// stderr apart.
func runApart(t *testing.T, newCmd func() *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	c := newCmd()
	var out, errw bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errw)
	c.SetArgs(args)
	err = c.ExecuteContext(context.Background())
	return out.String(), errw.String(), err
}

// TestCommandsReportProgress: ingest, gen, eval and export draw the shared
// progress line (label, percentage, rate, ETA; erased at the end) when it
// is forced on, by --progress or by $TRAINERD_PROGRESS, and write nothing
// of it when stderr is not a terminal, so their output off a terminal is
// unchanged.
func TestCommandsReportProgress(t *testing.T) {
	t.Setenv(obs.ProgressEnv, "")
	store, run := evalFixture(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	train, test := write("train.txt", "0 1 2 3\n1 2 4\n2 0\n"), write("test.txt", "0 4\n1 0\n")
	cases := []struct {
		label  string
		newCmd func() *cobra.Command
		args   []string
		// line holds what the final line shows besides the label.
		line []string
	}{
		{"ingest", newIngestCmd, []string{"--store", filepath.Join(dir, "ingested"), "--format", "lightgcn", "--train", train, "--test", test},
			[]string{"100.0%", "26 B/26 B", "B/s", "5 rows", "ETA 0s"}},
		{"gen", newGenCmd, []string{"--store", filepath.Join(dir, "gen"), "--preset", "tiny"},
			[]string{"100.0%", "200/200 users", "users/s", "ETA 0s"}},
		{"eval", newEvalCmd, []string{"--store", store, "--run-dir", run, "--k", "1"},
			[]string{"100.0%", "2/2 users", "users/s", "ETA 0s"}},
		{"export", newExportCmd, []string{"--store", store, "--run-dir", run, "--out", filepath.Join(dir, "export")},
			[]string{"100.0%", "B/s", "ETA 0s"}},
	}
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			t.Setenv(obs.ProgressEnv, "")
			offOut, offErr, err := runApart(t, c.newCmd, c.args...)
			if err != nil {
				t.Fatalf("%s: %v\n%s", c.label, err, offErr)
			}
			if offErr != "" || strings.Contains(offOut, "\r") {
				t.Errorf("not a terminal: stderr %q, stdout %q; want no progress line", offErr, offOut)
			}
			for _, force := range []struct {
				name, env string
				flags     []string
			}{{"flag", "", []string{"--progress", "on"}}, {"env", "on", nil}, {"flag wins over env", "off", []string{"--progress", "on"}}} {
				t.Setenv(obs.ProgressEnv, force.env)
				out, errOut, err := runApart(t, c.newCmd, append(c.args, force.flags...)...)
				if err != nil {
					t.Fatalf("%s (%s): %v\n%s", c.label, force.name, err, errOut)
				}
				if strings.Contains(out, "\r") || strings.Count(out, "\n") != strings.Count(offOut, "\n") {
					t.Errorf("%s: stdout changed with the progress line on: %q vs %q", force.name, out, offOut)
				}
				if !strings.HasSuffix(errOut, "\r\x1b[K") {
					t.Errorf("%s: stderr does not end with a clean line: %q", force.name, errOut)
				}
				// The line drawn last before the erase is the task's final one.
				lines := strings.Split(strings.TrimSuffix(errOut, "\r\x1b[K"), "\r")
				var final string
				for _, l := range lines {
					if strings.HasPrefix(l, c.label+" ") {
						final = l
					}
				}
				for _, want := range c.line {
					if !strings.Contains(final, want) {
						t.Errorf("%s: final %s line %q lacks %q (stderr %q)", force.name, c.label, final, want, errOut)
					}
				}
			}
			t.Setenv(obs.ProgressEnv, "on")
			if _, errOut, err := runApart(t, c.newCmd, append(c.args, "--progress", "off")...); err != nil || errOut != "" {
				t.Errorf("--progress off under %s=on: err %v, stderr %q", obs.ProgressEnv, err, errOut)
			}
			t.Setenv(obs.ProgressEnv, "")
			if _, _, err := runApart(t, c.newCmd, append(c.args, "--progress", "loud")...); err == nil || !strings.Contains(err.Error(), "--progress") {
				t.Errorf("--progress loud: err %v, want one naming --progress", err)
			}
		})
	}
}

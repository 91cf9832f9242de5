package main

// End-to-end tests of the daemon as users run it: the real binary as a
// subprocess, killed with SIGKILL at random moments, stopped with SIGTERM,
// scraped over HTTP while it trains.

import (
	"bufio"
	"encoding/json"

	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds this package into a temp dir once per test.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the trainerd binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "trainerd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tinyStore generates the tiny preset into a temp store.
func tinyStore(t *testing.T, bin string) string {
	t.Helper()
	store := filepath.Join(t.TempDir(), "store")
	if out, err := exec.Command(bin, "gen", "--store", store, "--preset", "tiny").CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	return store
}

func trainCmd(bin, store, run string, extra ...string) *exec.Cmd {
	args := append([]string{"train", "--config", "../../configs/quickstart.yaml", "--store", store, "--run-dir", run,
		"--set", "checkpoint.every_steps=3", "--log-level", "info"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "OPENBLAS_CORETYPE=Haswell")
	return cmd
}

// ckptInfo is what `trainerd checkpoints --json` prints per checkpoint.
type ckptInfo struct {
	Path   string `json:"path"`
	Step   int    `json:"step"`
	Epoch  int    `json:"epoch"`
	Valid  bool   `json:"valid"`
	Params string `json:"params_sha256"`
}

func listCheckpoints(t *testing.T, bin, run string) []ckptInfo {
	t.Helper()
	out, err := exec.Command(bin, "checkpoints", "--run-dir", run, "--json").Output()
	if err != nil {
		t.Fatalf("checkpoints --json: %v", err)
	}
	var cs []ckptInfo
	if err := json.Unmarshal(out, &cs); err != nil {
		t.Fatalf("checkpoints --json: %v\n%s", err, out)
	}
	return cs
}

// final returns the newest valid checkpoint.
func final(t *testing.T, cs []ckptInfo) ckptInfo {
	t.Helper()
	best := ckptInfo{Step: -1}
	for _, c := range cs {
		if c.Valid && c.Step > best.Step {
			best = c
		}
	}
	if best.Step < 0 {
		t.Fatal("no valid checkpoint")
	}
	return best
}

// TestKillResumeExact kills training with SIGKILL at random moments, restarts
// it with the same command each time, and checks that the final parameters
// are bit-identical to an uninterrupted run.
func TestKillResumeExact(t *testing.T) {
	bin := buildBinary(t)
	store := tinyStore(t, bin)
	base := t.TempDir()

	// Eight epochs (a few seconds) so that kills land at many positions:
	// mid-epoch, during checkpoints, evaluations and start-up.
	epochs := []string{"--set", "train.epochs=8"}
	ref := filepath.Join(base, "ref")
	t0 := time.Now()
	if out, err := trainCmd(bin, store, ref, epochs...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	refDur := time.Since(t0)
	want := final(t, listCheckpoints(t, bin, ref))

	run := filepath.Join(base, "killed")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 0
	for kills < 6 {
		cmd := trainCmd(bin, store, run, epochs...)
		var logs strings.Builder
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(r.Int64N(int64(refDur)))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-time.After(delay):
			_ = cmd.Process.Kill()
			<-done
			kills++
			t.Logf("kill %d after %v", kills, delay)
		case err := <-done:
			if err != nil {
				t.Fatalf("run exited early: %v\n%s", err, logs.String())
			}
			// Finished before the kill: start over to keep killing mid-run.
			os.RemoveAll(run)
		}
	}
	if out, err := trainCmd(bin, store, run, epochs...).CombinedOutput(); err != nil {
		t.Fatalf("final resumed run: %v\n%s", err, out)
	}
	got := final(t, listCheckpoints(t, bin, run))
	if got.Step != want.Step || got.Params != want.Params {
		t.Fatalf("after %d kills: step %d params %s, want step %d params %s", kills, got.Step, got.Params, want.Step, want.Params)
	}
}

// TestSIGTERMGraceful stops training with SIGTERM: the process exits 0
// promptly after writing a checkpoint; the same command resumes and ends
// where an uninterrupted run ends. It also scrapes /metrics and /status
// while training runs.
func TestSIGTERMGraceful(t *testing.T) {
	bin := buildBinary(t)
	store := tinyStore(t, bin)
	run := filepath.Join(t.TempDir(), "run")
	cmd := trainCmd(bin, store, run, "--set", "train.epochs=1000")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrRE := regexp.MustCompile(`msg="http listening" addr=(\S+)`)
	lines := bufio.NewScanner(stderr)
	addr := ""
	for addr == "" && lines.Scan() {
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatal("no http address logged")
	}
	go io.Copy(io.Discard, stderr)

	// Scrape until training has taken a step.
	deadline := time.Now().Add(30 * time.Second)
	var metrics string
	for time.Now().Before(deadline) {
		metrics = get(t, "http://"+addr+"/metrics")
		if m := regexp.MustCompile(`(?m)^trainerd_step (\d+)`).FindStringSubmatch(metrics); m != nil && m[1] != "0" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, name := range []string{"trainerd_loss", "trainerd_examples_per_second", "trainerd_producer_queue_depth",
		"trainerd_consumer_wait_fraction", "trainerd_checkpoint_age_seconds", "trainerd_step"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	var st struct {
		State string `json:"state"`
		Model string `json:"model"`
		Step  int    `json:"step"`
	}
	if err := json.Unmarshal([]byte(get(t, "http://"+addr+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Model != "pinsage" || st.State == "" {
		t.Errorf("/status = %+v", st)
	}
	if h := get(t, "http://"+addr+"/healthz"); h == "" {
		t.Error("/healthz empty")
	}

	t0 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("SIGTERM: exit %v, want 0", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("SIGTERM took %v to stop", d)
	}
	cs := listCheckpoints(t, bin, run)
	last := final(t, cs)
	if last.Epoch > 1000 {
		t.Fatalf("checkpoint epoch %d: run was not interrupted", last.Epoch)
	}
	t.Logf("stopped at step %d epoch %d in %v", last.Step, last.Epoch, time.Since(t0))
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

package main

// End-to-end tests of the daemon as users run it: the real binary as a
// subprocess, killed with SIGKILL at random moments, stopped with SIGTERM,
// scraped over HTTP while it trains.

import (
	"bufio"
	"bytes"
	"encoding/json"

	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainerd/trainerd/checkpoints"
	"github.com/trainerd/trainerd/trainer"
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

// soakPlan sizes a soak: the run's config and how many interruptions of
// each kind it must take before it may finish.
type soakPlan struct {
	epochs, evalEvery, everySteps int
	kills, terms                  int
}

// TestSoakKillResume interrupts one training run again and again, each
// time restarting it with the same command, and requires it to end with the
// parameters (params_sha256 of the newest checkpoint) and curve.json (less
// train_seconds, wall time) of an uninterrupted run, every epoch line that
// any process printed to carry the uninterrupted run's loss, and no
// checkpoint to have been found corrupt. Interruptions are SIGKILLs at
// random moments, SIGKILLs on the k-th "writing checkpoint" log line, and
// SIGKILLs and SIGTERMs on the "evaluating" line (so they land in
// evaluations and checkpoint writes), plus SIGTERMs, which must exit 0.
// The short version runs in the normal test run; TRAINERD_LONG=1 runs the
// issue's soak (quickstart, 100 epochs, evaluation every 25, a checkpoint
// every 7 steps, ≥ 50 SIGKILLs and ≥ 10 SIGTERMs).
func TestSoakKillResume(t *testing.T) {
	plan := soakPlan{epochs: 12, evalEvery: 4, everySteps: 7, kills: 8, terms: 2}
	if os.Getenv("TRAINERD_LONG") == "1" {
		plan = soakPlan{epochs: 100, evalEvery: 25, everySteps: 7, kills: 50, terms: 10}
	}
	bin := buildBinary(t)
	store := tinyStore(t, bin)
	base := t.TempDir()
	sets := []string{"--set", "train.epochs=" + strconv.Itoa(plan.epochs), "--set", "train.eval_every=" + strconv.Itoa(plan.evalEvery),
		"--set", "checkpoint.every_steps=" + strconv.Itoa(plan.everySteps), "--log-level", "debug"}
	soakCmd := func(run string) *exec.Cmd {
		args := append([]string{"train", "--config", "../../configs/quickstart.yaml", "--store", store, "--run-dir", run}, sets...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "OPENBLAS_CORETYPE=Haswell")
		return cmd
	}

	ref := filepath.Join(base, "ref")
	t0 := time.Now()
	refOut, err := soakCmd(ref).Output()
	if err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, refOut)
	}
	refDur := time.Since(t0)
	// Start-up time: the same command on the finished run only starts,
	// writes the embeddings and exits.
	t0 = time.Now()
	if out, err := soakCmd(ref).CombinedOutput(); err != nil {
		t.Fatalf("rerun of the finished run: %v\n%s", err, out)
	}
	startup := time.Since(t0)
	epochDur := max(refDur-startup, time.Millisecond) / time.Duration(plan.epochs)
	want := final(t, listCheckpoints(t, bin, ref))
	wantCurve := soakCurve(t, ref)
	wantLoss := epochLosses(string(refOut))
	if len(wantLoss) != plan.epochs || len(wantCurve) != plan.epochs/plan.evalEvery {
		t.Fatalf("reference: %d epoch lines, %d curve records", len(wantLoss), len(wantCurve))
	}

	run := filepath.Join(base, "soak")
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 14))
	t.Logf("seed %d; uninterrupted run %v, start-up %v", seed, refDur, startup)
	ckptRE := regexp.MustCompile(`msg="writing checkpoint" epoch=(\d+)`)
	evalRE := regexp.MustCompile(`msg=evaluating epoch=(\d+)`)
	var kills, terms, atEval, termsAtEval, atCkpt, temps, procs, evalRepeats, lastEvalEpoch int
	curEpoch := 1
	tempSeen := map[string]bool{}
	start := time.Now()
	for done := false; !done; procs++ {
		kill := kills < plan.kills || terms < plan.terms
		nextEval := (curEpoch + plan.evalEvery - 1) / plan.evalEvery * plan.evalEvery
		// What interrupts this process: "" lets it finish.
		sig, trigger, nth := syscall.Signal(0), "", 0
		var delay time.Duration
		switch roll := r.IntN(100); {
		case !kill:
		case nextEval-curEpoch <= 2 && (lastEvalEpoch != nextEval || evalRepeats < 4):
			sig, trigger = syscall.SIGKILL, "evaluating"
			delay = time.Duration(r.Int64N(int64(3 * time.Millisecond)))
			if terms < plan.terms && r.IntN(2) == 0 {
				// At once: on a tiny store the cancellable part of an
				// evaluation (embedding, ranking) is its first millisecond.
				sig, delay = syscall.SIGTERM, 0
			}
		case terms < plan.terms && (roll < 20 || kills >= plan.kills):
			sig, trigger, nth = syscall.SIGTERM, "writing checkpoint", 1+r.IntN(3)
		case roll < 55:
			sig, delay = syscall.SIGKILL, time.Duration(r.Int64N(int64(startup+3*epochDur)))
		default:
			sig, trigger, nth = syscall.SIGKILL, "writing checkpoint", 1+r.IntN(2)
			delay = time.Duration(r.Int64N(int64(2 * time.Millisecond)))
		}
		cmd := soakCmd(run)
		var stdout strings.Builder
		cmd.Stdout = &stdout
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var timer <-chan time.Time
		if sig != 0 && trigger == "" {
			timer = time.After(delay)
		}
		// last is the last of the lines kills are classified by; evalLine
		// the epoch of the last "evaluating" line.
		var last, evalLine string
		var logs []string
		var lastAtSend, evalAtSend string
		sent, seen := false, 0
		send := func() {
			if !sent {
				_ = cmd.Process.Signal(sig)
				sent, lastAtSend, evalAtSend = true, last, evalLine
			}
		}
		for open := true; open; {
			select {
			case <-timer:
				send()
				timer = nil
			case l, ok := <-lines:
				if !ok {
					open = false
					break
				}
				logs = append(logs, l)
				if m := ckptRE.FindStringSubmatch(l); m != nil {
					curEpoch, _ = strconv.Atoi(m[1])
				}
				switch {
				case strings.Contains(l, `msg="writing checkpoint"`):
					last = "checkpoint"
				case strings.Contains(l, `msg=evaluating`):
					last, evalLine = "eval", evalRE.FindStringSubmatch(l)[1]
				case strings.Contains(l, `msg=checkpoint `), strings.Contains(l, `msg="interrupted`):
					last = ""
				}
				if !sent && trigger != "" && strings.Contains(l, trigger) {
					if seen++; seen >= nth {
						time.Sleep(delay)
						send()
					}
				}
			}
		}
		err = cmd.Wait()
		for _, l := range strings.Split(stdout.String(), "\n") {
			for e, loss := range epochLosses(l) {
				if loss != wantLoss[e] {
					t.Errorf("process %d printed epoch %d loss %s, uninterrupted %s", procs, e, loss, wantLoss[e])
				}
			}
		}
		switch {
		case !sent:
			if err != nil {
				t.Fatalf("process %d failed: %v\n%s", procs, err, strings.Join(logs, "\n"))
			}
			if kill {
				t.Fatalf("the run finished (process %d, waiting for %v on %q #%d) after %d SIGKILLs and %d SIGTERMs, want %d and %d",
					procs, sig, trigger, nth, kills, terms, plan.kills, plan.terms)
			}
			done = true
		case sig == syscall.SIGTERM:
			if err != nil {
				t.Fatalf("SIGTERM: process %d exited %v, want 0\n%s", procs, err, strings.Join(logs, "\n"))
			}
			terms++
			if lastAtSend == "eval" {
				if _, printed := epochLosses(stdout.String())[atoi(evalAtSend)]; !printed {
					termsAtEval++
				}
			}
		default:
			kills++
			g, _ := filepath.Glob(filepath.Join(checkpoints.Dir(run), ".ckpt-*.tmp"))
			for _, p := range g {
				if !tempSeen[p] {
					tempSeen[p] = true
					temps++
				}
			}
			// Nothing is written after a SIGKILL lands, so the last
			// classifying line read says where the process died.
			switch last {
			case "eval":
				// The epoch line follows the evaluation: without it the
				// process died inside the evaluation.
				if _, printed := epochLosses(stdout.String())[atoi(evalLine)]; !printed {
					atEval++
				}
			case "checkpoint":
				atCkpt++
			}
		}
		t.Logf("process %d: epoch %d, %v on %q #%d after %v: sent %v, died after %q (eval epoch %s)",
			procs, curEpoch, sig, trigger, nth, delay, sent, last, evalLine)
		if trigger == "evaluating" && sent {
			if lastEvalEpoch == nextEval {
				evalRepeats++
			} else {
				lastEvalEpoch, evalRepeats = nextEval, 1
			}
		}
	}
	wall := time.Since(start)
	got := final(t, listCheckpoints(t, bin, run))
	gotCurve := soakCurve(t, run)
	identical := got.Step == want.Step && got.Params == want.Params && reflect.DeepEqual(gotCurve, wantCurve)
	t.Logf("soak: %d processes, %d SIGKILLs (%d inside an evaluation: its epoch line never printed; %d inside a checkpoint write by the log, %d of them leaving a temp file), "+
		"%d SIGTERMs (%d inside an evaluation), wall %v (uninterrupted %v), identical %v",
		procs, kills, atEval, atCkpt, temps, terms, termsAtEval, wall.Round(time.Millisecond), refDur.Round(time.Millisecond), identical)
	if got.Step != want.Step || got.Params != want.Params {
		t.Errorf("final step %d params %s, uninterrupted step %d params %s", got.Step, got.Params, want.Step, want.Params)
	}
	if !reflect.DeepEqual(gotCurve, wantCurve) {
		t.Errorf("curve.json:\n%+v\nuninterrupted:\n%+v", gotCurve, wantCurve)
	}
	checkSelectionSame(t, run, ref)
	if kills < plan.kills || terms < plan.terms {
		t.Errorf("%d SIGKILLs and %d SIGTERMs, want ≥ %d and ≥ %d", kills, terms, plan.kills, plan.terms)
	}
	if _, err := os.Stat(filepath.Join(checkpoints.Dir(run), checkpoints.CorruptDir)); err == nil {
		t.Errorf("a kill left a corrupt checkpoint (moved to %s)", checkpoints.CorruptDir)
	}
}

// checkSelectionSame requires run's selection (best.json, the best
// embeddings, the best checkpoint's parameters) and result.json (less wall
// time) to equal ref's.
func checkSelectionSame(t *testing.T, run, ref string) {
	t.Helper()
	gb, err := trainer.ReadBest(run)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := trainer.ReadBest(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gb, wb) {
		t.Errorf("best.json %+v, uninterrupted %+v", gb, wb)
	}
	for _, f := range []string{"users.npy", "items.npy"} {
		g, err1 := os.ReadFile(filepath.Join(run, trainer.BestDir, "embeddings", f))
		w, err2 := os.ReadFile(filepath.Join(ref, trainer.BestDir, "embeddings", f))
		if err1 != nil || err2 != nil || !bytes.Equal(g, w) {
			t.Errorf("best embeddings %s differ from the uninterrupted run's (%v, %v)", f, err1, err2)
		}
	}
	gc, err1 := checkpoints.Read(filepath.Join(run, trainer.BestDir, trainer.BestCheckpoint))
	wc, err2 := checkpoints.Read(filepath.Join(ref, trainer.BestDir, trainer.BestCheckpoint))
	if err1 != nil || err2 != nil || checkpoints.ParamsSHA256(gc.Tensors) != checkpoints.ParamsSHA256(wc.Tensors) || gc.Step != wc.Step {
		t.Errorf("best checkpoint differs from the uninterrupted run's (%v, %v)", err1, err2)
	}
	gr, err := trainer.ReadResult(run)
	if err != nil {
		t.Fatal(err)
	}
	wr, err := trainer.ReadResult(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*trainer.RunResult{gr, wr} {
		r.TrainSeconds, r.Finished = 0, time.Time{}
	}
	if !reflect.DeepEqual(gr, wr) {
		t.Errorf("result.json %+v, uninterrupted %+v", gr, wr)
	}
}

// soakCurve reads a run's curve.json with train_seconds (wall time) zeroed.
func soakCurve(t *testing.T, run string) []trainer.EvalRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(run, trainer.CurveFile))
	if err != nil {
		t.Fatalf("curve: %v", err)
	}
	var c []trainer.EvalRecord
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", filepath.Join(run, trainer.CurveFile), err)
	}
	for i := range c {
		c[i].TrainSeconds = 0
	}
	return c
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

var epochLineRE = regexp.MustCompile(`(?m)^epoch +(\d+) +loss (\S+)`)

// epochLosses maps each epoch line's epoch to its printed loss.
func epochLosses(out string) map[int]string {
	m := map[int]string{}
	for _, s := range epochLineRE.FindAllStringSubmatch(out, -1) {
		e, _ := strconv.Atoi(s[1])
		m[e] = s[2]
	}
	return m
}

// TestTwoTrainersOneRunDir (C5): a second train on a run directory in use
// exits at once with an error naming the directory and the first process's
// pid, and the first one trains on undisturbed.
func TestTwoTrainersOneRunDir(t *testing.T) {
	bin := buildBinary(t)
	store := tinyStore(t, bin)
	run := filepath.Join(t.TempDir(), "run")
	first := trainCmd(bin, store, run, "--set", "train.epochs=1000")
	stderr, err := first.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "http listening") {
	}
	go io.Copy(io.Discard, stderr)

	t0 := time.Now()
	out, err := trainCmd(bin, store, run, "--set", "train.epochs=1000").CombinedOutput()
	if err == nil {
		t.Fatalf("second trainer on the same run dir succeeded:\n%s", out)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("second trainer took %v to give up", d)
	}
	for _, want := range []string{run, "pid " + strconv.Itoa(first.Process.Pid)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("second trainer's error does not name %q:\n%s", want, out)
		}
	}
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first trainer: %v (want exit 0 after SIGTERM)", err)
	}
	if cs := listCheckpoints(t, bin, run); !final(t, cs).Valid {
		t.Fatal("no valid checkpoint from the first trainer")
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

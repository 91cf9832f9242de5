package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trainerd/trainerd/obs"
)

// chromium is the headless browser on PATH ("" when there is none).
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// trainer is a running `trainerd train`.
type trainer struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	done chan error
}

// startTrainer builds trainerd, generates the tiny data set and trains
// configs/quickstart.yaml on it for many epochs (the test stops it), on a
// free loopback port read from the "http listening" log line.
func startTrainer(t *testing.T) *trainer {
	t.Helper()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "trainerd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/trainerd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	store := filepath.Join(tmp, "store")
	if out, err := exec.Command(bin, "gen", "--store", store, "--preset", "tiny").CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "train", "--config", "../../configs/quickstart.yaml", "--store", store,
		"--run-dir", filepath.Join(tmp, "run"), "--set", "train.epochs=1000", "--set", "train.eval_every=1",
		"--http-addr", "127.0.0.1:0", "--log-level", "info")
	cmd.Env = append(os.Environ(), "OPENBLAS_CORETYPE=Haswell")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	tr := &trainer{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout = tr.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg="http listening" addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(tr.logs, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		tr.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-tr.done
		}
	})
	select {
	case tr.addr = <-addrc:
	case err := <-tr.done:
		t.Fatalf("trainer exited before listening: %v\n%s", err, tr.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no http address logged in 60s:\n%s", tr.logs.String())
	}
	return tr
}

// stop ends training with SIGTERM and waits for a clean exit.
func (tr *trainer) stop(t *testing.T) {
	t.Helper()
	if err := tr.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-tr.done:
		if err != nil {
			t.Errorf("trainer after SIGTERM: %v\n%s", err, tr.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("trainer did not stop within 30s of SIGTERM")
	}
}

// status is the part of /status the test waits on.
type status struct {
	State     string `json:"state"`
	Model     string `json:"model"`
	Device    string `json:"device"`
	Epoch     int    `json:"epoch"`
	EvalEpoch int    `json:"eval_epoch"`
}

// waitEvals polls /status until n evaluations are done, so that both
// curves have lines.
func (tr *trainer) waitEvals(t *testing.T, n int) status {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	var st status
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + tr.addr + "/status")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if err == nil && st.EvalEpoch >= n {
			return st
		}
		select {
		case err := <-tr.done:
			t.Fatalf("trainer exited: %v\n%s", err, tr.logs.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("no evaluation of epoch %d within 120s (last status %+v)\n%s", n, st, tr.logs.String())
	return st
}

// browse runs headless Chromium on url with args and returns its stdout
// and the console messages it logged.
func browse(t *testing.T, bin, url string, args ...string) (stdout string, console []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--window-size=1200,900"}, args...)
	all = append(all, url)
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // keep the user's profile and caches out of it
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(all, " "), err, errb.String())
	}
	return out.String(), consoleLines(errb.String())
}

// consoleLines picks the page's console messages out of Chromium's log:
// with --enable-logging=stderr each one is a line like
// [pid:tid:time:INFO:CONSOLE:12] "Uncaught ReferenceError: …", source: URL (12)
func consoleLines(log string) []string {
	var msgs []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, ":CONSOLE") || strings.Contains(l, "Uncaught") {
			msgs = append(msgs, l)
		}
	}
	return msgs
}

// TestConsoleDetector proves that consoleLines sees a page's script error
// and console.error, so that an empty result below means a clean page.
func TestConsoleDetector(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("chromium not on PATH (scripts/install-deps.sh installs it); skipping the browser test")
	}
	page := filepath.Join(t.TempDir(), "bad.html")
	if err := os.WriteFile(page, []byte(`<!DOCTYPE html><p>x</p><script>console.error("logged-error"); notDefined();</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, console := browse(t, bin, "file://"+page, "--dump-dom")
	joined := strings.Join(console, "\n")
	for _, want := range []string{"logged-error", "Uncaught ReferenceError: notDefined is not defined"} {
		if !strings.Contains(joined, want) {
			t.Errorf("console detector missed %q; got:\n%s", want, joined)
		}
	}
}

// TestStatusPageInBrowser loads the live status page of a training run in
// headless Chromium: the DOM shows the run (after the page's script has
// reloaded it at least once), the screenshot shows the charts, and the
// console is empty.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromium()
	switch {
	case bin == "":
		t.Skip("chromium not on PATH (scripts/install-deps.sh installs it); skipping the browser test")
	case testing.Short():
		t.Skip("builds and runs trainerd and Chromium; skipped with -short")
	case raceEnabled:
		t.Skip("drives other processes only; nothing for the race detector")
	}
	tr := startTrainer(t)
	st := tr.waitEvals(t, 2)
	url := "http://" + tr.addr + "/"
	t.Logf("trainer at %s: %+v", url, st)

	// The DOM after 8 s of virtual time: the page's script refreshes it
	// every 3 s, so it has replaced #live at least twice.
	dom, console := browse(t, bin, url, "--dump-dom", "--virtual-time-budget=8000")
	for _, want := range []string{
		`<span class="sub" id="model">pinsage</span>`,
		`id="card-epoch"`, `id="card-eta"`, `id="card-examples"`, `id="card-consumer-wait"`,
		`id="card-checkpoint"`, `id="card-device"`,
		`<td class="k">model</td><td class="v">pinsage</td>`,
		`<td class="k">epochs</td><td class="v">1000</td>`,
		`data-series="loss"`, `data-series="recall@20"`, `data-series="ndcg@20"`,
		"Training loss", "Validation",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %q", want)
		}
	}
	for _, bad := range []string{"no training step yet", "no evaluation yet"} {
		if strings.Contains(dom, bad) {
			t.Errorf("DOM shows %q", bad)
		}
	}
	// The script's "not answering" banner stays hidden while the trainer answers.
	if !regexp.MustCompile(`<div class="banner" id="lost" hidden(="")?>\s*</div>`).MatchString(dom) {
		t.Errorf("the connection-lost banner is not hidden and empty:\n%s", regexp.MustCompile(`.*id="lost".*`).FindString(dom))
	}
	if m := regexp.MustCompile(`data-refreshes="(\d+)"`).FindStringSubmatch(dom); m == nil {
		t.Error("DOM lacks data-refreshes")
	} else if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Errorf("page refreshed itself %d times in 8 s, want at least 2", n)
	}
	if m := regexp.MustCompile(`id="card-device">\s*<div class="label">Device</div>\s*<div class="value">([^<]*)<`).FindStringSubmatch(dom); m == nil || m[1] != st.Device {
		t.Errorf("device card %v, want %q", m, st.Device)
	}
	if len(console) > 0 {
		t.Errorf("console messages while loading the page:\n%s", strings.Join(console, "\n"))
	}

	shot := filepath.Join(t.TempDir(), "status-page.png")
	_, console = browse(t, bin, url, "--screenshot="+shot, "--hide-scrollbars")
	if len(console) > 0 {
		t.Errorf("console messages while taking the screenshot:\n%s", strings.Join(console, "\n"))
	}
	tr.stop(t)
	checkScreenshot(t, shot)
	if dst := os.Getenv("TRAINERD_SCREENSHOT"); dst != "" {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatalf("TRAINERD_SCREENSHOT: %v", err)
		}
		t.Logf("screenshot copied to %s", dst)
	}
}

// TestPageLostBanner serves the page once and then fails: the page's script
// keeps the last content and shows that the trainer is not answering.
func TestPageLostBanner(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("chromium not on PATH (scripts/install-deps.sh installs it); skipping the browser test")
	}
	var st obs.StatusBox
	st.Update(func(s *obs.Status) { s.State, s.Model, s.Epoch, s.Epochs, s.Step = "training", "lightgcn", 1, 4, 7 })
	h := obs.Handler(obs.NewMetrics(), &st)
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && served.Add(1) > 1 {
			http.Error(w, "gone", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dom, console := browse(t, bin, srv.URL+"/", "--dump-dom", "--virtual-time-budget=5000")
	if n := served.Load(); n < 2 {
		t.Fatalf("the page asked for itself %d times, want a reload", n)
	}
	for _, want := range []string{`id="model">lightgcn<`, "The trainer is not answering (HTTP 503); showing the last status."} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %q", want)
		}
	}
	if regexp.MustCompile(`id="lost" hidden`).MatchString(dom) {
		t.Error("the connection-lost banner is hidden")
	}
	// The failed reloads may log their 503; the script itself logs nothing.
	for _, l := range console {
		if !strings.Contains(l, "503") {
			t.Errorf("unexpected console message: %s", l)
		}
	}
}

// checkScreenshot checks the PNG's size and that it shows the page: the
// header's dark band at the top and the loss curve's red (the only red on a
// running page).
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Errorf("screenshot is %dx%d, want 1200x900", b.Dx(), b.Dy())
	}
	near := func(x, y int, r0, g0, b0 uint32, tol uint32) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		d := func(a, b uint32) uint32 {
			a >>= 8
			if a > b {
				return a - b
			}
			return b - a
		}
		return d(r, r0) <= tol && d(g, g0) <= tol && d(b, b0) <= tol
	}
	if !near(4, 4, 0x1d, 0x23, 0x2a, 8) {
		r, g, b, _ := img.At(4, 4).RGBA()
		t.Errorf("top-left pixel is #%02x%02x%02x, want the header's #1d232a", r>>8, g>>8, b>>8)
	}
	red := countColor(img, func(x, y int) bool { return near(x, y, 0xc6, 0x28, 0x28, 24) })
	if red < 100 {
		t.Errorf("screenshot has %d loss-curve red pixels, want the curve (≥100)", red)
	}
	t.Logf("screenshot %s: %d loss-curve pixels", path, red)
}

func countColor(img image.Image, match func(x, y int) bool) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if match(x, y) {
				n++
			}
		}
	}
	return n
}

package main

// Dockerfile.cuda's runtime contract, checked without a container engine:
// its ENTRYPOINT+CMD and its HEALTHCHECK run against the binary built from
// this package, with the image's ENV, on a tiny store and run laid out where
// the image's CMD expects them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dockerImage is what the final stage of a Dockerfile declares for running
// a container.
type dockerImage struct {
	env        []string // KEY=VALUE, in order
	workdir    string
	expose     []string
	entrypoint []string // exec form
	cmd        []string // exec form
	// health is the HEALTHCHECK command as an argv (shell form becomes
	// /bin/sh -c), healthTimeout its --timeout.
	health        []string
	healthTimeout time.Duration
}

// parseDockerfile reads the instructions of the last stage of the
// Dockerfile at path. It understands what a runtime stage uses: line
// continuations, comments, ENV, WORKDIR, EXPOSE, exec-form ENTRYPOINT and
// CMD, and HEALTHCHECK [options] CMD. Errors name the file and line.
func parseDockerfile(path string) (*dockerImage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type instr struct {
		line      int
		name, arg string
	}
	var instrs []instr
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue // comments may sit inside a continuation too
		}
		if cur.Len() == 0 {
			start = n
		}
		cont := strings.HasSuffix(text, `\`)
		cur.WriteString(strings.TrimSuffix(text, `\`))
		cur.WriteByte(' ')
		if cont {
			continue
		}
		name, arg, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		instrs = append(instrs, instr{start, strings.ToUpper(name), strings.TrimSpace(arg)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("%s:%d: continuation runs past the end of the file", path, start)
	}
	img := &dockerImage{}
	for _, in := range instrs {
		at := fmt.Sprintf("%s:%d", path, in.line)
		switch in.name {
		case "FROM":
			*img = dockerImage{} // a new stage: only the last one runs
		case "ENV":
			kvs := strings.Fields(in.arg)
			if len(kvs) == 2 && !strings.Contains(kvs[0], "=") {
				kvs = []string{kvs[0] + "=" + kvs[1]} // legacy "ENV KEY VALUE"
			}
			for _, kv := range kvs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("%s: ENV %q is not KEY=VALUE", at, kv)
				}
				img.env = append(img.env, k+"="+strings.Trim(v, `"`))
			}
		case "WORKDIR":
			img.workdir = in.arg
		case "EXPOSE":
			img.expose = append(img.expose, strings.Fields(in.arg)...)
		case "ENTRYPOINT", "CMD":
			var argv []string
			if err := json.Unmarshal([]byte(in.arg), &argv); err != nil || len(argv) == 0 {
				return nil, fmt.Errorf("%s: %s %s is not in exec form (a JSON array of strings): shell form ignores CMD and SIGTERM", at, in.name, in.arg)
			}
			if in.name == "ENTRYPOINT" {
				img.entrypoint = argv
			} else {
				img.cmd = argv
			}
		case "HEALTHCHECK":
			fields := strings.Fields(in.arg)
			img.healthTimeout = 30 * time.Second // Docker's default
			i := 0
			for ; i < len(fields) && strings.HasPrefix(fields[i], "--"); i++ {
				if v, ok := strings.CutPrefix(fields[i], "--timeout="); ok {
					if img.healthTimeout, err = time.ParseDuration(v); err != nil {
						return nil, fmt.Errorf("%s: HEALTHCHECK %s: %w", at, fields[i], err)
					}
				}
			}
			if i >= len(fields) || fields[i] != "CMD" {
				return nil, fmt.Errorf("%s: HEALTHCHECK %q has no CMD", at, in.arg)
			}
			rest := strings.TrimSpace(strings.SplitN(in.arg, " CMD ", 2)[1])
			if strings.HasPrefix(rest, "[") {
				if err := json.Unmarshal([]byte(rest), &img.health); err != nil {
					return nil, fmt.Errorf("%s: HEALTHCHECK CMD %s: %w", at, rest, err)
				}
			} else {
				img.health = []string{"/bin/sh", "-c", rest}
			}
		}
	}
	return img, nil
}

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestDockerfileCUDA (issue 20 item 5): the image's default command is a
// valid trainerd command that serves a run, and its HEALTHCHECK passes
// against it and against train started with the image's environment.
//
// Paths are mapped from the image to this machine: the ENTRYPOINT binary to
// the one built here, WORKDIR to a temp dir holding stores/default and
// runs/default, and the exposed port to a free one (the machine is shared).
func TestDockerfileCUDA(t *testing.T) {
	img, err := parseDockerfile("../../Dockerfile.cuda")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.entrypoint) == 0 || len(img.cmd) == 0 || len(img.health) == 0 || img.workdir == "" || len(img.expose) != 1 {
		t.Fatalf("Dockerfile.cuda: want ENTRYPOINT, CMD, HEALTHCHECK, WORKDIR and one EXPOSE: %+v", img)
	}
	if _, err := exec.LookPath(img.health[0]); err != nil && img.health[0] != "/bin/sh" {
		t.Skipf("HEALTHCHECK runs %s, not installed here", img.health[0])
	}
	if strings.Contains(strings.Join(img.health, " "), "curl") {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("HEALTHCHECK runs curl, which this machine lacks")
		}
	}
	port := strings.TrimSuffix(img.expose[0], "/tcp")
	// One documented address: the image sets it, and it is the port the
	// image exposes and the HEALTHCHECK probes.
	var addrEnv string
	for _, kv := range img.env {
		if v, ok := strings.CutPrefix(kv, "TRAINERD_HTTP_ADDR="); ok {
			addrEnv = v
		}
	}
	if host, p, err := net.SplitHostPort(addrEnv); err != nil || p != port || (host != "" && host != "0.0.0.0") {
		t.Fatalf("image ENV TRAINERD_HTTP_ADDR=%q: want all interfaces on the exposed port %s", addrEnv, port)
	}
	if !strings.Contains(strings.Join(img.health, " "), ":"+port+"/healthz") {
		t.Fatalf("HEALTHCHECK %q does not probe /healthz on port %s", img.health, port)
	}

	bin := buildBinary(t)
	root := t.TempDir()
	newPort := freePort(t)
	mapArg := func(s string) string {
		s = strings.ReplaceAll(s, img.entrypoint[0], bin)
		s = strings.ReplaceAll(s, img.workdir, root)
		return strings.ReplaceAll(s, ":"+port, ":"+newPort)
	}
	mapAll := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = mapArg(s)
		}
		return out
	}
	env := append(os.Environ(), "OPENBLAS_CORETYPE=Haswell")
	env = append(env, mapAll(img.env)...)
	health := mapAll(img.health)
	healthy := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), img.healthTimeout)
		defer cancel()
		c := exec.CommandContext(ctx, health[0], health[1:]...)
		c.Dir, c.Env = root, env
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("HEALTHCHECK %q: %v\n%s", health, err, out)
		}
		return nil
	}
	if err := healthy(); err == nil {
		t.Fatal("HEALTHCHECK passes with no server running: it checks nothing")
	}

	// The tiny store and a trained run where the image keeps them.
	store, run := filepath.Join(root, "stores", "default"), filepath.Join(root, "runs", "default")
	if out, err := exec.Command(bin, "gen", "--store", store, "--preset", "tiny").CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	if out, err := trainCmd(bin, store, run, "--set", "train.epochs=1").CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}

	// start runs argv with the image's environment in the mapped WORKDIR
	// and waits for the HEALTHCHECK to pass; stop sends SIGTERM (docker
	// stop) and expects a clean exit.
	type proc struct {
		argv   []string
		out    *lockedBuffer
		exited chan error
		c      *exec.Cmd
	}
	start := func(t *testing.T, argv []string) *proc {
		t.Helper()
		p := &proc{argv: argv, out: &lockedBuffer{}, exited: make(chan error, 1), c: exec.Command(argv[0], argv[1:]...)}
		p.c.Dir, p.c.Env = root, env
		p.c.Stdout, p.c.Stderr = p.out, p.out
		if err := p.c.Start(); err != nil {
			t.Fatal(err)
		}
		waited := make(chan struct{})
		go func() { p.exited <- p.c.Wait(); close(waited) }()
		t.Cleanup(func() {
			p.c.Process.Kill()
			<-waited
		})
		deadline := time.Now().Add(60 * time.Second)
		for {
			err := healthy()
			if err == nil {
				return p
			}
			select {
			case werr := <-p.exited:
				t.Fatalf("%q exited (%v) before its HEALTHCHECK passed:\n%s", argv, werr, p.out)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q: HEALTHCHECK still failing after 60 s: %v\noutput:\n%s", argv, err, p.out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stop := func(t *testing.T, p *proc) {
		t.Helper()
		if err := p.c.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-p.exited:
			if err != nil {
				t.Fatalf("%q after SIGTERM: %v\n%s", p.argv, err, p.out)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%q: no exit 20 s after SIGTERM:\n%s", p.argv, p.out)
		}
	}

	t.Run("ENTRYPOINT+CMD", func(t *testing.T) {
		p := start(t, mapAll(append(append([]string{}, img.entrypoint...), img.cmd...)))
		// It serves the run, not just /healthz.
		resp, err := http.Get("http://127.0.0.1:" + newPort + "/recommend?user=" + firstUser(t, run) + "&k=3")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var rec struct{ Items []json.RawMessage }
		if resp.StatusCode != 200 || json.Unmarshal(body, &rec) != nil || len(rec.Items) != 3 {
			t.Fatalf("/recommend: %d %s", resp.StatusCode, body)
		}
		stop(t, p)
		if !strings.Contains(p.out.String(), "every network interface") {
			t.Errorf("serving on all interfaces logged no warning:\n%s", p.out)
		}
	})
	t.Run("train", func(t *testing.T) {
		cfg, err := filepath.Abs("../../configs/quickstart.yaml") // the command runs in the mapped WORKDIR
		if err != nil {
			t.Fatal(err)
		}
		p := start(t, mapAll(append(append([]string{}, img.entrypoint...), "train", "--config", cfg,
			"--store", store, "--run-dir", filepath.Join(root, "runs", "long"), "--set", "train.epochs=1000")))
		stop(t, p)
	})
}

// firstUser returns the external id of dense user 0 from the run's id map.
func firstUser(t *testing.T, run string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(run, "embeddings", "users.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 {
		t.Fatalf("users.tsv: %q", b)
	}
	_, id, _ := strings.Cut(lines[1], "\t")
	return id
}

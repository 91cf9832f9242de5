package httpserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBindsAllInterfaces(t *testing.T) {
	for _, tc := range []struct {
		addr string
		all  bool
	}{
		{":9090", true},
		{"0.0.0.0:9090", true},
		{"[::]:9090", true},
		{":0", true},
		{"127.0.0.1:8080", false},
		{"[::1]:8080", false},
		{"localhost:8080", false},
		{"10.1.2.3:80", false},
		{"no-port", false},
	} {
		if got := BindsAllInterfaces(tc.addr); got != tc.all {
			t.Errorf("BindsAllInterfaces(%q) = %v, want %v", tc.addr, got, tc.all)
		}
	}
}

func TestWarnAllInterfaces(t *testing.T) {
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{"0.0.0.0:9090", true},
		{"127.0.0.1:9090", false},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		if got := WarnAllInterfaces(log, tc.addr, "every interface"); got != tc.warn {
			t.Errorf("%s: warned %v, want %v", tc.addr, got, tc.warn)
		}
		logged := strings.Contains(buf.String(), `level=WARN msg="every interface" addr=`+tc.addr)
		if logged != tc.warn {
			t.Errorf("%s: log %q, want a warning naming the address: %v", tc.addr, buf.String(), tc.warn)
		}
	}
}

// get fetches url's body.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestListenServeShutdown(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") })
	s, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(s.Addr(), ":0") {
		t.Fatalf("Addr %s: the real port is not known after Listen", s.Addr())
	}
	// An address in use fails at Listen, naming it.
	if _, err := Listen(s.Addr(), h); !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), s.Addr()) {
		t.Fatalf("second Listen on %s: %v, want address in use naming it", s.Addr(), err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	if b := get(t, "http://"+s.Addr()+"/"); b != "hi" {
		t.Fatalf("body %q", b)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Shutdown = %v, want nil", err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/"); err == nil {
		t.Fatal("server still answers after Shutdown")
	}
}

// TestRunGrace: cancelling Run's context lets an in-flight request finish
// within the grace, then Run returns nil; with a grace too short for it,
// Run returns the shutdown's deadline error.
func TestRunGrace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		grace   time.Duration
		wantErr error
	}{
		{"request finishes", 5 * time.Second, nil},
		{"grace too short", 10 * time.Millisecond, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started, release := make(chan struct{}), make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				close(started)
				<-release
				io.WriteString(w, "done")
			})
			s, err := Listen("127.0.0.1:0", h)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			runErr := make(chan error, 1)
			go func() { runErr <- s.Run(ctx, tc.grace) }()
			body := make(chan string, 1)
			go func() {
				resp, err := http.Get("http://" + s.Addr() + "/")
				if err != nil {
					body <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body <- string(b)
			}()
			<-started
			cancel()
			if tc.wantErr == nil {
				time.Sleep(50 * time.Millisecond) // Shutdown is waiting on the request
				close(release)
				if b := <-body; b != "done" {
					t.Fatalf("in-flight request got %q", b)
				}
			}
			select {
			case err := <-runErr:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Run = %v, want %v", err, tc.wantErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			if tc.wantErr != nil {
				close(release)
				<-body
			}
		})
	}
}

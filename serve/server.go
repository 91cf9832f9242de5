package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultShutdownGrace is how long ListenAndServe waits for in-flight
// requests after its context is done.
const DefaultShutdownGrace = 10 * time.Second

// Server is a bound HTTP listener serving one handler. Create it with
// Listen, run Serve, stop it with Shutdown.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr (e.g. "127.0.0.1:8080"; port 0 picks a free port) for
// h. Binding happens here, so an address in use fails before Serve.
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve: listen %s: %w", addr, err)
	}
	return &Server{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		ln:  ln,
	}, nil
}

// Addr is the bound address (with the real port when addr had port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers requests until Shutdown; it returns nil after a Shutdown
// and the listener's error otherwise.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx is done (http.Server.Shutdown).
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// BindsAllInterfaces reports whether a listen address such as ":9090",
// "0.0.0.0:9090" or "[::]:9090" accepts connections on every network
// interface rather than on one (loopback, a named host or a specific IP).
func BindsAllInterfaces(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false // Listen refuses it anyway
	}
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// ListenAndServe serves h on addr until ctx is done, then shuts down
// gracefully, giving in-flight requests up to grace (0: DefaultShutdownGrace).
// An addr that binds every interface (BindsAllInterfaces) is served, with a
// warning logged that names it. It returns nil after a clean shutdown.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, grace time.Duration) error {
	s, err := Listen(addr, h)
	if err != nil {
		return err
	}
	if grace <= 0 {
		grace = DefaultShutdownGrace
	}
	slog.Info("serve: listening", "addr", s.Addr())
	if BindsAllInterfaces(addr) {
		slog.Warn("serve: listening on every network interface: anyone who can reach this host can query the model; use 127.0.0.1:PORT to keep it local",
			"addr", addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return err
	}
	return <-errc
}

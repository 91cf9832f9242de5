// Package httpserver is the one wrapper around net/http's server that
// trainerd's HTTP endpoints (obs's status and metrics, serve's
// recommendations) share: bind first so that the address is known and an
// address in use fails early, serve until shut down, shut down with a
// context, and warn when an address binds every network interface.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ReadHeaderTimeout bounds how long a client may take to send its request
// headers.
const ReadHeaderTimeout = 10 * time.Second

// Server is a bound HTTP listener serving one handler. Create it with
// Listen, run Serve, stop it with Shutdown.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr (host:port; port 0 picks a free port) for h. Binding
// happens here, so an address in use fails before Serve.
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return &Server{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout},
		ln:  ln,
	}, nil
}

// Addr is the bound address (with the real port when addr had port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers requests until Shutdown; it returns nil after a Shutdown
// and the listener's error otherwise.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", s.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx is done (http.Server.Shutdown).
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown %s: %w", s.Addr(), err)
	}
	return nil
}

// Run serves until ctx is done, then shuts down, giving in-flight
// requests up to grace. It returns nil after a clean shutdown, and Serve's
// error when serving fails first.
func (s *Server) Run(ctx context.Context, grace time.Duration) error {
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

// WarnAllInterfaces logs warning on log, naming addr, when addr binds
// every network interface (BindsAllInterfaces), and reports whether it did.
func WarnAllInterfaces(log *slog.Logger, addr, warning string) bool {
	if !BindsAllInterfaces(addr) {
		return false
	}
	log.Warn(warning, "addr", addr)
	return true
}

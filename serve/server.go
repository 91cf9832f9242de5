package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/trainerd/trainerd/internal/httpserver"
)

// DefaultShutdownGrace is how long ListenAndServe waits for in-flight
// requests after its context is done.
const DefaultShutdownGrace = 10 * time.Second

// Server is a bound HTTP listener serving one handler. Create it with
// Listen, run Serve, stop it with Shutdown.
type Server = httpserver.Server

// Listen binds addr (e.g. "127.0.0.1:8080"; port 0 picks a free port) for
// h. Binding happens here, so an address in use fails before Serve.
func Listen(addr string, h http.Handler) (*Server, error) {
	s, err := httpserver.Listen(addr, h)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return s, nil
}

// ListenAndServe serves h on addr until ctx is done, then shuts down
// gracefully, giving in-flight requests up to grace (0: DefaultShutdownGrace).
// An addr that binds every interface (httpserver.BindsAllInterfaces) is served, with a
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
	httpserver.WarnAllInterfaces(slog.Default(), addr,
		"serve: listening on every network interface: anyone who can reach this host can query the model; use 127.0.0.1:PORT to keep it local")
	if err := s.Run(ctx, grace); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

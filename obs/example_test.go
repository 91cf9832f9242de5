package obs_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/oklog/run"

	"github.com/trainerd/trainerd/obs"
)

// Example_runGroup shows how `trainerd train` wires its long-running parts
// as actors of an oklog/run.Group, in the manner of cmd/prometheus: each
// actor is an execute function and an interrupt function; the first execute
// to return (training done, a failure, a signal) interrupts all the others,
// and Run returns that first error. Producers and the consumer run inside the
// trainer actor (they share its context); the checkpointer can be its own
// actor fed by a channel.
func Example_runGroup() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	metrics := obs.NewMetrics()
	var status obs.StatusBox
	var g run.Group

	// Signals: SIGINT/SIGTERM stop everything (a checkpoint is written by
	// the trainer on its way out).
	g.Add(run.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM))

	// HTTP: /metrics, /healthz, /status.
	srv := obs.NewServer("127.0.0.1:0", metrics, &status)
	if err := srv.Listen(); err != nil {
		fmt.Println(err)
		return
	}
	g.Add(srv.Serve, func(error) {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	})

	// Trainer: producers → queue → consumer; returns when training is done.
	tctx, tcancel := context.WithCancel(ctx)
	g.Add(func() error {
		for step := 1; step <= 3; step++ {
			select {
			case <-tctx.Done():
				return tctx.Err()
			default:
			}
			metrics.Step.Set(float64(step))
			status.Update(func(s *obs.Status) { s.State, s.Step = "training", step })
		}
		status.Update(func(s *obs.Status) { s.State = "done" })
		return nil
	}, func(error) { tcancel() })

	err := g.Run() // the trainer finishes first; the server is shut down
	slog.Debug("group done", "err", err)
	fmt.Println("err:", err, "state:", status.Snapshot().State, "step:", status.Snapshot().Step)
	// Output: err: <nil> state: done step: 3
}

//go:build !cuda

// Command sageref runs the CPU PinSage (consumer/sage) for the GPU
// comparison, which cannot link it (see package cuda/sageref):
//
//	sageref -o bin/sageref.gob   writes the comparison cases with the CPU's
//	                             states, losses and embeddings
//	sageref -bench 20            times 20 CPU steps of the Gowalla-shaped
//	                             PinSage workload (sageref.Bench) and prints
//	                             a benchmark line with examples/s
//
// cuda/build-devicecheck.sh writes the file on the development machine;
// cuda/devicecheck.sh runs the benchmark beside the GPU's on the GPU machine.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/trainerd/trainerd/consumer"
	"github.com/trainerd/trainerd/cuda/sageref"
)

func main() {
	out := flag.String("o", "", "write the comparison cases with the CPU results to this file")
	bench := flag.Int("bench", 0, "time this many CPU PinSage steps of the benchmark workload")
	flag.Parse()
	if *out == "" && *bench <= 0 {
		fmt.Fprintln(os.Stderr, "sageref: give -o FILE and/or -bench N")
		os.Exit(2)
	}
	ctx := context.Background()
	if *out != "" {
		if err := reference(ctx, *out); err != nil {
			slog.Error("sageref", "err", err)
			os.Exit(1)
		}
	}
	if *bench > 0 {
		if err := benchmark(ctx, *bench); err != nil {
			slog.Error("sageref", "err", err)
			os.Exit(1)
		}
	}
}

// reference runs every case on the CPU model and writes the file.
func reference(ctx context.Context, path string) error {
	f := &sageref.File{Cases: sageref.Cases()}
	for i := range f.Cases {
		c := &f.Cases[i]
		info, err := c.Info()
		if err != nil {
			return err
		}
		m, err := consumer.New(c.Config, info)
		if err != nil {
			return fmt.Errorf("case %s: %w", c.Name, err)
		}
		c.Initial = m.State()
		for j, b := range c.Batches {
			s, err := m.Step(ctx, b)
			if err != nil {
				return fmt.Errorf("case %s step %d: %w", c.Name, j, err)
			}
			c.Losses = append(c.Losses, s.Loss)
			if j == 0 {
				c.AfterFirst = m.State()
			}
		}
		c.Final = m.State()
		e, err := m.Embed(ctx)
		if err != nil {
			return fmt.Errorf("case %s: embed: %w", c.Name, err)
		}
		c.Users, c.Items = e.Users, e.Items
		slog.Info("sageref case", "name", c.Name, "steps", len(c.Batches), "losses", c.Losses)
	}
	return sageref.Write(path, f)
}

// benchmark times n CPU steps (after one warm-up step) of sageref.Bench.
func benchmark(ctx context.Context, n int) error {
	cfg, info, bs := sageref.Bench(8)
	m, err := consumer.New(cfg, info)
	if err != nil {
		return err
	}
	if _, err := m.Step(ctx, bs[0]); err != nil {
		return err
	}
	ex := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		b := bs[(i+1)%len(bs)]
		s, err := m.Step(ctx, b)
		if err != nil {
			return err
		}
		ex += s.Examples
	}
	el := time.Since(start)
	fmt.Printf("BenchmarkPinSageStep/synthetic-gowalla/B=512/cpu \t%d\t%d ns/op\t%.0f examples/s\n", n, el.Nanoseconds()/int64(n), float64(ex)/el.Seconds())
	return nil
}

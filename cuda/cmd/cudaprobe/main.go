// Command cudaprobe reports whether a CUDA GPU is usable, without linking
// libcuda (it dlopens libcuda.so.1 through cuda/probe). It prints one line
// and exits 0 when a device is available, 1 when not, 2 on error. The device
// check runs it before any binary that imports gorgonia.org/cu.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/trainerd/trainerd/cuda/probe"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := probe.Probe(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cudaprobe:", err)
		os.Exit(2)
	}
	fmt.Printf("available=%v devices=%d name=%q driver=%d reason=%q\n", r.Available, r.Devices, r.Name, r.DriverVersion, r.Reason)
	if !r.Available {
		os.Exit(1)
	}
}

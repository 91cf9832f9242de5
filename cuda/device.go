//go:build cuda

package cuda

import (
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"gorgonia.org/cu"
)

//go:embed kernels/trainerd.ptx
var ptxImage string

// Device owns one CUDA context, bound to one OS thread. Every CUDA call of
// the package runs on that thread through Do, so callers may use a Device
// from any goroutine (calls are serialised).
type Device struct {
	Ordinal int
	Name    string
	// Kernels are the loaded kernel functions.
	Kernels *Kernels
	// Compute runs the training step; Copy carries host→device uploads so
	// that the next batch's copy overlaps the current step.
	Compute, Copy cu.Stream

	ctx  cu.CUContext
	mod  cu.Module
	work chan func()
	done chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open creates a context on device ordinal, loads the embedded PTX and
// creates the streams. Close releases everything.
func Open(ordinal int) (*Device, error) {
	d := &Device{Ordinal: ordinal, work: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go d.loop(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return d, nil
}

// loop is the device goroutine: it locks its OS thread, makes the context
// current there and runs submitted work until Close.
func (d *Device) loop(ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(d.done)
	if err := d.init(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for f := range d.work {
		f()
	}
	d.closeErr = d.release()
}

func (d *Device) init() error {
	n, err := cu.NumDevices()
	if err != nil {
		return fmt.Errorf("cuda: count devices: %w", err)
	}
	if d.Ordinal < 0 || d.Ordinal >= n {
		return fmt.Errorf("cuda: device %d out of range (%d devices)", d.Ordinal, n)
	}
	dev := cu.Device(d.Ordinal)
	if d.Name, err = dev.Name(); err != nil {
		return fmt.Errorf("cuda: device %d name: %w", d.Ordinal, err)
	}
	if d.ctx, err = dev.MakeContext(cu.SchedBlockingSync); err != nil {
		return fmt.Errorf("cuda: device %d: make context: %w", d.Ordinal, err)
	}
	if d.mod, err = cu.LoadData(ptxImage); err != nil {
		_ = d.ctx.Destroy()
		return fmt.Errorf("cuda: load kernels/trainerd.ptx: %w", err)
	}
	if d.Kernels, err = loadKernels(d.mod); err != nil {
		_ = d.ctx.Destroy()
		return err
	}
	if d.Compute, err = cu.MakeStream(cu.NonBlocking); err != nil {
		_ = d.ctx.Destroy()
		return fmt.Errorf("cuda: compute stream: %w", err)
	}
	if d.Copy, err = cu.MakeStream(cu.NonBlocking); err != nil {
		_ = d.ctx.Destroy()
		return fmt.Errorf("cuda: copy stream: %w", err)
	}
	return nil
}

func (d *Device) release() error {
	var errs []error
	if err := d.Compute.Destroy(); err != nil {
		errs = append(errs, fmt.Errorf("destroy compute stream: %w", err))
	}
	if err := d.Copy.Destroy(); err != nil {
		errs = append(errs, fmt.Errorf("destroy copy stream: %w", err))
	}
	if err := d.mod.Unload(); err != nil {
		errs = append(errs, fmt.Errorf("unload module: %w", err))
	}
	if err := d.ctx.Destroy(); err != nil {
		errs = append(errs, fmt.Errorf("destroy context: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("cuda: close device %d: %w", d.Ordinal, errors.Join(errs...))
	}
	return nil
}

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("cuda: device closed")

// Do runs f on the device thread (where the context is current) and returns
// its error. It must not be called from inside f.
func (d *Device) Do(f func() error) (err error) {
	ch := make(chan error, 1)
	select {
	case <-d.done:
		return ErrClosed
	default:
	}
	defer func() {
		if recover() != nil { // send on closed work channel
			err = ErrClosed
		}
	}()
	d.work <- func() { ch <- f() }
	return <-ch
}

// Close stops the device goroutine and destroys the context; buffers
// allocated on it become invalid. It is safe to call twice.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		close(d.work)
		<-d.done
	})
	return d.closeErr
}

// Sync waits for both streams (call inside Do).
func (d *Device) Sync() error {
	if err := d.Compute.Synchronize(); err != nil {
		return fmt.Errorf("cuda: sync compute stream: %w", err)
	}
	if err := d.Copy.Synchronize(); err != nil {
		return fmt.Errorf("cuda: sync copy stream: %w", err)
	}
	return nil
}

// Package probe finds out whether this process could use a CUDA GPU without
// linking libcuda: it dlopens "libcuda.so.1" at run time (through purego, no
// cgo), calls cuInit(0), cuDeviceGetCount and cuDeviceGetName, and reports
// what it found.
//
// It exists because gorgonia.org/cu calls cuInit in its package init and
// exits the process when that fails, so a binary that imports cu cannot fall
// back to CPU. The default (CPU) trainerd binary probes with this package and
// only then execs trainerd-cuda (built with -tags cuda). This package must
// never import gorgonia.org/cu or anything that does.
package probe

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
)

// DefaultLibrary is the driver library Probe opens.
const DefaultLibrary = "libcuda.so.1"

// Result is what Probe found.
type Result struct {
	// Available is true when the driver initialised and reported at least
	// one device.
	Available bool
	// Devices is the number of CUDA devices (0 when unavailable).
	Devices int
	// Name is device 0's name ("NVIDIA H100 80GB HBM3"), empty when none.
	Name string
	// DriverVersion is cuDriverGetVersion's answer (e.g. 13000 for 13.0),
	// 0 when unknown.
	DriverVersion int
	// Reason says why Available is false ("libcuda.so.1: cannot open ...",
	// "cuInit: CUDA_ERROR_NO_DEVICE (100)", "0 devices"); empty when true.
	Reason string
}

// String renders r in one line for logs.
func (r Result) String() string {
	if r.Available {
		return fmt.Sprintf("cuda: %d device(s), device 0 %q, driver %d", r.Devices, r.Name, r.DriverVersion)
	}
	return "cuda unavailable: " + r.Reason
}

// Options configure Probe. The zero value probes DefaultLibrary.
type Options struct {
	// Library is the path or soname to dlopen. Default DefaultLibrary.
	Library string
}

// CUResultString names a CUresult code, e.g. "CUDA_ERROR_NO_DEVICE (100)".
func CUResultString(code int32) string {
	var n string
	switch code {
	case 0:
		n = "CUDA_SUCCESS"
	case 1:
		n = "CUDA_ERROR_INVALID_VALUE"
	case 2:
		n = "CUDA_ERROR_OUT_OF_MEMORY"
	case 3:
		n = "CUDA_ERROR_NOT_INITIALIZED"
	case 34:
		n = "CUDA_ERROR_STUB_LIBRARY"
	case 46:
		n = "CUDA_ERROR_DEVICE_UNAVAILABLE"
	case 100:
		n = "CUDA_ERROR_NO_DEVICE"
	case 101:
		n = "CUDA_ERROR_INVALID_DEVICE"
	case 303:
		n = "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED"
	case 304:
		n = "CUDA_ERROR_OPERATING_SYSTEM"
	case 802:
		n = "CUDA_ERROR_SYSTEM_NOT_READY"
	case 803:
		n = "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"
	case 804:
		n = "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE"
	case 999:
		n = "CUDA_ERROR_UNKNOWN"
	default:
		return fmt.Sprintf("CUresult %d", code)
	}
	return fmt.Sprintf("%s (%d)", n, code)
}

// Probe opens the CUDA driver and counts devices. It returns an error only
// when ctx is done; "no GPU" is a Result with Available false and a Reason.
// The library handle is left open (the driver does not support unloading
// after cuInit).
func Probe(ctx context.Context) (Result, error) {
	return ProbeWith(ctx, Options{})
}

// ProbeWith is Probe with options.
func ProbeWith(ctx context.Context, opt Options) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("cuda probe: %w", err)
	}
	lib := opt.Library
	if lib == "" {
		lib = DefaultLibrary
	}
	if runtime.GOOS != "linux" {
		return Result{Reason: fmt.Sprintf("cuda probe supports linux only (GOOS=%s)", runtime.GOOS)}, nil
	}
	type res struct {
		r   Result
		err error
	}
	done := make(chan res, 1)
	// cuInit can take seconds on a cold driver; run it off the caller's
	// goroutine so ctx can still cancel the wait.
	go func() {
		r, err := probeLib(lib)
		done <- res{r, err}
	}()
	select {
	case <-ctx.Done():
		return Result{}, fmt.Errorf("cuda probe %s: %w", lib, ctx.Err())
	case x := <-done:
		return x.r, x.err
	}
}

// probeLib does the dlopen and driver calls.
func probeLib(lib string) (r Result, err error) {
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return Result{Reason: fmt.Sprintf("%s: %v", lib, err)}, nil
	}
	sym := func(name string) (uintptr, error) {
		p, err := purego.Dlsym(h, name)
		if err != nil {
			return 0, fmt.Errorf("%s: symbol %s: %w", lib, name, err)
		}
		return p, nil
	}
	var (
		cuInit           func(flags uint32) int32
		cuDriverVersion  func(v *int32) int32
		cuDeviceGetCount func(n *int32) int32
		cuDeviceGet      func(dev *int32, ordinal int32) int32
		cuDeviceGetName  func(name *byte, n int32, dev int32) int32
	)
	for _, f := range []struct {
		name string
		fn   any
	}{
		{"cuInit", &cuInit},
		{"cuDriverGetVersion", &cuDriverVersion},
		{"cuDeviceGetCount", &cuDeviceGetCount},
		{"cuDeviceGet", &cuDeviceGet},
		{"cuDeviceGetName", &cuDeviceGetName},
	} {
		p, err := sym(f.name)
		if err != nil {
			return Result{Reason: err.Error()}, nil
		}
		purego.RegisterFunc(f.fn, p)
	}
	var ver int32
	if c := cuDriverVersion(&ver); c == 0 {
		r.DriverVersion = int(ver)
	}
	if c := cuInit(0); c != 0 {
		r.Reason = "cuInit: " + CUResultString(c)
		return r, nil
	}
	var n int32
	if c := cuDeviceGetCount(&n); c != 0 {
		r.Reason = "cuDeviceGetCount: " + CUResultString(c)
		return r, nil
	}
	r.Devices = int(n)
	if n <= 0 {
		r.Reason = "0 devices"
		return r, nil
	}
	var dev int32
	if c := cuDeviceGet(&dev, 0); c != 0 {
		r.Reason = "cuDeviceGet(0): " + CUResultString(c)
		return r, nil
	}
	buf := make([]byte, 256)
	if c := cuDeviceGetName(&buf[0], int32(len(buf)), dev); c != 0 {
		r.Reason = "cuDeviceGetName(0): " + CUResultString(c)
		return r, nil
	}
	r.Name = strings.TrimRight(string(buf[:clen(buf)]), " ")
	r.Available = true
	return r, nil
}

// clen is the length of the NUL-terminated string in b.
func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// ErrUnavailable is returned (wrapped) by Require when no GPU is usable.
var ErrUnavailable = errors.New("cuda unavailable")

// Require probes and returns an error wrapping ErrUnavailable, with the
// reason, when no device is usable.
func Require(ctx context.Context) (Result, error) {
	r, err := Probe(ctx)
	if err != nil {
		return r, err
	}
	if !r.Available {
		return r, fmt.Errorf("%w: %s", ErrUnavailable, r.Reason)
	}
	return r, nil
}

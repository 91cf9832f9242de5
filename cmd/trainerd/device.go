package main

// Device selection for `train`: the default trainerd is a CPU binary that
// never links libcuda; GPU training runs in trainerd-cuda (the same main
// package built with -tags cuda), which this binary execs when the config
// asks for it and a GPU is present. trainerd-cuda imports gorgonia.org/cu,
// whose init exits without a device, so it must only be started after a
// probe (cuda/probe) said yes.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/trainerd/trainerd/cuda/probe"
	"github.com/trainerd/trainerd/model"
	"github.com/trainerd/trainerd/modelspec"
)

// cudaBinaryName is the file name of the CUDA build, looked up beside the
// running executable.
const cudaBinaryName = "trainerd-cuda"

// handoverEnv is set (to "1") by the CPU binary when it execs trainerd-cuda,
// so that trainerd-cuda does not probe again.
const handoverEnv = "TRAINERD_CUDA_HANDOVER"

// cudaBinaryEnv, when set, names the trainerd-cuda binary to exec instead of
// the one beside the executable.
const cudaBinaryEnv = "TRAINERD_CUDA_BINARY"

// deviceAction is what the caller does with a decision.
type deviceAction int

const (
	// runCPU: train on CPU in this process.
	runCPU deviceAction = iota
	// runCUDA: train on the GPU in this process (this is trainerd-cuda).
	runCUDA
	// execCUDA: replace this process with trainerd-cuda (decision.Binary).
	execCUDA
)

// String names the action for logs.
func (a deviceAction) String() string {
	switch a {
	case runCPU:
		return "cpu"
	case runCUDA:
		return "cuda"
	case execCUDA:
		return "exec-cuda"
	}
	return fmt.Sprintf("deviceAction(%d)", int(a))
}

// deviceDecision is selectDevice's answer.
type deviceDecision struct {
	Action deviceAction
	// Ordinal is the CUDA device index (0 unless cuda:N); meaningless on CPU.
	Ordinal int
	// Binary is the trainerd-cuda path to exec when Action is execCUDA.
	Binary string
	// Reason says why, for the log.
	Reason string
}

// deviceEnv is what selectDevice may look at, injected for tests.
type deviceEnv struct {
	// CUDABuilt is true in trainerd-cuda (build tag cuda).
	CUDABuilt bool
	// Handover is true when the CPU binary execed us after probing.
	Handover bool
	// Probe finds GPUs (probe.Probe in production).
	Probe func(context.Context) (probe.Result, error)
	// FindCUDABinary returns the trainerd-cuda path or an error.
	FindCUDABinary func() (string, error)
}

// errNoCUDA is wrapped by selectDevice's errors when cuda was demanded but
// cannot be had.
var errNoCUDA = errors.New("device cuda requested but not usable")

// errNoCUDAConsumer is wrapped by selectDevice's error when cuda was demanded
// for a model that has no CUDA implementation (see probe.HasCUDAConsumer).
var errNoCUDAConsumer = errors.New("model has no CUDA consumer")

// parseDevice splits "auto", "cpu", "cuda" and "cuda:N".
func parseDevice(cfg string) (kind string, ordinal int, err error) {
	s := strings.ToLower(strings.TrimSpace(cfg))
	switch {
	case s == "" || s == "auto":
		return "auto", 0, nil
	case s == "cpu":
		return "cpu", 0, nil
	case s == "cuda":
		return "cuda", 0, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(s[len("cuda:"):])
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("device %q: want cuda:N with N a device index ≥ 0", cfg)
		}
		return "cuda", n, nil
	}
	return "", 0, fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", cfg)
}

// workload is what selectDevice needs to know about the model: its name
// (model.name), its loss (model.loss), and CPUOnly, a reason when another
// model key asks for something only the CPU consumer does ("" if none).
type workload struct {
	Model, Loss, CPUOnly string
}

// cpuOnlyReason names the model keys set to a feature the CUDA consumer
// lacks (SimpleX's user tower), or "".
func cpuOnlyReason(m model.Config) string {
	if m.History.Weight != 0 || m.Dropout != 0 {
		return "model.history.weight/model.dropout (SimpleX user tower) have no CUDA kernel"
	}
	if m.Residual {
		return "model.residual has no CUDA kernel"
	}
	if m.Model == modelspec.PinSage && m.Aggregator == "max" {
		return "model.aggregator max (PinSage max pooling) has no CUDA kernel"
	}
	return ""
}

// selectDevice decides where `train` runs workload w, from the configured
// device (auto|cpu|cuda|cuda:N; "" means auto):
//
//   - cpu: CPU, always.
//   - a model without a CUDA consumer (modelspec.Spec.CUDA false:
//     graphsage, ngcf, deepwalk), a loss without a CUDA kernel (ccl; see
//     probe.CUDAUnsupported, which asks modelspec), or
//     w.CPUOnly set: auto
//     runs on CPU without probing, with the reason; cuda[:N] is an error
//     wrapping errNoCUDAConsumer.
//   - auto with a CUDA consumer not yet verified on a GPU
//     (modelspec.Spec.CUDAUnverified: pinsage): CPU, with the reason;
//     cuda[:N] runs it.
//   - in trainerd-cuda (env.CUDABuilt): the process only got past cu's init
//     because the driver works, so auto/cuda run on the GPU in-process
//     without probing (when Handover is set the CPU binary probed already;
//     otherwise the probe is still used to check the ordinal).
//   - in the CPU binary, auto: GPU present and trainerd-cuda found → exec it;
//     otherwise CPU, with the reason.
//   - in the CPU binary, cuda[:N]: exec trainerd-cuda, or an error wrapping
//     errNoCUDA naming what is missing.
func selectDevice(ctx context.Context, cfg string, w workload, env deviceEnv) (deviceDecision, error) {
	kind, ord, err := parseDevice(cfg)
	if err != nil {
		return deviceDecision{}, err
	}
	if kind == "cpu" {
		return deviceDecision{Action: runCPU, Reason: "device: cpu configured"}, nil
	}
	why := probe.CUDAUnsupported(w.Model, w.Loss)
	if why == "" {
		why = w.CPUOnly
	}
	if spec, ok := modelspec.Lookup(w.Model); why == "" && ok && spec.CUDAUnverified && kind != "cuda" {
		why = "model " + w.Model + "'s CUDA consumer has not passed the device check yet (cuda/devicecheck.sh); train.device: cuda runs it"
	}
	if why != "" {
		if kind == "cuda" {
			return deviceDecision{}, fmt.Errorf("device %q: %w: %s; set train.device: cpu or auto", cfg, errNoCUDAConsumer, why)
		}
		return deviceDecision{Action: runCPU, Reason: why + "; training on CPU"}, nil
	}
	if env.CUDABuilt && env.Handover {
		return deviceDecision{Action: runCUDA, Ordinal: ord, Reason: "handed over by trainerd after a successful probe"}, nil
	}
	if env.Probe == nil {
		return deviceDecision{}, errors.New("selectDevice: no probe")
	}
	pr, err := env.Probe(ctx)
	if err != nil {
		return deviceDecision{}, fmt.Errorf("device %q: %w", cfg, err)
	}
	if !pr.Available {
		if kind == "cuda" {
			return deviceDecision{}, fmt.Errorf("device %q: %w: %s", cfg, errNoCUDA, pr.Reason)
		}
		return deviceDecision{Action: runCPU, Reason: "device auto: no GPU (" + pr.Reason + ")"}, nil
	}
	if ord >= pr.Devices {
		return deviceDecision{}, fmt.Errorf("device %q: %w: only %d device(s)", cfg, errNoCUDA, pr.Devices)
	}
	if env.CUDABuilt {
		return deviceDecision{Action: runCUDA, Ordinal: ord, Reason: fmt.Sprintf("device %s: %s", kind, pr)}, nil
	}
	if env.FindCUDABinary == nil {
		return deviceDecision{}, errors.New("selectDevice: no binary finder")
	}
	bin, ferr := env.FindCUDABinary()
	if ferr != nil {
		if kind == "cuda" {
			return deviceDecision{}, fmt.Errorf("device %q: %w: GPU %q present but %v", cfg, errNoCUDA, pr.Name, ferr)
		}
		return deviceDecision{Action: runCPU, Reason: fmt.Sprintf("device auto: GPU %q present but %v; training on CPU", pr.Name, ferr)}, nil
	}
	return deviceDecision{Action: execCUDA, Ordinal: ord, Binary: bin, Reason: fmt.Sprintf("device %s: %s; exec %s", kind, pr, bin)}, nil
}

// findCUDABinary returns $TRAINERD_CUDA_BINARY when set, else trainerd-cuda
// beside the running executable (symlinks resolved); the file must exist and
// be executable.
func findCUDABinary() (string, error) {
	if p := os.Getenv(cudaBinaryEnv); p != "" {
		return checkExecutable(p, cudaBinaryEnv)
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locate %s: %w", cudaBinaryName, err)
	}
	if r, err := filepath.EvalSymlinks(self); err == nil {
		self = r
	}
	return checkExecutable(filepath.Join(filepath.Dir(self), cudaBinaryName), "beside "+self)
}

// checkExecutable returns p when it is an executable regular file.
func checkExecutable(p, where string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("%s (%s) not found: %w", cudaBinaryName, where, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s (%s) is not an executable file", p, where)
	}
	return p, nil
}

// productionDeviceEnv is the deviceEnv of this binary.
func productionDeviceEnv() deviceEnv {
	return deviceEnv{
		CUDABuilt:      cudaBuilt,
		Handover:       os.Getenv(handoverEnv) == "1",
		Probe:          probe.Probe,
		FindCUDABinary: findCUDABinary,
	}
}

// resolveDevice is what `train` calls first: it selects the device for
// workload w, logs the choice, and for execCUDA replaces the process with trainerd-cuda (same
// arguments, same environment plus TRAINERD_CUDA_HANDOVER=1), so it returns
// only for runCPU and runCUDA (or an error).
func resolveDevice(ctx context.Context, device string, w workload, log *slog.Logger) (deviceDecision, error) {
	d, err := selectDevice(ctx, device, w, productionDeviceEnv())
	if err != nil {
		return d, err
	}
	log.Info("device selected", "device", device, "model", w.Model, "action", d.Action.String(), "ordinal", d.Ordinal, "reason", d.Reason)
	if d.Action != execCUDA {
		return d, nil
	}
	args := append([]string{d.Binary}, os.Args[1:]...)
	env := append(os.Environ(), handoverEnv+"=1")
	if err := syscall.Exec(d.Binary, args, env); err != nil {
		return d, fmt.Errorf("exec %s: %w", d.Binary, err)
	}
	return d, nil // not reached
}

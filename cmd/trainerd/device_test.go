package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainerd/trainerd/cuda/probe"
	"github.com/trainerd/trainerd/model"
)

func TestSelectDevice(t *testing.T) {
	gpu := func(n int) func(context.Context) (probe.Result, error) {
		return func(context.Context) (probe.Result, error) {
			return probe.Result{Available: true, Devices: n, Name: "Fake GPU"}, nil
		}
	}
	noGPU := func(context.Context) (probe.Result, error) {
		return probe.Result{Reason: "cuInit: CUDA_ERROR_NO_DEVICE (100)"}, nil
	}
	probeFails := func(context.Context) (probe.Result, error) { return probe.Result{}, context.DeadlineExceeded }
	mustNotProbe := func(context.Context) (probe.Result, error) {
		return probe.Result{}, errors.New("probe must not be called")
	}
	found := func() (string, error) { return "/opt/trainerd/trainerd-cuda", nil }
	missing := func() (string, error) { return "", errors.New("trainerd-cuda not found") }

	type deviceCase struct {
		name    string
		cfg     string
		model   string
		loss    string
		env     deviceEnv
		want    deviceAction
		ord     int
		bin     string
		wantErr error // nil: no error; errAny: any error
	}
	tests := []deviceCase{
		{"cpu never probes", "cpu", "mf", "", deviceEnv{Probe: mustNotProbe, FindCUDABinary: found}, runCPU, 0, "", nil},
		{"auto with gpu and binary execs", "auto", "mf", "", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, execCUDA, 0, "/opt/trainerd/trainerd-cuda", nil},
		{"empty means auto", "", "mf", "", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, execCUDA, 0, "/opt/trainerd/trainerd-cuda", nil},
		{"auto without gpu runs cpu", "auto", "mf", "", deviceEnv{Probe: noGPU, FindCUDABinary: found}, runCPU, 0, "", nil},
		{"auto with gpu but no binary runs cpu", "auto", "mf", "", deviceEnv{Probe: gpu(1), FindCUDABinary: missing}, runCPU, 0, "", nil},
		{"cuda without gpu fails", "cuda", "mf", "", deviceEnv{Probe: noGPU, FindCUDABinary: found}, 0, 0, "", errNoCUDA},
		{"cuda without binary fails", "cuda", "mf", "", deviceEnv{Probe: gpu(1), FindCUDABinary: missing}, 0, 0, "", errNoCUDA},
		{"cuda:1 with two gpus", "cuda:1", "mf", "", deviceEnv{Probe: gpu(2), FindCUDABinary: found}, execCUDA, 1, "/opt/trainerd/trainerd-cuda", nil},
		{"cuda:2 with two gpus fails", "CUDA:2", "mf", "", deviceEnv{Probe: gpu(2), FindCUDABinary: found}, 0, 0, "", errNoCUDA},
		{"probe error propagates", "auto", "mf", "", deviceEnv{Probe: probeFails, FindCUDABinary: found}, 0, 0, "", context.DeadlineExceeded},
		{"in trainerd-cuda after handover: no probe", "auto", "mf", "", deviceEnv{CUDABuilt: true, Handover: true, Probe: mustNotProbe}, runCUDA, 0, "", nil},
		{"in trainerd-cuda after handover cuda:1", "cuda:1", "mf", "", deviceEnv{CUDABuilt: true, Handover: true, Probe: mustNotProbe}, runCUDA, 1, "", nil},
		{"trainerd-cuda started directly probes", "cuda", "mf", "", deviceEnv{CUDABuilt: true, Probe: gpu(1)}, runCUDA, 0, "", nil},
		{"trainerd-cuda cpu", "cpu", "mf", "", deviceEnv{CUDABuilt: true, Handover: true, Probe: mustNotProbe}, runCPU, 0, "", nil},
		{"bad device", "gpu", "mf", "", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, 0, 0, "", errAny},
		{"bad ordinal", "cuda:x", "mf", "", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, 0, 0, "", errAny},
		{"negative ordinal", "cuda:-1", "mf", "", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, 0, 0, "", errAny},
		{"lightgcn auto with gpu execs", "auto", "lightgcn", "", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, execCUDA, 0, "/opt/trainerd/trainerd-cuda", nil},
		{"lightgcn cuda in trainerd-cuda", "cuda", "lightgcn", "", deviceEnv{CUDABuilt: true, Handover: true, Probe: mustNotProbe}, runCUDA, 0, "", nil},
		{"pinsage auto with gpu stays on cpu (unverified)", "auto", "pinsage", "", deviceEnv{Probe: mustNotProbe, FindCUDABinary: found}, runCPU, 0, "", nil},
		{"pinsage cuda with gpu execs", "cuda", "pinsage", "", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, execCUDA, 0, "/opt/trainerd/trainerd-cuda", nil},
	}
	// Models without a CUDA consumer never leave the CPU binary.
	for _, model := range []string{"graphsage", "ngcf", "deepwalk"} {
		tests = append(tests,
			deviceCase{model + " auto with gpu runs cpu", "auto", model, "", deviceEnv{Probe: mustNotProbe, FindCUDABinary: found}, runCPU, 0, "", nil},
			deviceCase{model + " cuda fails", "cuda", model, "", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, 0, 0, "", errNoCUDAConsumer},
			deviceCase{model + " cpu", "cpu", model, "", deviceEnv{Probe: mustNotProbe, FindCUDABinary: found}, runCPU, 0, "", nil},
		)
	}
	// Losses without a CUDA kernel keep a CUDA model on CPU too.
	tests = append(tests,
		deviceCase{"mf ccl auto with gpu runs cpu", "auto", "mf", "ccl", deviceEnv{Probe: mustNotProbe, FindCUDABinary: found}, runCPU, 0, "", nil},
		deviceCase{"mf ccl cuda fails", "cuda", "mf", "ccl", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, 0, 0, "", errNoCUDAConsumer},
		deviceCase{"lightgcn softmax auto with gpu execs", "auto", "lightgcn", "softmax", deviceEnv{Probe: gpu(1), FindCUDABinary: found}, execCUDA, 0, "/opt/trainerd/trainerd-cuda", nil},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := selectDevice(context.Background(), tt.cfg, workload{Model: tt.model, Loss: tt.loss}, tt.env)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("got %+v, want error", d)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v does not wrap %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if d.Action != tt.want || d.Ordinal != tt.ord || d.Binary != tt.bin {
				t.Fatalf("got %+v, want action %v ordinal %d binary %q", d, tt.want, tt.ord, tt.bin)
			}
			if d.Reason == "" {
				t.Fatal("decision without a reason")
			}
			if tt.cfg == "auto" && !probe.HasCUDAConsumer(tt.model) && !strings.Contains(d.Reason, "model "+tt.model+" has no CUDA consumer") {
				t.Fatalf("reason %q does not say that %s has no CUDA consumer", d.Reason, tt.model)
			}
		})
	}
}

// errAny marks a case that must fail with any error.
var errAny = errors.New("any error")

// TestSelectDeviceCPUOnly: a CUDA model and loss with a CPU-only model key
// (SimpleX's user tower) stays on the CPU under auto and fails under cuda.
func TestSelectDeviceCPUOnly(t *testing.T) {
	gpu := func(context.Context) (probe.Result, error) {
		return probe.Result{Available: true, Devices: 1, Name: "Fake GPU"}, nil
	}
	found := func() (string, error) { return "/opt/trainerd/trainerd-cuda", nil }
	tests := []struct {
		name    string
		device  string
		m       model.Config
		want    deviceAction
		wantErr error
	}{
		{"plain mf bpr auto execs", "auto", model.Config{Model: "mf", Loss: "bpr"}, execCUDA, nil},
		{"history auto runs cpu", "auto", model.Config{Model: "mf", Loss: "bpr", History: model.History{Weight: 0.5}}, runCPU, nil},
		{"dropout auto runs cpu", "auto", model.Config{Model: "mf", Loss: "bpr", Dropout: 0.1}, runCPU, nil},
		{"history cuda fails", "cuda", model.Config{Model: "mf", Loss: "bpr", History: model.History{Weight: 0.5}}, 0, errNoCUDAConsumer},
		{"pinsage importance auto runs cpu (unverified)", "auto", model.Config{Model: "pinsage", Loss: "margin", Aggregator: "importance"}, runCPU, nil},
		{"pinsage importance cuda execs", "cuda", model.Config{Model: "pinsage", Loss: "margin", Aggregator: "importance"}, execCUDA, nil},
		{"pinsage max auto runs cpu", "auto", model.Config{Model: "pinsage", Loss: "margin", Aggregator: "max"}, runCPU, nil},
		{"pinsage max cuda fails", "cuda", model.Config{Model: "pinsage", Loss: "margin", Aggregator: "max"}, 0, errNoCUDAConsumer},
		{"pinsage residual cuda fails", "cuda", model.Config{Model: "pinsage", Loss: "softmax", Aggregator: "importance", Residual: true}, 0, errNoCUDAConsumer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := workload{Model: tt.m.Model, Loss: tt.m.Loss, CPUOnly: cpuOnlyReason(tt.m)}
			d, err := selectDevice(context.Background(), tt.device, w, deviceEnv{Probe: gpu, FindCUDABinary: found})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && d.Action != tt.want {
				t.Fatalf("action %v, want %v (%s)", d.Action, tt.want, d.Reason)
			}
		})
	}
}

func TestFindCUDABinaryEnv(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "trainerd-cuda")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExe := filepath.Join(dir, "plain")
	if err := os.WriteFile(notExe, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		ok   bool
	}{
		{"executable", exe, true},
		{"not executable", notExe, false},
		{"missing", filepath.Join(dir, "nope"), false},
		{"directory", dir, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(cudaBinaryEnv, tt.env)
			p, err := findCUDABinary()
			if (err == nil) != tt.ok {
				t.Fatalf("findCUDABinary() = %q, %v; want ok=%v", p, err, tt.ok)
			}
			if tt.ok && p != tt.env {
				t.Fatalf("path %q, want %q", p, tt.env)
			}
		})
	}
}

func TestFindCUDABinaryBesideExecutable(t *testing.T) {
	t.Setenv(cudaBinaryEnv, "")
	// The test binary has no trainerd-cuda beside it (it lives in a temp dir).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(self), cudaBinaryName)); err == nil {
		t.Skip("a trainerd-cuda happens to sit beside the test binary")
	}
	if p, err := findCUDABinary(); err == nil {
		t.Fatalf("found %q beside the test binary", p)
	}
}

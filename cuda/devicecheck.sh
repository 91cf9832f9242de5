#!/usr/bin/env bash
# Device check for trainerd's CUDA consumer, run on the GPU machine (no Go
# there; binaries prebuilt by cuda/build-devicecheck.sh into bin/). Writes
# logs to $OUT (default /tmp/trainerd-devicecheck) and prints a summary last.
# Budget: well inside 8 minutes (tests ~1 min, benchmarks ~3 min).
#   usage: bash cuda/devicecheck.sh            (from the repo root)
#   env:   TRAINERD_DATA=dir  adds real Gowalla to the benchmark when
#          dir/gowalla/train.txt exists; BENCH=regex narrows benchmarks;
#          BENCHTIME (default 20x) iterations per benchmark;
#          SAGE_CPU_STEPS (default 10) CPU PinSage steps timed as the
#          baseline of BenchmarkPinSageStep (0 skips it).
# The PinSage comparison reads the CPU results in $BIN/sageref.gob, which
# cuda/build-devicecheck.sh writes.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/trainerd-devicecheck}
mkdir -p "$OUT"
BIN=${BIN:-bin}
log=$OUT/devicecheck.log
exec > >(tee -a "$log") 2>&1
echo "== $(date -u +%FT%TZ) devicecheck"
start=$SECONDS
rc=0

echo "== nvidia-smi"
if ! nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv; then
  echo "no nvidia-smi or no GPU: skipping device tests"; exit 0
fi
echo "== cudaprobe"
if ! "$BIN/cudaprobe"; then
  echo "probe says no usable GPU: skipping device tests (binaries that import gorgonia.org/cu exit at init without one)"
  exit 0
fi
echo "== ptxas report (sm_90) for the embedded PTX"
if command -v ptxas >/dev/null && [ -f cuda/kernels/trainerd.ptx ]; then
  ptxas -arch=sm_90 -v cuda/kernels/trainerd.ptx -o /dev/null > "$OUT/ptxas.txt" 2>&1 || echo "ptxas failed (see ptxas.txt)"
  grep -E "spill|error" "$OUT/ptxas.txt" | sort | uniq -c | head
fi

echo "== device tests"
[ -f "$BIN/sageref.gob" ] && export TRAINERD_SAGEREF="$BIN/sageref.gob"
timeout 240 "$BIN/cuda.test" -test.v -test.run 'Test' -test.timeout 230s > "$OUT/tests.txt" 2>&1
trc=$?
grep -E "^(=== RUN|--- (PASS|FAIL|SKIP)|PASS|FAIL|ok|panic)" "$OUT/tests.txt" | grep -v "=== RUN" | tail -40
[ $trc -eq 0 ] || { echo "device tests FAILED (rc=$trc), see tests.txt"; rc=1; }

echo "== CPU PinSage baseline (same batches as BenchmarkPinSageStep)"
if [ "${SAGE_CPU_STEPS:-10}" -gt 0 ] && [ -x "$BIN/sageref" ]; then
  timeout 90 "$BIN/sageref" -bench "${SAGE_CPU_STEPS:-10}" | tee "$OUT/sage-cpu.txt" || { echo "CPU PinSage baseline failed"; rc=1; }
fi

echo "== benchmarks"
left=$(( 420 - (SECONDS - start) ))
if [ $left -gt 60 ]; then
  timeout $left "$BIN/cuda.test" -test.run '^$' -test.bench "${BENCH:-.}" -test.benchtime "${BENCHTIME:-20x}" \
    -test.timeout "$((left - 5))s" > "$OUT/bench.txt" 2>&1
  brc=$?
  [ $brc -eq 0 ] || { echo "benchmarks stopped (rc=$brc), see bench.txt"; rc=1; }
  grep -E "^Benchmark|examples/s" "$OUT/bench.txt" | awk '{printf "%-60s", $1; for (i=2;i<=NF;i++) if ($(i)~/examples\/s|copywait-frac|gpu-us\/step|ns\/op/) printf " %s %s", $(i-1), $(i); print ""}'
else
  echo "no time left for benchmarks"
fi
echo "== done in $((SECONDS - start)) s, rc=$rc"
exit $rc

#!/usr/bin/env bash
# Gowalla recipe sweep on a GPU machine (no Go there): runs the device tests,
# ingests Gowalla, then trains configs/gowalla-lightgcn.yaml with one set of
# --set overrides per line of $SWEEP (default: the list below) through the
# carried bin/trainerd-cuda, each under $RUN_LIMIT seconds, and prints each
# run's recall@20 by epoch. Carry bin/trainerd-cuda, bin/cuda.test,
# bin/cudaprobe and a data dir ($TRAINERD_DATA/gowalla/{train,test}.txt).
# Only curves and logs go to $OUT (embeddings and checkpoints stay in /tmp).
#   usage: TRAINERD_DATA=dir bash cuda/gowalla-sweep.sh   (SKIP_TESTS=1 skips the device tests)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/trainerd-sweep}
BIN=${BIN:-bin}
RUN_LIMIT=${RUN_LIMIT:-75}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/sweep.log") 2>&1
start=$SECONDS
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || exit 0
"$BIN/cudaprobe" || exit 0
if [ -z "${SKIP_TESTS:-}" ]; then
echo "== device tests"
timeout 120 "$BIN/cuda.test" -test.v -test.run Test -test.timeout 110s > "$OUT/tests.txt" 2>&1
echo "rc=$?"; grep -E "^(--- FAIL|FAIL|ok|PASS|panic)" "$OUT/tests.txt" | head -20
grep -E "^\s+\S+_test.go:[0-9]+: " "$OUT/tests.txt" | head -30
fi
store=/tmp/gowalla-store
"$BIN/trainerd-cuda" ingest --store $store --format lightgcn \
  --train "$TRAINERD_DATA/gowalla/train.txt" --test "$TRAINERD_DATA/gowalla/test.txt" > "$OUT/ingest.log" 2>&1 || { cat "$OUT/ingest.log"; exit 1; }
SWEEP=${SWEEP:-"base:
tau0.2:model.temperature=0.2
lr0.003:model.lr=0.003
l2_1e-3:model.l2=0.001
inbatch:model.in_batch=true
pool4096:producer.negatives.pool_size=4096
mf:model.name=mf"}
while IFS= read -r line; do
  [ -z "$line" ] && continue
  name=${line%%:*}; sets=${line#*:}
  args=()
  for kv in $sets; do args+=(--set "$kv"); done
  echo "== $name ($sets) at $((SECONDS - start)) s"
  t0=$SECONDS
  timeout "$RUN_LIMIT" "$BIN/trainerd-cuda" train --config configs/gowalla-lightgcn.yaml --store $store \
    --run-dir "/tmp/runs/$name" --set train.eval_every=5 "${args[@]}" > "$OUT/$name.log" 2>&1
  echo "rc=$? in $((SECONDS - t0)) s"
  grep -E "device|error|Error" "$OUT/$name.log" | head -3
  grep -E "^epoch" "$OUT/$name.log" | grep recall | awk '{printf "  ep %s r@20 %s n@20 %s ex/s %s\n", $2, $10, $12, $6}'
  cp "/tmp/runs/$name/curve.json" "$OUT/$name.curve.json" 2>/dev/null
done <<< "$SWEEP"
echo "== done in $((SECONDS - start)) s"

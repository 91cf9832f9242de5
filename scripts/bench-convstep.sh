#!/bin/bash
# Old against new CPU PinSage/GraphSAGE step, side by side: builds the test
# binary of package consumer at OLD (default 7b80b03, the gorgonia graph) and
# of consumer/sage at the working tree, then runs BenchmarkModelStep
# alternately, old then new, ROUNDS times (default 5), and prints each round's
# examples/s and ratio. Run it on an otherwise idle machine; it prints lscpu.
#   bash scripts/bench-convstep.sh [OLD]
set -euo pipefail
old=${1:-7b80b03}
rounds=${ROUNDS:-5}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work/old" "$old" >/dev/null
(cd "$work/old" && go test -c -o "$work/old.test" ./consumer)
(cd "$root" && go test -c -o "$work/new.test" ./consumer/sage)
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} OPENBLAS_NUM_THREADS=1
lscpu | grep -E 'Model name|^CPU\(s\)|L2 cache|L3 cache'
echo "old $old, new $(git -C "$root" rev-parse --short HEAD) (working tree)"
bench='ModelStep/(pinsage-softmax|graphsage-mean)$'
declare -A o
for r in $(seq 1 "$rounds"); do
  for v in old new; do
    while read -r name rate; do
      if [ "$v" = old ]; then o[$name]=$rate; else
        awk -v r="$r" -v n="$name" -v a="${o[$name]}" -v b="$rate" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
          'BEGIN { printf "round %d %-16s old %8.0f new %8.0f examples/s  new/old %.2f  (load %s)\n", r, n, a, b, b / a, l }'
      fi
    done < <("$work/$v.test" -test.run='^$' -test.bench="$bench" -test.benchtime=10x 2>/dev/null |
      awk '/^Benchmark/ {n=$1; sub(/^BenchmarkModelStep\//, "", n); sub(/-[0-9]+$/, "", n);
        for (i = 1; i < NF; i++) if ($(i+1) == "examples/s") print n, $i}')
  done
done

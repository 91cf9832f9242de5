#!/usr/bin/env bash
# Compares the GEMM backends on the shipped shapes (linalg's BenchmarkGEMM):
# OpenBLAS through purego, OpenBLAS linked through cgo (build tag cblas, needs
# cblas.h) and gonum, one after the other per shape, ROUNDS rounds, then
# prints a markdown table of median milliseconds per call and the
# purego/cgo ratio (median of the per-round ratios, and each round's).
#   bash linalg/bench-gemm.sh            # ROUNDS=5 BENCHTIME=0.5s
#   bash linalg/bench-gemm.sh saved.txt  # tabulate a saved run's output
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
ROUNDS="${ROUNDS:-5}"
BENCHTIME="${BENCHTIME:-0.5s}"
if [ $# -gt 0 ]; then
  raw="$1" # tabulate a saved run's output
else
  lscpu | head -20
  echo "date $(date -u +%F) commit $(git rev-parse --short HEAD) OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE GOMAXPROCS=${GOMAXPROCS:-$(nproc)}"
  raw="$(mktemp)"
  trap 'rm -f "$raw"' EXIT
  go test -tags cblas -run '^$' -bench '^BenchmarkGEMM$' -benchtime "$BENCHTIME" -count "$ROUNDS" ./linalg/ | tee "$raw"
fi
mawk_median='function med(s,   n, a, i, j, t) { n = split(s, a, " "); for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t } return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }'
awk "$mawk_median"'
/^BenchmarkGEMM\// {
	split($1, p, "/"); shape = p[2]; be = p[3]; sub(/-[0-9]+$/, "", be)
	if (!(shape in seen)) { seen[shape] = 1; order[++ns] = shape }
	if (be == "gonum") { gon[shape] = gon[shape] " " $3; next }
	for (i = 4; i < NF; i++) v[$(i + 1)] = $i
	pm[shape] = pm[shape] " " v["purego-ms"]; cm[shape] = cm[shape] " " v["cgo-ms"]
	pmin[shape] = pmin[shape] " " v["purego-min-ms"]; cmin[shape] = cmin[shape] " " v["cgo-min-ms"]
	rr[shape] = rr[shape] " " v["purego/cgo"]; each[shape] = each[shape] (each[shape] == "" ? "" : ", ") sprintf("%.3f", v["purego/cgo"])
}
END {
	print ""
	print "| shape: op(A)·op(B) | purego ms | cgo ms | purego / cgo (median of rounds) | each round | fastest call purego / cgo | gonum ms | gonum / cgo |"
	print "|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= ns; i++) {
		s = order[i]
		if (rr[s] == "") { printf "| %s | - | - | - | - | - | %.4g | - |\n", s, med(gon[s]) / 1e6; continue }
		c = med(cm[s])
		printf "| %s | %.4g | %.4g | %.3f | %s | %.3f | %.4g | %.1f |\n", s, med(pm[s]), c, med(rr[s]), each[s],
			med(pmin[s]) / med(cmin[s]), med(gon[s]) / 1e6, med(gon[s]) / 1e6 / c
	}
}' "$raw"

#!/usr/bin/env bash
# tools/bench/ab-kernel.sh TESTBIN BENCH ROUNDS [KINDS] — side-by-side GEMM
# kernel comparison in one Go test binary: runs `TESTBIN -test.bench BENCH`
# with GEMM_KERNEL set to each kind in turn (default "avx2 avx512"),
# ROUNDS times, interleaved, and prints for every benchmark and kind the
# median, min and max of its GFLOP/s (or ns/op when it reports none).
#
#   go test -c -o /tmp/gemm.test ./internal/gemm
#   tools/bench/ab-kernel.sh /tmp/gemm.test 'Offsets' 5
#
# Environment: BENCHTIME (default 0.3s), the -test.benchtime of each run;
# CPU (default unset), the -test.cpu list.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 TESTBIN BENCH ROUNDS [KINDS]" >&2
  exit 2
fi
bin=$1 bench=$2 rounds=$3 kinds=${4:-avx2 avx512}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for _ in $(seq "$rounds"); do
  for kind in $kinds; do
    GEMM_KERNEL=$kind "$bin" -test.run '^$' -test.bench "$bench" \
      -test.benchtime "${BENCHTIME:-0.3s}" ${CPU:+-test.cpu "$CPU"} 2>&1 |
      awk -v kind="$kind" '/^Benchmark/ {
        name = $1; sub(/-[0-9]+$/, "", name); sub(/\/(avx2-fma|avx512|go)$/, "", name); sub(/\/(avx2-fma|avx512|go)\//, "/", name)
        v = ""; u = "ns/op"
        for (i = 1; i <= NF; i++) if ($(i+1) == "GFLOP/s") { v = $i; u = "GFLOP/s" }
        if (v == "") for (i = 1; i <= NF; i++) if ($(i+1) == "ns/op") v = $i
        print name, kind, v, u }' >>"$tmp"
  done
done
sort -k1,1 -k2,2 -k3,3g "$tmp" | awk '
  function flush() {
    if (key == "") return
    n = split(vals, a, " ")
    printf "%-70s %-8s median %9s  min %9s  max %9s  %s (n=%d)\n", pname, pkind, a[int((n+1)/2)], a[1], a[n], unit, n
  }
  { k = $1 " " $2; if (k != key) { flush(); key = k; vals = ""; pname = $1; pkind = $2; unit = $4 } vals = vals " " $3 }
  END { flush() }'

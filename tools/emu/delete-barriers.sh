#!/usr/bin/env bash
# tools/emu/delete-barriers.sh - checks that the emulator's sanitizer (see
# docs/cuda.md) catches every barrier in kernels/: it deletes each
# __syncthreads() / __syncwarp(...) in kernels/*.cu{,h} in turn (replaced by
# (void)0), runs the emulated parity suite in each CUDAEMU_ORDER of ORDERS
# until one fails, restores the file, and prints one line per barrier:
#   CAUGHT  file:line  order  first failing test / message
#   MISSED  file:line
# It exits non-zero when a deletion is missed. It edits kernels/ in place
# (restored on exit, also on ^C): run it in a scratch copy of the tree if
# you are editing kernels at the same time.
#
#   tools/emu/delete-barriers.sh            # ORDERS="index reverse"
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
GO="${GO:-go}"
ORDERS="${ORDERS:-index reverse}"
pkg=./internal/backend/cuda/
backup="$(mktemp -d)"
cp -p kernels/*.cu kernels/*.cuh "$backup/"
restore() {
  cp -p "$backup"/* kernels/
  kernels/build.sh emu-hash >/dev/null
  rm -rf "$backup"
}
trap restore EXIT

missed=0
for f in kernels/*.cu kernels/*.cuh; do
  # line numbers of the barriers (one per line in this code base; a second
  # barrier on a line would be deleted together with the first).
  lines=$(grep -n -E '__syncthreads\(\)|__syncwarp\(' "$f" | grep -v -E '^[0-9]+:\s*//' | cut -d: -f1 || true)
  for ln in $lines; do
    cp -p "$backup/$(basename "$f")" "$f"
    sed -i -E "${ln}s/__syncthreads\(\)|__syncwarp\([^)]*\)/(void)0/g" "$f"
    kernels/build.sh emu-hash >/dev/null
    result="MISSED  $f:$ln"
    for o in $ORDERS; do
      log="$(CUDAEMU_ORDER=$o $GO test -count=1 -failfast -tags cudaemu "$pkg" 2>&1 || true)"
      if ! grep -q '^ok ' <<<"$log"; then
        first="$(grep -m1 -E 'emulator: ' <<<"$log" || grep -m1 -E -- '--- FAIL' <<<"$log" || true)"
        first="$(sed -E 's/^\s+//' <<<"$first" | cut -c1-260)"
        result="CAUGHT  $f:$ln  $o  $first"
        break
      fi
    done
    echo "$result"
    [[ $result == MISSED* ]] && missed=$((missed + 1))
    cp -p "$backup/$(basename "$f")" "$f"
  done
done
kernels/build.sh emu-hash >/dev/null
if [[ $missed -gt 0 ]]; then
  echo "delete-barriers: $missed barrier deletion(s) not caught" >&2
  exit 1
fi
echo "delete-barriers: every barrier deletion caught"

#!/usr/bin/env bash
# tools/bench/ab.sh BENCH ROUNDS TESTBIN... — A/B comparison of Go benchmark
# binaries on a noisy machine: runs `TESTBIN -test.bench BENCH` for every
# binary in turn, ROUNDS times (interleaved, so slow phases of the machine
# hit every binary alike), and prints the min and median ms/step of each.
# Build the binaries from the commits to compare, e.g.
#
#   git worktree add /tmp/base <commit> && (cd /tmp/base && go test -c -o /tmp/base.test ./internal/bench/)
#   go test -c -o /tmp/new.test ./internal/bench/
#   tools/bench/ab.sh CaseB 5 /tmp/base.test /tmp/new.test
#
# Environment: BENCHTIME (default 2x), the -test.benchtime of each run.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 BENCH ROUNDS TESTBIN..." >&2
  exit 2
fi
bench=$1 rounds=$2
shift 2
declare -A res
for _ in $(seq "$rounds"); do
  for bin in "$@"; do
    ms=$("$bin" -test.run '^$' -test.bench "$bench" -test.benchtime "${BENCHTIME:-2x}" 2>&1 |
      awk '/ms\/step/ { for (i = 1; i <= NF; i++) if ($(i+1) == "ms/step") print $i }')
    if [ -z "$ms" ]; then
      echo "$bin: no ms/step in the output of -test.bench $bench" >&2
      exit 1
    fi
    res[$bin]="${res[$bin]:-} $ms"
  done
done
for bin in "$@"; do
  printf '%s: %s  (all:%s)\n' "$bin" "$(tr ' ' '\n' <<<"${res[$bin]}" | sed '/^$/d' | sort -n |
    awk '{ a[NR] = $1 } END { printf "min %s median %s n=%d", a[1], a[int((NR+1)/2)], NR }')" "${res[$bin]}"
done

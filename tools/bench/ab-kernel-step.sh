#!/usr/bin/env bash
# tools/bench/ab-kernel-step.sh BIN CASE ROUNDS [KINDS] — `simclr bench`
# throughput with each GEMM kernel kind (GEMM_KERNEL), interleaved ROUNDS
# times, for case a (ResNet-18 w64, 32 px, 64 pairs) or b (Fashion-MNIST
# model) of tools/bench/bench-cpu.sh; prints every run's pairs/s and the
# median, min and max per kind. KINDS defaults to "avx2 avx512".
# Environment: STEPS (default 4), WARMUP (1).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 BIN a|b ROUNDS [KINDS]" >&2
  exit 2
fi
bin=$1 case=$2 rounds=$3 kinds=${4:-avx2 avx512}
case "$case" in
a) args=(--set data.format=synthetic --set model.arch=resnet18 --set model.stem=cifar --set model.width=64
  --set data.image_size=32 --set train.batch_size=64 --set optim.name=lars --set optim.lr_scaling=linear) ;;
b) args=(--config configs/fashion-mnist.yaml) ;;
*) echo "$0: case must be a or b" >&2; exit 2 ;;
esac
declare -A res
for r in $(seq "$rounds"); do
  for kind in $kinds; do
    pps=$(GEMM_KERNEL=$kind "$bin" bench --device cpu --json --steps "${STEPS:-4}" --warmup "${WARMUP:-1}" "${args[@]}" |
      grep -o '"pairs_per_s":[0-9.]*' | cut -d: -f2)
    printf 'round %d %-8s %s pairs/s (load %s)\n' "$r" "$kind" "$pps" "$(cut -d' ' -f1 /proc/loadavg)"
    res[$kind]="${res[$kind]:-} $pps"
  done
done
for kind in $kinds; do
  printf '%-8s %s\n' "$kind" "$(tr ' ' '\n' <<<"${res[$kind]}" | sed '/^$/d' | sort -g |
    awk '{ a[NR] = $1 } END { printf "median %.2f min %.2f max %.2f pairs/s (n=%d)", a[int((NR+1)/2)], a[1], a[NR], NR }')"
done

#!/usr/bin/env bash
# tools/bench/torch-step-probe.sh ROUNDS [VARIANT...] — what makes
# tools/bench/torch_step.py slower than a plain PyTorch training loop?
# Runs torch_step.py on case b's shapes (the Fashion-MNIST model: ResNet-18
# CIFAR stem, width 16, 1 channel, 28 px, 256 pairs) in several variants,
# interleaved ROUNDS times (base, v1, v2, ..., base, v1, ...), and prints
# every run's pairs/s with the load average, then median, min and max per
# variant. Variants (default: all):
#   base      the settings bench-cpu.sh used before the fix: 1 warm-up + 4 timed steps
#   warm5     5 warm-up steps before the 4 timed ones
#   steps12   1 warm-up + 12 timed steps
#   fmnist    real Fashion-MNIST images instead of N(0,1) values
#   definit   PyTorch's default layer init instead of torchvision's kaiming
#   denormal  torch.set_flush_denormal(True)
#   chlast    channels_last model and batch
#   interop1  torch.set_num_interop_threads(1)
#   omp       OMP_NUM_THREADS=THREADS and MKL_NUM_THREADS=THREADS in the environment
#   passive   OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep instead of spinning at barriers)
#   loop      not torch_step.py: a plain training loop, tools/bench/torch_epoch.py on
#             the first 1536 Fashion-MNIST images (6 steps, augmented, LARS);
#             pairs/s = 256 / its median step time (augmentation excluded)
# Environment: THREADS (default nproc), PYTHON (/usr/bin/python3).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 ROUNDS [VARIANT...]" >&2
  exit 2
fi
rounds=$1
shift
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(base warm5 steps12 fmnist definit denormal chlast interop1 omp passive loop)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
THREADS=${THREADS:-$(nproc)}
common=(--arch resnet18 --stem cifar --width 16 --in-channels 1 --image-size 28 --batch 256
  --head-hidden 0 --head-out 64 --tau 0.5 --threads "$THREADS")

run_variant() {
  local env=() args=(--warmup 1 --steps 4)
  case "$1" in
  base) ;;
  warm5) args=(--warmup 5 --steps 4) ;;
  steps12) args=(--warmup 1 --steps 12) ;;
  fmnist) args+=(--input fmnist) ;;
  definit) args+=(--init default) ;;
  denormal) args+=(--flush-denormal) ;;
  chlast) args+=(--channels-last) ;;
  interop1) args+=(--interop-threads 1) ;;
  omp) env=(OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS") ;;
  passive) env=(OMP_WAIT_POLICY=PASSIVE) ;;
  loop)
    "$PYTHON" "$ROOT/tools/bench/torch_epoch.py" --limit 1536 --threads "$THREADS" |
      "$PYTHON" -c 'import json, sys; d = json.loads(sys.stdin.read()); print(json.dumps({"pairs_per_s": round(256000 / d["step_ms_median"], 3), "step_ms": [d["step_ms_median"]]}))'
    return ;;
  *) echo "$0: unknown variant $1" >&2; exit 2 ;;
  esac
  env "${env[@]}" "$PYTHON" "$ROOT/tools/bench/torch_step.py" "${common[@]}" "${args[@]}"
}

declare -A res
for r in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    out=$(run_variant "$v")
    pps=$(grep -o '"pairs_per_s": [0-9.]*' <<<"$out" | awk '{ print $2 }')
    steps=$(grep -o '"step_ms": \[[^]]*\]' <<<"$out" | sed 's/"step_ms": //')
    printf 'round %d %-9s %8s pairs/s  step_ms %s  (load %s)\n' "$r" "$v" "$pps" "$steps" "$(cut -d' ' -f1 /proc/loadavg)"
    res[$v]="${res[$v]:-} $pps"
  done
done
for v in "${variants[@]}"; do
  printf '%-9s %s\n' "$v" "$(tr ' ' '\n' <<<"${res[$v]}" | sed '/^$/d' | sort -g |
    awk '{ a[NR] = $1 } END { printf "median %.1f min %.1f max %.1f pairs/s (n=%d)", a[int((NR+1)/2)], a[1], a[NR], NR }')"
done

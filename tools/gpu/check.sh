#!/usr/bin/env bash
# tools/gpu/check.sh OUTDIR — the GPU check, runnable on a machine without Go:
# needs bin/simclr-cuda and bin/cuda-parity.test (make gpu-bundle) and an
# NVIDIA GPU. Runs the backend parity suite on the GPU, the parity suite
# again under compute-sanitizer (memcheck, racecheck, synccheck, initcheck)
# when that tool is installed, `simclr bench` for ResNet-18 (CIFAR stem,
# 32 px, 512 pairs), a second short bench with --kernel-times (peak memory
# and the device time per kernel from CUDA events), a 4,096-pair bench with
# train.recompute=true whose peak must be at most 24 GB, a short pretrain through
# NCCL on one rank and, with 2 GPUs, on 2 ranks, each against one process
# (needs libnccl.so.2), and PyTorch on the same step when it is installed,
# and writes everything into OUTDIR.
#
# The report ends with one verdict line per step (PASS name, FAIL name
# (why), SKIP name (why)), also written to OUTDIR/verdicts.txt; the exit
# status is 1 when any step failed, 0 otherwise.
#
# Environment: SANITIZER_RUN (go test -run pattern for the sanitizer runs,
# default: every test), SANITIZER_TIMEOUT (seconds per sanitizer tool,
# default 900), COMPUTE_SANITIZER (the tool; default compute-sanitizer on
# PATH, else /usr/local/cuda/bin/compute-sanitizer), NCCL_TOL (relative
# final-loss tolerance of the NCCL runs, default 1e-3), NCCL_PORT (the
# 2-rank rendezvous port, default 29517).
set -uo pipefail
out="${1:-gpu-report}"
mkdir -p "$out" || { echo "check.sh: cannot create the report directory $out" >&2; exit 1; }
out="$(cd "$out" && pwd)"
here="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$here" || exit 1

simclr=bin/simclr-cuda
parity=bin/cuda-parity.test
verdicts=()
failed=0

# verdict STATUS NAME [WHY]: records one step's outcome.
verdict() {
  local line="$1 $2"
  [ -n "${3:-}" ] && line="$line ($3)"
  verdicts+=("$line")
  [ "$1" = FAIL ] && failed=1
  return 0
}

# why RC: the reason text for a command's exit status.
why() {
  case "$1" in
    124) echo "timed out" ;;
    126) echo "exit 126: not executable" ;;
    127) echo "exit 127: command or shared library not found" ;;
    *) echo "exit $1" ;;
  esac
}

# need NAME FILE...: records FAIL NAME when a file is missing; status 1 then.
need() {
  local name="$1" f
  shift
  for f in "$@"; do
    if [ ! -x "$f" ]; then
      verdict FAIL "$name" "missing $f; build it with make gpu-bundle"
      return 1
    fi
  done
}

# step NAME LOG CMD...: runs CMD, appending its output to LOG and echoing it,
# and records PASS or FAIL from its exit status.
step() {
  local name="$1" log="$2"
  shift 2
  "$@" >>"$log" 2>&1
  local rc=$?
  if [ "$rc" -eq 0 ]; then verdict PASS "$name"; else verdict FAIL "$name" "$(why "$rc")"; fi
  return "$rc"
}

echo "# GPU check $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$out/device.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >>"$out/device.txt" 2>&1 ||
  echo "nvidia-smi not available" >>"$out/device.txt"
if need device "$simclr"; then
  step device "$out/device.txt" bash -c "$simclr version && $simclr devices"
fi
cat "$out/device.txt"

echo "## parity suite (-tags cuda)" >"$out/parity.txt"
if need parity "$parity"; then
  # The tests read testdata relative to their package directory.
  step parity "$out/parity.txt" bash -c "cd internal/backend/cuda && timeout 300 ../../../$parity -test.count=1 -test.v"
fi
tail -60 "$out/parity.txt"

sanitizer="${COMPUTE_SANITIZER:-}"
if [ -z "$sanitizer" ]; then
  sanitizer="$(command -v compute-sanitizer || true)"
  if [ -z "$sanitizer" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
    sanitizer=/usr/local/cuda/bin/compute-sanitizer
  fi
fi
for tool in memcheck racecheck synccheck initcheck; do
  name="compute-sanitizer $tool"
  if [ -z "$sanitizer" ] || ! command -v "$sanitizer" >/dev/null; then
    verdict SKIP "$name" "not installed"
    continue
  fi
  need "$name" "$parity" || continue
  log="$out/sanitizer-$tool.txt"
  echo "## $name over the parity suite" >"$log"
  step "$name" "$log" bash -c "cd internal/backend/cuda && timeout ${SANITIZER_TIMEOUT:-900} \
    '$sanitizer' --tool $tool --error-exitcode 1 ../../../$parity -test.count=1 -test.run '${SANITIZER_RUN:-.}'"
  tail -20 "$log"
done

bench=("$simclr" bench --device cuda --set data.format=synthetic --set model.arch=resnet18
  --set model.stem=cifar --set model.width=64 --set data.image_size=32 --set train.batch_size=512
  --set model.head_hidden=512 --set model.head_out=128 --set optim.name=lars)

echo "## simclr bench" >"$out/bench.txt"
if need bench "$simclr"; then
  step bench "$out/bench.txt" timeout 240 "${bench[@]}" --steps 10 --warmup 2 --json
fi
cat "$out/bench.txt"

# Throughput comes from the run above: recording two events per launch adds
# to the step time of this one.
echo "## simclr bench --kernel-times (peak memory; device time per kernel, CUDA events around every launch)" >"$out/kernels.txt"
if need kernel-times "$simclr"; then
  step kernel-times "$out/kernels.txt" timeout 240 "${bench[@]}" --steps 5 --warmup 2 --kernel-times
fi
cat "$out/kernels.txt"

# Issue #11's memory target: 4,096 pairs at 32 px in 24 GB, with
# activation recomputation. The peak the backend's pool handed out (bench
# --json peak_bytes) must be at most 24e9 bytes.
echo "## simclr bench, 4096 pairs, train.recompute=true (peak memory <= 24 GB)" >"$out/bench4096.txt"
if need bench-4096-recompute "$simclr"; then
  step bench-4096-recompute "$out/bench4096.txt" timeout 300 "${bench[@]}" --set train.batch_size=4096 \
    --set train.recompute=true --steps 3 --warmup 1 --json &&
    step memory-24gb "$out/bench4096.txt" awk '
      match($0, /"peak_bytes": *[0-9]+/) { v = substr($0, RSTART, RLENGTH); sub(/.*: */, "", v); p = v + 0 }
      END {
        if (p == 0) { print "no peak_bytes in the bench JSON"; exit 1 }
        printf "peak %.2f GB handed out by the pool (target: at most 24 GB)\n", p / 1e9
        exit (p > 24e9)
      }' "$out/bench4096.txt"
fi
cat "$out/bench4096.txt"

# NCCL: a short pretrain on synthetic data through dist.backend=nccl on
# one rank (the device collectives and the NCCL calls, on a communicator
# of one GPU), then, with 2 GPUs, on 2 ranks (torchrun-style: the unique ID
# over the TCP rendezvous, LOCAL_RANK picks the GPU). Each is compared with
# one plain process on the same data by the final loss (printed with 4
# decimals; within NCCL_TOL relative, default 1e-3: summation order differs,
# while training without the gathered negatives differs by ~0.5).
pre=("$simclr" pretrain --device cuda --set data.format=synthetic --set data.synthetic_size=128
  --set data.image_size=16 --set model.width=8 --set model.head_out=16 --set train.batch_size=32
  --set train.epochs=2 --set optim.name=lars --set eval.knn_every=0)

# final_loss LOG: the last "final loss X" of a pretrain log.
final_loss() { sed -n 's/.*final loss \([-0-9.eE+naif]*\).*/\1/p' "$1" | tail -1; }

# same_loss NAME LOG REF: PASS when both logs end with a final loss and they
# agree within NCCL_TOL relative, and LOG shows the NCCL collectives.
same_loss() {
  local name="$1" a b
  a="$(final_loss "$2")" b="$(final_loss "$3")"
  if [ -z "$a" ] || [ -z "$b" ]; then
    verdict FAIL "$name" "no final loss in $(basename "$2") or $(basename "$3")"
  elif ! grep -q "collectives through nccl" "$2"; then
    verdict FAIL "$name" "the run did not report NCCL collectives"
  elif awk -v a="$a" -v b="$b" -v t="${NCCL_TOL:-1e-3}" 'BEGIN { d = a - b; if (d < 0) d = -d; s = b < 0 ? -b : b; exit !(d <= t * s) }'; then
    verdict PASS "$name"
  else
    verdict FAIL "$name" "final loss $a vs $b in one process"
  fi
}

echo "## NCCL, 1 rank vs 1 process" >"$out/nccl-1.txt"
ref="$out/nccl-ref.txt"
if need "nccl 1 rank" "$simclr"; then
  echo "## one process (reference)" >"$ref"
  if timeout 300 env -u MASTER_ADDR -u WORLD_SIZE -u RANK "${pre[@]}" --set dist.backend=single --out "$out/nccl-ref" >>"$ref" 2>&1; then
    if timeout 300 env -u MASTER_ADDR -u WORLD_SIZE -u RANK "${pre[@]}" --set dist.backend=nccl --out "$out/nccl-1" >>"$out/nccl-1.txt" 2>&1; then
      same_loss "nccl 1 rank" "$out/nccl-1.txt" "$ref"
    else
      verdict FAIL "nccl 1 rank" "$(why $?)"
    fi
  else
    verdict FAIL "nccl 1 rank" "reference run: $(why $?)"
  fi
  cat "$ref" "$out/nccl-1.txt"
fi

gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')"
echo "## NCCL, 2 ranks vs 1 process" >"$out/nccl-2.txt"
if [ "${gpus:-0}" -lt 2 ]; then
  verdict SKIP "nccl 2 ranks" "nvidia-smi -L lists ${gpus:-0} GPU(s); needs 2"
elif need "nccl 2 ranks" "$simclr"; then
  pids=()
  for r in 0 1; do
    MASTER_ADDR=127.0.0.1 MASTER_PORT="${NCCL_PORT:-29517}" WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r \
      timeout 300 "${pre[@]}" --set dist.backend=nccl --out "$out/nccl-2" >"$out/nccl-2-rank$r.txt" 2>&1 &
    pids+=($!)
  done
  rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=$?; done
  cat "$out/nccl-2-rank0.txt" "$out/nccl-2-rank1.txt" >>"$out/nccl-2.txt"
  if [ "$rc" -ne 0 ]; then
    verdict FAIL "nccl 2 ranks" "$(why "$rc")"
  elif [ -z "$(final_loss "$ref")" ]; then
    verdict FAIL "nccl 2 ranks" "no reference run (see nccl 1 rank)"
  else
    same_loss "nccl 2 ranks" "$out/nccl-2-rank0.txt" "$ref"
  fi
  cat "$out/nccl-2.txt"
fi

if python3 -c 'import torch' 2>/dev/null; then
  echo "## pytorch (same step)" >"$out/pytorch.txt"
  timeout 120 python3 tools/bench/torch_step.py --device cuda --arch resnet18 --stem cifar --width 64 \
    --in-channels 3 --image-size 32 --batch 512 --steps 10 --warmup 2 >>"$out/pytorch.txt" 2>&1
  rc=$?
  cat "$out/pytorch.txt"
  # A comparison only: a broken PyTorch install is not a failure of simclr.
  if [ "$rc" -eq 0 ]; then verdict PASS pytorch; else verdict WARN pytorch "$(why "$rc"); comparison only, not counted"; fi
else
  verdict SKIP pytorch "python3 -c 'import torch' failed"
fi

{
  echo "## verdicts"
  printf '%s\n' "${verdicts[@]}"
} | tee "$out/verdicts.txt"
echo "report in $out/"
exit "$failed"

#!/usr/bin/env bash
# tools/gpu/check.sh OUTDIR — the GPU check, runnable on a machine without Go:
# needs bin/simclr-cuda and bin/cuda-parity.test (make gpu-bundle) and an
# NVIDIA GPU. Runs the backend parity suite on the GPU, the parity suite
# again under compute-sanitizer (memcheck, racecheck, synccheck, initcheck)
# when that tool is installed, `simclr bench` for ResNet-18 (CIFAR stem,
# 32 px, 512 pairs), a second short bench with --kernel-times (peak memory
# and the device time per kernel from CUDA events), and PyTorch on the same
# step when it is installed, and writes everything into OUTDIR.
#
# The report ends with one verdict line per step (PASS name, FAIL name
# (why), SKIP name (why)), also written to OUTDIR/verdicts.txt; the exit
# status is 1 when any step failed, 0 otherwise.
#
# Environment: SANITIZER_RUN (go test -run pattern for the sanitizer runs,
# default: every test), SANITIZER_TIMEOUT (seconds per sanitizer tool,
# default 900), COMPUTE_SANITIZER (the tool; default compute-sanitizer on
# PATH, else /usr/local/cuda/bin/compute-sanitizer).
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

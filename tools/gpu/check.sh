#!/usr/bin/env bash
# tools/gpu/check.sh OUTDIR — the GPU check, runnable on a machine without Go:
# needs bin/simclr-cuda and bin/cuda-parity.test (make gpu-bundle) and an
# NVIDIA GPU. Runs the backend parity suite on the GPU, `simclr bench` for
# ResNet-18 (CIFAR stem, 32 px, 512 pairs), a second short bench with
# --kernel-times (peak memory and the device time per kernel from CUDA
# events), and PyTorch on the same step when it is installed, and writes
# everything into OUTDIR.
set -uo pipefail
out="${1:-gpu-report}"
mkdir -p "$out"
here="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$here"
{
  echo "# GPU check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  ./bin/simclr-cuda version
  ./bin/simclr-cuda devices
} 2>&1 | tee "$out/device.txt"

echo "## parity suite (-tags cuda)" | tee "$out/parity.txt"
(cd internal/backend/cuda && timeout 300 ../../../bin/cuda-parity.test -test.count=1 -test.v 2>&1) | tail -60 | tee -a "$out/parity.txt"

bench=(./bin/simclr-cuda bench --device cuda --set data.format=synthetic --set model.arch=resnet18
  --set model.stem=cifar --set model.width=64 --set data.image_size=32 --set train.batch_size=512
  --set model.head_hidden=512 --set model.head_out=128 --set optim.name=lars)

echo "## simclr bench" | tee "$out/bench.txt"
timeout 240 "${bench[@]}" --steps 10 --warmup 2 --json 2>&1 | tee -a "$out/bench.txt"

# Throughput comes from the run above: recording two events per launch adds
# to the step time of this one.
echo "## simclr bench --kernel-times (peak memory; device time per kernel, CUDA events around every launch)" | tee "$out/kernels.txt"
timeout 240 "${bench[@]}" --steps 5 --warmup 2 --kernel-times 2>&1 | tee -a "$out/kernels.txt"

if python3 -c 'import torch' 2>/dev/null; then
  echo "## pytorch (same step)" | tee -a "$out/bench.txt"
  timeout 120 python3 tools/bench/torch_step.py --device cuda --arch resnet18 --stem cifar --width 64 \
    --in-channels 3 --image-size 32 --batch 512 --steps 10 --warmup 2 2>&1 | tee -a "$out/bench.txt"
fi
echo "report in $out/"

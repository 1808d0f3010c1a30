#!/usr/bin/python3
"""Times one 3x3 convolution (forward, data and filter gradients) in PyTorch
on the CPU in fp32 and under torch.autocast("cpu", dtype=torch.bfloat16),
interleaved, to see whether bf16 pays on this CPU (docs/precision.md).

    /usr/bin/python3 tools/precision/torch_autocast.py [rounds]

Shapes are the CPU backend's benchmark shapes (internal/backend/cpu
bench_test.go): N, C, size; 3x3, stride 1, padding 1, C -> C channels.
"""
import statistics
import sys
import time

import torch

torch.set_num_threads(2)
SHAPES = [("fm_layer1", 512, 16, 28), ("fm_layer3", 512, 64, 7), ("w16layer4", 256, 128, 4)]
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def step(conv, x, bf16):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = conv(x)
    y.float().sum().backward()


print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
      f"mkldnn available: {torch.backends.mkldnn.is_available()}")
for name, n, c, s in SHAPES:
    conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
    x = torch.randn(n, c, s, s, requires_grad=True)
    times = {False: [], True: []}
    for bf16 in (False, True):
        step(conv, x, bf16)  # warm-up
    for _ in range(rounds):
        for bf16 in (False, True):
            t0 = time.perf_counter()
            step(conv, x, bf16)
            times[bf16].append(time.perf_counter() - t0)
    for bf16, label in ((False, "fp32"), (True, "bf16 autocast")):
        v = [t * 1e3 for t in times[bf16]]
        print(f"{name} n{n} c{c} {s}x{s} {label}: median {statistics.median(v):.0f} ms "
              f"(range {min(v):.0f}-{max(v):.0f}) fwd+bwd")

#!/usr/bin/python3
"""Time one SimCLR training step in PyTorch on the CPU, for comparison with
`simclr bench`.

The step is the same as simclr's: copy a fixed random batch of both views
[2N, C, S, S] into the input tensor, run a torchvision ResNet (fc = Identity,
optional CIFAR stem, base width W so the stages have W, 2W, 4W, 8W channels)
and a 2-layer projection MLP on it, L2-normalise, take the cosine similarity
matrix, the NT-Xent loss at temperature tau, back-propagate and update the
parameters. The update is plain torch.optim.SGD with momentum 0.9 and weight
decay 1e-6, not LARS: LARS adds two norms per parameter tensor, which is
negligible next to the convolutions.

Warm-up steps are not timed. Prints one JSON line, e.g.
{"impl": "pytorch", "torch": "1.13.0", "threads": 2, "pairs_per_s": 41.2, ...}

Needs Debian's python3-torch and python3-torchvision (/usr/bin/python3).
"""

import argparse
import json
import os
import resource
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.exit(f"torch_step.py: cannot import torch/torchvision ({e}); "
             "install them with: apt-get install python3-torch python3-torchvision")

ARCHS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


class WidthResNet(ResNet):
    """torchvision's ResNet with a configurable base width and input channels.

    torchvision hard-codes 64 as the base width; this builds the same layers
    (through ResNet._make_layer, so the block structure is torchvision's) with
    stage widths W, 2W, 4W, 8W. The CIFAR stem replaces conv1 by a 3x3 stride-1
    convolution and the max-pool by Identity. fc is Identity, so forward
    returns the pooled features.
    """

    def __init__(self, arch, width, in_channels, stem):
        nn.Module.__init__(self)
        block, layers = ARCHS[arch]
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        # width_per_group 64 keeps the bottleneck's mid width equal to planes.
        self.base_width = 64
        if stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if stem == "cifar" else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Identity()
        self.feature_dim = 8 * width * block.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class SimCLRNet(nn.Module):
    """Encoder f and projection head g: Linear(D,H) + ReLU + Linear(H,out)."""

    def __init__(self, arch, width, in_channels, stem, head_hidden, head_out):
        super().__init__()
        self.encoder = WidthResNet(arch, width, in_channels, stem)
        d = self.encoder.feature_dim
        h = head_hidden or d
        self.projector = nn.Sequential(nn.Linear(d, h), nn.ReLU(inplace=True), nn.Linear(h, head_out))

    def forward(self, x):
        return self.projector(self.encoder(x))


def nt_xent(z, tau):
    """NT-Xent over the 2N rows of z: row i's positive is i+N (mod 2N), its
    own similarity is excluded, the loss is the mean cross-entropy."""
    z = F.normalize(z, dim=1)
    rows = z.shape[0]
    n = rows // 2
    sim = z @ z.t() / tau
    sim = sim.masked_fill(torch.eye(rows, dtype=torch.bool), float("-inf"))
    target = (torch.arange(rows) + n) % rows
    return F.cross_entropy(sim, target)


def fmnist_batch(shape, path="/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
    """The first shape[0] Fashion-MNIST training images, resized to the batch's
    size when needed and normalised with the data set's mean and std."""
    import gzip
    n, c, s, _ = shape
    if c != 1:
        sys.exit("torch_step.py: --input fmnist needs --in-channels 1")
    with gzip.open(path, "rb") as f:
        raw = f.read(16 + n * 28 * 28)
    x = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).float().div(255).view(n, 1, 28, 28)
    if s != 28:
        x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
    return (x - 0.2860) / 0.3530


def positive_int(s):
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be >= 1")
    return v


def non_negative_int(s):
    v = int(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must be >= 0")
    return v


def parse_args(argv):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", choices=sorted(ARCHS), default="resnet18")
    p.add_argument("--stem", choices=["cifar", "imagenet"], default="cifar")
    p.add_argument("--width", type=positive_int, default=64, help="base width W (64 = torchvision)")
    p.add_argument("--in-channels", type=int, choices=[1, 3], default=3)
    p.add_argument("--image-size", type=positive_int, default=32)
    p.add_argument("--batch", type=positive_int, default=64, help="pairs N per batch (2N images)")
    p.add_argument("--steps", type=positive_int, default=5, help="timed steps")
    p.add_argument("--warmup", type=non_negative_int, default=1, help="untimed steps run first")
    p.add_argument("--threads", type=positive_int, default=cores, help="torch.set_num_threads")
    p.add_argument("--head-hidden", type=non_negative_int, default=0, help="projection hidden size (0 = D)")
    p.add_argument("--head-out", type=positive_int, default=64, help="projection output size")
    p.add_argument("--tau", type=float, default=0.5, help="NT-Xent temperature")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    # Variants for finding out what makes a step slower than a plain training
    # loop's (tools/bench/torch-step-probe.sh runs them side by side).
    p.add_argument("--input", choices=["randn", "fmnist"], default="randn",
                   help="batch values: N(0,1), or real Fashion-MNIST images normalised (1 channel only)")
    p.add_argument("--init", choices=["kaiming", "default"], default="kaiming",
                   help="kaiming: torchvision's ResNet init; default: PyTorch's layer defaults")
    p.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True)")
    p.add_argument("--channels-last", action="store_true", help="model and batch in channels_last memory format")
    p.add_argument("--interop-threads", type=int, default=0, help="torch.set_num_interop_threads (0 = leave)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (host-to-device copy of the batch is timed, as in simclr bench)")
    a = p.parse_args(argv)
    if a.batch < 2:
        p.error("--batch must be at least 2 pairs (NT-Xent needs a negative)")
    if not a.tau > 0:
        p.error("--tau must be > 0")
    return a


def main(argv):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.interop_threads > 0:
        torch.set_num_interop_threads(a.interop_threads)
    if a.flush_denormal:
        torch.set_flush_denormal(True)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    net = SimCLRNet(a.arch, a.width, a.in_channels, a.stem, a.head_hidden, a.head_out)
    if a.init == "default":
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
                m.reset_parameters()
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    net = net.to(dev, memory_format=fmt)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, weight_decay=1e-6)
    shape = (2 * a.batch, a.in_channels, a.image_size, a.image_size)
    if a.input == "fmnist":
        host = fmnist_batch(shape)
    else:
        host = torch.randn(shape)
    x = torch.empty(shape, device=dev).contiguous(memory_format=fmt)

    def step():
        x.copy_(host)
        opt.zero_grad(set_to_none=True)
        loss = nt_xent(net(x), a.tau)
        loss.backward()
        opt.step()
        return loss.item()  # .item() synchronises the device

    for _ in range(a.warmup):
        step()
    step_ms = []
    start = time.perf_counter()
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        step_ms.append(1000 * (time.perf_counter() - t0))
    total = time.perf_counter() - start
    if loss != loss:
        sys.exit("torch_step.py: the loss became NaN; lower --lr")
    out = {
        "impl": "pytorch",
        "device": a.device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "pairs_per_s": round(a.batch * a.steps / total, 3),
        "ms_per_step": round(1000 * total / a.steps, 3),
        "batch_pairs": a.batch,
        "arch": a.arch,
        "stem": a.stem,
        "width": a.width,
        "in_channels": a.in_channels,
        "image_size": a.image_size,
        "input": a.input,
        "init": a.init,
        "flush_denormal": a.flush_denormal,
        "channels_last": a.channels_last,
        "interop_threads": torch.get_num_interop_threads(),
        "warmup": a.warmup,
        "steps": a.steps,
        "step_ms": [round(v, 3) for v in step_ms],
        "final_loss": round(loss, 6),
        # ru_maxrss is in KiB on Linux.
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])

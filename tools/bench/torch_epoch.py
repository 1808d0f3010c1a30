#!/usr/bin/python3
"""One epoch of SimCLR pretraining on Fashion-MNIST in plain PyTorch on the
CPU, for comparison with `simclr pretrain --config configs/fashion-mnist.yaml
--set data.limit=N --set train.epochs=1`.

What a PyTorch user would write for simclr's configs/fashion-mnist.yaml:

- data: the IDX files of /usr/share/datasets/fashion-mnist read once into a
  uint8 tensor (the first --limit training images, shuffled each epoch;
  drop_last, like simclr);
- augmentation, batched on the CPU in the training process (no DataLoader
  workers: on 2 cores they would compete with the step's threads): for
  both views of the whole batch, RandomResizedCrop(28, scale (0.08, 1),
  ratio (3/4, 4/3)) and a horizontal flip (p 0.5) as one affine grid per
  image through F.affine_grid + F.grid_sample (bilinear), then with p 0.8
  a colour jitter of brightness 0.4 and contrast 0.4 (strength 0.5 x 0.8;
  saturation and hue do nothing on gray images) in a random order per
  image, clamping to [0, 1], and the normalisation by Fashion-MNIST's
  mean 0.2860 and std 0.3530. No blur (blur_p 0), no grayscale (1 channel).
  The views are not bit-identical to simclr's (different samplers and
  random streams); the work per image is the same kind and size;
- model: tools/bench/torch_step.py's SimCLRNet (torchvision BasicBlocks,
  ResNet-18 layout, CIFAR stem, base width 16, head 128-128-64);
- loss: NT-Xent at tau 0.5 (torch_step.py's nt_xent);
- optimizer: LARS as simclr's (SGD momentum 0.9, weight decay 1e-6,
  trust coefficient 0.001, biases and BN parameters excluded from decay
  and adaptation), lr 1.2 x batch/256 with a linear warm-up over the first
  epoch (--optim sgd: torch.optim.SGD with the same momentum and decay).

The timer runs around the epoch loop only (augmentation, steps, the loss
read-back), not around start-up, data reading or model building. Prints one
JSON line with seconds, pairs_per_s, step statistics and the time spent in
augmentation (aug_s) and in the training steps (step_s); step_pairs_per_s is
the rate of the steps after --warmup with augmentation left out, the figure
tools/bench/bench-cpu.sh compares with `simclr bench` in case b.

Needs Debian's python3-torch, python3-torchvision and python3-numpy
(/usr/bin/python3).
"""

import argparse
import gzip
import json
import math
import os
import resource
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.exit(f"torch_epoch.py: cannot import torch ({e}); install python3-torch python3-torchvision")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import SimCLRNet, nt_xent  # noqa: E402


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, h, w = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        sys.exit(f"torch_epoch.py: {path}: not an IDX image file (magic {magic})")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(int(n), 1, int(h), int(w)).copy())


class LARS(torch.optim.Optimizer):
    """LARS (You et al. 2017) as in simclr's optim package: for each tensor,
    g += wd*w, then g *= trust*|w|/|g| (when both norms are > 0), then
    SGD momentum. Tensors with exclude=True (biases, BN) skip both."""

    def __init__(self, groups, lr, momentum=0.9, weight_decay=1e-6, trust_coef=1e-3):
        super().__init__(groups, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coef=trust_coef, exclude=False))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if not g["exclude"]:
                    d = d.add(p, alpha=g["weight_decay"])
                    wn, gn = torch.linalg.vector_norm(p), torch.linalg.vector_norm(d)
                    ratio = torch.where((wn > 0) & (gn > 0), g["trust_coef"] * wn / gn, torch.ones_like(wn))
                    d = d.mul(ratio)
                st = self.state[p]
                if "mom" not in st:
                    st["mom"] = torch.clone(d).detach()
                else:
                    st["mom"].mul_(g["momentum"]).add_(d)
                p.add_(st["mom"], alpha=-g["lr"])


class BatchAugment:
    """Both views of a batch, augmented as batched tensor ops (see the module
    docstring)."""

    def __init__(self, size, mean, std, strength=0.5, gen=None):
        self.size, self.mean, self.std = size, mean, std
        self.bright = strength * 0.8
        self.contrast = strength * 0.8
        self.gen = gen

    def _u(self, n, lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=self.gen)

    def crop_theta(self, n, h, w):
        # torchvision's RandomResizedCrop sampling, vectorised: 10 tries per
        # image, the first that fits wins, else the whole image.
        area = h * w
        tries = 10
        target = area * self._u(n * tries, 0.08, 1.0).view(n, tries)
        logr = self._u(n * tries, math.log(3 / 4), math.log(4 / 3)).view(n, tries)
        ar = torch.exp(logr)
        cw = torch.round(torch.sqrt(target * ar))
        ch = torch.round(torch.sqrt(target / ar))
        ok = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
        first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n,), -1))
        idx = first.clamp(min=0).unsqueeze(1)
        cw = torch.where(first >= 0, cw.gather(1, idx).squeeze(1), torch.full((n,), float(w)))
        ch = torch.where(first >= 0, ch.gather(1, idx).squeeze(1), torch.full((n,), float(h)))
        x0 = torch.floor(torch.rand(n, generator=self.gen) * (w - cw + 1))
        y0 = torch.floor(torch.rand(n, generator=self.gen) * (h - ch + 1))
        flip = torch.where(torch.rand(n, generator=self.gen) < 0.5, -1.0, 1.0)
        # Affine map from output coordinates [-1, 1] to input coordinates.
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = flip * cw / w
        theta[:, 0, 2] = (2 * x0 + cw) / w - 1
        theta[:, 1, 1] = ch / h
        theta[:, 1, 2] = (2 * y0 + ch) / h - 1
        return theta

    def __call__(self, imgs):
        """imgs: uint8 [N, 1, H, W] -> float [2N, 1, size, size] (view 1 rows
        first, then view 2, as simclr's batch)."""
        n = imgs.shape[0]
        x = imgs.float().div_(255).repeat(2, 1, 1, 1)
        m = 2 * n
        theta = self.crop_theta(m, imgs.shape[2], imgs.shape[3])
        grid = F.affine_grid(theta, (m, 1, self.size, self.size), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        jit = (torch.rand(m, generator=self.gen) < 0.8).view(m, 1, 1, 1)
        b = self._u(m, max(0.0, 1 - self.bright), 1 + self.bright).view(m, 1, 1, 1)
        c = self._u(m, max(0.0, 1 - self.contrast), 1 + self.contrast).view(m, 1, 1, 1)
        b = torch.where(jit, b, torch.ones_like(b))
        c = torch.where(jit, c, torch.ones_like(c))
        bfirst = (torch.rand(m, generator=self.gen) < 0.5).view(m, 1, 1, 1)

        def bright(t):
            return (t * b).clamp_(max=1)

        def contr(t):
            mu = t.mean(dim=(1, 2, 3), keepdim=True)
            return (c * t + (1 - c) * mu).clamp_(0, 1)

        x = torch.where(bfirst, contr(bright(x)), bright(contr(x)))
        return x.clamp_(0, 1).sub_(self.mean).div_(self.std)


def positive_int(s):
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be >= 1")
    return v


def parse_args(argv):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="folder with train-images-idx3-ubyte.gz")
    p.add_argument("--limit", type=positive_int, default=12800, help="first N training images (simclr's data.limit)")
    p.add_argument("--epochs", type=positive_int, default=1)
    p.add_argument("--batch", type=positive_int, default=256, help="pairs N per batch")
    p.add_argument("--width", type=positive_int, default=16)
    p.add_argument("--image-size", type=positive_int, default=28)
    p.add_argument("--head-hidden", type=int, default=0)
    p.add_argument("--head-out", type=positive_int, default=64)
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--optim", choices=["lars", "sgd"], default="lars")
    p.add_argument("--lr", type=float, default=1.2, help="base lr, scaled by batch/256 (for --optim sgd as well; pass a smaller one there)")
    p.add_argument("--threads", type=positive_int, default=cores, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=1,
                   help="steps left out of step_pairs_per_s (the steady-state step rate that tools/bench/bench-cpu.sh reads)")
    return p.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    imgs = read_idx_images(os.path.join(a.data, "train-images-idx3-ubyte.gz"))[: a.limit]
    steps = imgs.shape[0] // a.batch  # drop_last
    if steps < 1:
        sys.exit(f"torch_epoch.py: {imgs.shape[0]} images are fewer than one batch of {a.batch}")
    net = SimCLRNet("resnet18", a.width, 1, "cifar", a.head_hidden, a.head_out)
    net.train()
    decay, excluded = [], []
    for name, prm in net.named_parameters():
        (excluded if prm.ndim <= 1 else decay).append(prm)
    base_lr = a.lr * a.batch / 256
    if a.optim == "lars":
        opt = LARS([dict(params=decay), dict(params=excluded, exclude=True)], lr=base_lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=base_lr, momentum=0.9, weight_decay=1e-6)
    warm = steps  # one warm-up epoch, as configs/fashion-mnist.yaml
    total = steps * a.epochs
    gen = torch.Generator().manual_seed(a.seed)
    aug = BatchAugment(a.image_size, 0.2860, 0.3530, gen=gen)

    step_ms, aug_ms, losses = [], [], []
    k = 0
    start = time.perf_counter()
    for epoch in range(a.epochs):
        perm = torch.randperm(imgs.shape[0], generator=gen)
        for s in range(steps):
            t0 = time.perf_counter()
            x = aug(imgs[perm[s * a.batch:(s + 1) * a.batch]])
            t1 = time.perf_counter()
            lr = base_lr * (k + 1) / warm if k < warm else base_lr * 0.5 * (1 + math.cos(math.pi * (k - warm) / max(1, total - warm)))
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss = nt_xent(net(x), a.tau)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            t2 = time.perf_counter()
            aug_ms.append(1000 * (t1 - t0))
            step_ms.append(1000 * (t2 - t1))
            k += 1
    secs = time.perf_counter() - start
    if losses[-1] != losses[-1]:
        sys.exit("torch_epoch.py: the loss became NaN")
    sm = sorted(step_ms)
    timed = step_ms[a.warmup:] if len(step_ms) > a.warmup else step_ms
    out = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "images": int(imgs.shape[0]),
        "epochs": a.epochs,
        "steps": k,
        "batch_pairs": a.batch,
        "optim": a.optim,
        "seconds": round(secs, 3),
        "seconds_per_epoch": round(secs / a.epochs, 3),
        "pairs_per_s": round(k * a.batch / secs, 3),
        "aug_s": round(sum(aug_ms) / 1000, 3),
        "step_s": round(sum(step_ms) / 1000, 3),
        "step_ms_median": round(sm[len(sm) // 2], 3),
        # Steps after --warmup only, augmentation excluded: comparable with
        # `simclr bench` (a fixed batch, warm-up steps untimed).
        "step_pairs_per_s": round(a.batch * len(timed) * 1000 / sum(timed), 3),
        "step_ms": [round(v, 3) for v in step_ms] if k <= 64 else None,
        "first_loss": round(losses[0], 6),
        "final_loss": round(losses[-1], 6),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])

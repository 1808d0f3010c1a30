#!/usr/bin/python3
"""Generate the PyTorch golden files in testdata/golden/.

Every Go golden test (internal/backend/cpu, internal/model, internal/optim,
internal/safetensors) reads these files; none of them needs Python. Run from
the repository root:

    /usr/bin/python3 tools/golden/gen.py            # writes testdata/golden/*.safetensors
    /usr/bin/python3 tools/golden/gen.py --check    # regenerates in memory, fails if a file differs

Design:
- Inputs are drawn from torch.Generator seeded from the case name (crc32), in
  float32, so adding a case never changes another one.
- All reference computations run in float64 on float32-representable inputs,
  single-threaded (deterministic BLAS order), and the results are rounded to
  float32 when stored. The golden values are therefore the exact answers to
  float32 precision; the Go tests' tolerances only measure the Go side's
  float32 rounding.
- Backward passes use loss = sum(out * r) with a stored random r, so every
  gradient is checked against a generic upstream gradient.
- The files are written with the tiny safetensors writer below (the Python
  safetensors package is not needed) to a temporary name, synced and renamed.

Requirements: Debian's python3-torch (1.13), python3-torchvision and python3-numpy.
"""

import argparse
import io
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck, resnet18

F64 = torch.float64

# --------------------------------------------------------------------------
# Minimal safetensors writer / reader (F32 and I64 only, like the Go package).
# --------------------------------------------------------------------------


def encode_safetensors(tensors, metadata):
    """Return the bytes of a safetensors file.

    tensors: list of (name, torch tensor) in data order; float tensors are
    rounded to float32, integer tensors stored as int64.
    metadata: dict of str -> str (keys sorted in the header).
    """
    header = {}
    if metadata:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    blobs = []
    offset = 0
    seen = set()
    for name, t in tensors:
        if name in seen:
            raise ValueError("duplicate tensor name %r" % name)
        seen.add(name)
        t = t.detach().contiguous().cpu()
        flat = t.reshape(-1).tolist()
        if t.dtype.is_floating_point:
            dtype = "F32"
            blob = struct.pack("<%df" % len(flat), *flat)
        elif t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            dtype = "I64"
            blob = struct.pack("<%dq" % len(flat), *flat)
        else:
            raise ValueError("tensor %r: unsupported dtype %s" % (name, t.dtype))
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    hdr = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hdr += b" " * ((8 - len(hdr) % 8) % 8)
    return struct.pack("<Q", len(hdr)) + hdr + b"".join(blobs)


def decode_safetensors(data):
    """Parse safetensors bytes into (dict name -> (dtype, shape, list), metadata)."""
    if len(data) < 8:
        raise ValueError("truncated: %d bytes" % len(data))
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("header length %d past end of file" % n)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    pos = 0
    for name, rec in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = rec["data_offsets"]
        if b != pos:
            raise ValueError("tensor %r: offsets not contiguous" % name)
        numel = math.prod(rec["shape"])
        fmt = {"F32": "f", "I64": "q"}[rec["dtype"]]
        size = struct.calcsize(fmt)
        if e - b != numel * size:
            raise ValueError("tensor %r: span %d != %d" % (name, e - b, numel * size))
        out[name] = (rec["dtype"], rec["shape"], list(struct.unpack("<%d%s" % (numel, fmt), body[b:e])))
        pos = e
    if pos != len(body):
        raise ValueError("trailing bytes")
    return out, meta


def write_atomic(path, data):
    tmp = path + ".tmp-gen"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class Store:
    """Collects named tensors and metadata for one golden file."""

    def __init__(self):
        self.tensors = []
        self.meta = {}

    def add(self, name, t):
        if not torch.is_tensor(t):
            t = torch.tensor(t, dtype=F64)
        # Snapshot now: state_dict() entries are live buffers that a later
        # forward pass would update in place.
        self.tensors.append((name, t.detach().clone()))

    def bytes(self):
        return encode_safetensors(self.tensors, self.meta)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def gen(name):
    """A generator seeded from the case name (stable across Python runs)."""
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


def randn(g, *shape, scale=1.0):
    """float32-representable normal values, returned as float64."""
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * scale).double()


def uniform(g, lo, hi, *shape):
    return (torch.rand(*shape, generator=g, dtype=torch.float32) * (hi - lo) + lo).double()


def leaf(t):
    return t.detach().clone().requires_grad_(True)


# --------------------------------------------------------------------------
# ops.safetensors: single backend ops
# --------------------------------------------------------------------------

CONV_CASES = [
    # name, N, Cin, Cout, K, stride, pad, H, W
    ("k3_s1_p1", 2, 3, 4, 3, 1, 1, 7, 9),
    ("k3_s2_p1_cin1", 2, 1, 3, 3, 2, 1, 9, 8),
    ("k1_s1_p0", 2, 4, 5, 1, 1, 0, 5, 5),
    ("k7_s2_p3", 1, 3, 8, 7, 2, 3, 15, 13),
    ("k1_s2_p0", 2, 6, 4, 1, 2, 0, 7, 7),
    ("k3_s2_p0", 2, 2, 3, 3, 2, 0, 8, 11),
    ("k3_s1_p1_c5x6", 3, 5, 6, 3, 1, 1, 4, 4),
]


def gen_ops():
    st = Store()
    cases = {}

    # Convolutions (no bias).
    conv_meta = []
    for name, n, cin, cout, k, s, p, h, w in CONV_CASES:
        g = gen("conv/" + name)
        x = leaf(randn(g, n, cin, h, w))
        wt = leaf(randn(g, cout, cin, k, k, scale=1.0 / math.sqrt(cin * k * k)))
        y = F.conv2d(x, wt, stride=s, padding=p)
        r = randn(g, *y.shape)
        (y * r).sum().backward()
        pre = "conv/%s/" % name
        for key, t in (("x", x), ("w", wt), ("r", r), ("y", y), ("dx", x.grad), ("dw", wt.grad)):
            st.add(pre + key, t)
        conv_meta.append({"name": name, "n": n, "cin": cin, "cout": cout, "k": k,
                          "stride": s, "pad": p, "h": h, "w": w})
    cases["conv"] = conv_meta

    # Batch norm: train (2-D and 4-D inputs) and eval.
    bn_meta = []
    for name, shape in (("bn2d_train", (4, 3, 5, 6)), ("bn1d_train", (6, 5)), ("bn2d_train_n1", (1, 4, 3, 3))):
        g = gen("bn/" + name)
        c = shape[1]
        x = leaf(randn(g, *shape, scale=2.0) + 0.5)
        gamma = leaf(uniform(g, 0.5, 1.5, c))
        beta = leaf(uniform(g, -0.5, 0.5, c))
        rm0 = uniform(g, -0.3, 0.3, c)
        rv0 = uniform(g, 0.5, 2.0, c)
        rm, rv = rm0.clone(), rv0.clone()
        y = F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-5)
        r = randn(g, *y.shape)
        (y * r).sum().backward()
        pre = "bn/%s/" % name
        for key, t in (("x", x), ("gamma", gamma), ("beta", beta), ("running_mean", rm0), ("running_var", rv0),
                       ("r", r), ("y", y), ("dx", x.grad), ("dgamma", gamma.grad), ("dbeta", beta.grad),
                       ("new_running_mean", rm), ("new_running_var", rv)):
            st.add(pre + key, t)
        bn_meta.append({"name": name, "train": True, "shape": list(shape), "momentum": 0.1, "eps": 1e-5})
    for name, shape in (("bn2d_eval", (3, 4, 4, 5)), ("bn1d_eval", (5, 6))):
        g = gen("bn/" + name)
        c = shape[1]
        x = randn(g, *shape, scale=2.0)
        gamma = uniform(g, 0.5, 1.5, c)
        beta = uniform(g, -0.5, 0.5, c)
        rm = uniform(g, -0.3, 0.3, c)
        rv = uniform(g, 0.5, 2.0, c)
        y = F.batch_norm(x, rm.clone(), rv.clone(), gamma, beta, training=False, eps=1e-5)
        pre = "bn/%s/" % name
        for key, t in (("x", x), ("gamma", gamma), ("beta", beta), ("running_mean", rm), ("running_var", rv), ("y", y)):
            st.add(pre + key, t)
        bn_meta.append({"name": name, "train": False, "shape": list(shape), "momentum": 0.1, "eps": 1e-5})
    cases["bn"] = bn_meta

    # ReLU.
    g = gen("relu")
    x = leaf(randn(g, 3, 4, 5))
    y = F.relu(x)
    r = randn(g, *y.shape)
    (y * r).sum().backward()
    for key, t in (("x", x), ("r", r), ("y", y), ("dx", x.grad)):
        st.add("relu/" + key, t)

    # Max pooling (kernel, stride, pad).
    pool_meta = []
    for name, shape, k, s, p in (("k3_s2_p1_odd", (2, 3, 9, 7), 3, 2, 1),
                                 ("k3_s2_p1_even", (2, 2, 8, 8), 3, 2, 1),
                                 ("k2_s2_p0", (1, 3, 6, 5), 2, 2, 0)):
        g = gen("maxpool/" + name)
        x = leaf(randn(g, *shape))
        y = F.max_pool2d(x, k, s, p)
        r = randn(g, *y.shape)
        (y * r).sum().backward()
        for key, t in (("x", x), ("r", r), ("y", y), ("dx", x.grad)):
            st.add("maxpool/%s/%s" % (name, key), t)
        pool_meta.append({"name": name, "shape": list(shape), "k": k, "stride": s, "pad": p})
    cases["maxpool"] = pool_meta

    # Global average pooling: adaptive_avg_pool2d to 1x1, flattened to [N, C].
    g = gen("avgpool")
    x = leaf(randn(g, 2, 3, 5, 7))
    y = F.adaptive_avg_pool2d(x, 1).flatten(1)
    r = randn(g, *y.shape)
    (y * r).sum().backward()
    for key, t in (("x", x), ("r", r), ("y", y), ("dx", x.grad)):
        st.add("avgpool/" + key, t)

    # Linear with and without bias.
    for name, bias in (("bias", True), ("nobias", False)):
        g = gen("linear/" + name)
        x = leaf(randn(g, 5, 7))
        w = leaf(randn(g, 4, 7, scale=0.4))
        b = leaf(randn(g, 4)) if bias else None
        y = F.linear(x, w, b)
        r = randn(g, *y.shape)
        (y * r).sum().backward()
        items = [("x", x), ("w", w), ("r", r), ("y", y), ("dx", x.grad), ("dw", w.grad)]
        if bias:
            items += [("b", b), ("db", b.grad)]
        for key, t in items:
            st.add("linear/%s/%s" % (name, key), t)

    # F.normalize over rows (rows of very different scales).
    g = gen("normalize")
    x = randn(g, 6, 5)
    x[1] *= 1e-3
    x[4] *= 1e3
    x = leaf(x)
    y = F.normalize(x, dim=1, eps=1e-12)
    r = randn(g, *y.shape)
    (y * r).sum().backward()
    for key, t in (("x", x), ("r", r), ("y", y), ("dx", x.grad)):
        st.add("normalize/" + key, t)

    # Similarity s = z z^T (r is not symmetric, so ds is generic).
    g = gen("similarity")
    z = leaf(randn(g, 6, 4))
    s = z @ z.T
    r = randn(g, *s.shape)
    (s * r).sum().backward()
    for key, t in (("z", z), ("r", r), ("s", s), ("dz", z.grad)):
        st.add("similarity/" + key, t)

    # Softmax cross-entropy (mean over rows).
    ce_meta = []
    for name, scale in (("plain", 1.0), ("large_logits", 50.0)):
        g = gen("xent/" + name)
        logits = leaf(randn(g, 6, 5, scale=scale))
        labels = torch.randint(0, 5, (6,), generator=g, dtype=torch.int64)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        for key, t in (("logits", logits), ("labels", labels), ("loss", loss), ("dlogits", logits.grad)):
            st.add("xent/%s/%s" % (name, key), t)
        ce_meta.append({"name": name})
    cases["xent"] = ce_meta

    st.meta["cases"] = json.dumps(cases, sort_keys=True)
    st.meta["description"] = "single-op golden values; see docs/golden.md"
    return st


# --------------------------------------------------------------------------
# ntxent.safetensors
# --------------------------------------------------------------------------


def ntxent_reference(s, tau):
    """NT-Xent written plainly: masked logits and F.cross_entropy (mean over 2N rows)."""
    m = s.shape[0]
    n = m // 2
    logits = s / tau
    logits = logits.masked_fill(torch.eye(m, dtype=torch.bool), float("-inf"))
    targets = (torch.arange(m) + n) % m
    return F.cross_entropy(logits, targets)


def gen_ntxent():
    st = Store()
    meta = []
    d = 8
    for n in (2, 5, 16):
        for tau in (0.05, 0.1, 0.5, 1.0):
            name = "n%d_tau%g" % (n, tau)
            g = gen("ntxent/" + name)
            # Two correlated views so positives are more similar than negatives.
            base = randn(g, n, d)
            z = torch.cat([base + randn(g, n, d, scale=0.5), base + randn(g, n, d, scale=0.5)]) * 3.0
            z = leaf(z.float().double())
            zn = F.normalize(z, dim=1)
            s = zn @ zn.T
            s.retain_grad()
            loss = ntxent_reference(s, tau)
            loss.backward()
            pre = "ntxent/%s/" % name
            # Chain: z -> normalize -> similarity -> NT-Xent.
            st.add(pre + "z", z)
            st.add(pre + "loss", loss)
            st.add(pre + "dz", z.grad)
            # The similarity matrix alone (rounded to float32, as the Go side sees it).
            s32 = leaf(s.detach().float().double())
            loss_s = ntxent_reference(s32, tau)
            loss_s.backward()
            st.add(pre + "s", s32)
            st.add(pre + "s_loss", loss_s)
            st.add(pre + "ds", s32.grad)
            meta.append({"name": name, "n": n, "d": d, "tau": tau, "symmetric": True})
    # A generic (non-symmetric, unbounded) matrix: the op is defined row-wise.
    for n, tau in ((3, 0.1), (4, 0.05)):
        name = "generic_n%d_tau%g" % (n, tau)
        g = gen("ntxent/" + name)
        s = leaf(uniform(g, -1.0, 1.0, 2 * n, 2 * n))
        loss = ntxent_reference(s, tau)
        loss.backward()
        pre = "ntxent/%s/" % name
        st.add(pre + "s", s)
        st.add(pre + "s_loss", loss)
        st.add(pre + "ds", s.grad)
        meta.append({"name": name, "n": n, "tau": tau, "symmetric": False})
    # The fused op's input is the normalised zn itself; 2N = 140 rows is not
    # a multiple of the CPU (64, 128) or CUDA (32) tiles.
    fused = []
    for n, d, tau in ((70, 8, 0.1), (1, 4, 0.5)):
        name = "fused_n%d_d%d_tau%g" % (n, d, tau)
        g = gen("ntxent/" + name)
        base = randn(g, n, d)
        z = torch.cat([base + randn(g, n, d, scale=0.5), base + randn(g, n, d, scale=0.5)])
        zn = leaf(F.normalize(z.double(), dim=1).float().double())
        logits = (zn @ zn.T / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        loss = ntxent_reference(zn @ zn.T, tau)
        loss.backward()
        pre = "ntxent/%s/" % name
        st.add(pre + "zn", zn)
        st.add(pre + "loss", loss)
        st.add(pre + "lse", torch.logsumexp(logits.detach(), dim=1))
        st.add(pre + "dzn", zn.grad)
        fused.append({"name": name, "n": n, "d": d, "tau": tau})
    st.meta["fused_cases"] = json.dumps(fused, sort_keys=True)
    st.meta["cases"] = json.dumps(meta, sort_keys=True)
    st.meta["description"] = "NT-Xent golden values; reference = F.cross_entropy over diagonal-masked s/tau"
    return st


# --------------------------------------------------------------------------
# blocks.safetensors: torchvision BasicBlock / Bottleneck
# --------------------------------------------------------------------------

BLOCK_CASES = [
    # name, kind, inC, planes (out for basic, mid for bottleneck), stride, input shape
    ("basic_s1", "basic", 8, 8, 1, (2, 8, 6, 6)),
    ("basic_s2", "basic", 4, 8, 2, (2, 4, 7, 7)),
    ("bottleneck_s1", "bottleneck", 16, 4, 1, (2, 16, 5, 5)),
    ("bottleneck_proj", "bottleneck", 8, 4, 1, (2, 8, 5, 5)),
    ("bottleneck_s2", "bottleneck", 8, 4, 2, (2, 8, 6, 6)),
]


def make_block(kind, inc, planes, stride):
    cls = BasicBlock if kind == "basic" else Bottleneck
    out = planes * cls.expansion
    down = None
    if stride != 1 or inc != out:
        down = nn.Sequential(nn.Conv2d(inc, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    return cls(inc, planes, stride, down), out


def gen_blocks():
    st = Store()
    meta = []
    for name, kind, inc, planes, stride, shape in BLOCK_CASES:
        g = gen("block/" + name)
        block, out = make_block(kind, inc, planes, stride)
        block = block.double()
        with torch.no_grad():
            for pname, p in block.named_parameters():
                if p.dim() > 1:
                    fan_in = p[0].numel()
                    p.copy_(randn(g, *p.shape, scale=math.sqrt(2.0 / fan_in)))
                elif pname.endswith("weight"):
                    p.copy_(uniform(g, 0.5, 1.5, *p.shape))
                else:
                    p.copy_(uniform(g, -0.3, 0.3, *p.shape))
        pre = "block/%s/" % name
        for sname, t in block.state_dict().items():
            st.add(pre + "init/" + sname, t)
        block.train()
        x = leaf(randn(g, *shape))
        y = block(x)
        r = randn(g, *y.shape)
        (y * r).sum().backward()
        st.add(pre + "x", x)
        st.add(pre + "r", r)
        st.add(pre + "y", y)
        st.add(pre + "dx", x.grad)
        for pname, p in block.named_parameters():
            st.add(pre + "grad/" + pname, p.grad)
        for sname, t in block.state_dict().items():
            if "running" in sname or "num_batches" in sname:
                st.add(pre + "after/" + sname, t)
        meta.append({"name": name, "kind": kind, "in": inc, "planes": planes, "out": out, "stride": stride,
                     "shape": list(shape), "params": [p for p, _ in block.named_parameters()],
                     "state": list(block.state_dict().keys())})
    st.meta["cases"] = json.dumps(meta, sort_keys=True)
    st.meta["description"] = ("torchvision BasicBlock/Bottleneck, train-mode forward + backward of sum(y*r); "
                              "init/ = state before, grad/ = parameter gradients, after/ = BN buffers after the step")
    return st


# --------------------------------------------------------------------------
# resnet18*.safetensors: whole encoder with formula-filled weights
# --------------------------------------------------------------------------

FORMULA = ("param k (0-based, named_parameters order), element j (0-based, row-major), uint64 arithmetic mod 2^64: "
           "x = (j+1)*0x9E3779B97F4A7C15 + (k+1)*0xBF58476D1CE4E5B9; x ^= x>>31; x *= 0x94D049BB133111EB; "
           "x ^= x>>29; s = 2*((x>>11)*2^-53) - 1 (float64, uniform in [-1,1)); conv weight (ndim>1): "
           "s*sqrt(3/prod(shape[1:])); 1-D *.weight (BN gamma): 1 + 0.1*s; 1-D *.bias (BN beta): 0.1*s; "
           "rounded to float32 (every step is exactly rounded IEEE arithmetic, so Go reproduces it bit for bit)")

# The weights are a hash of (k, j) rather than a smooth function such as
# sin(0.01*j): smooth filters are nearly rank-one, which makes the batch-norm
# statistics of a deep network ill-conditioned (float32 PyTorch then differs
# from float64 PyTorch by several percent in some gradients). With hashed
# weights float32 and float64 agree to ~1e-5.
MASK64 = (1 << 64) - 1


def formula_values(k, shape):
    """The deterministic parameter fill described in FORMULA, as float64
    (the caller applies the BN transform and the float32 rounding)."""
    numel = math.prod(shape)
    j = np.arange(1, numel + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = j * np.uint64(0x9E3779B97F4A7C15) + np.uint64(((k + 1) * 0xBF58476D1CE4E5B9) & MASK64)
        x ^= x >> np.uint64(31)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(29)
    s = 2.0 * ((x >> np.uint64(11)).astype(np.float64) * 2.0 ** -53) - 1.0
    if len(shape) > 1:
        s = s * math.sqrt(3.0 / math.prod(shape[1:]))
    return torch.from_numpy(s.copy()).reshape(shape)


def fill_formula(model):
    with torch.no_grad():
        for k, (name, p) in enumerate(model.named_parameters()):
            v = formula_values(k, list(p.shape))
            if p.dim() == 1:
                v = 1.0 + 0.1 * v if name.endswith("weight") else 0.1 * v
            p.copy_(v.float().double())


class NarrowResNet(nn.Module):
    """torchvision's ResNet layout with a configurable base width (same names)."""

    def __init__(self, width, layers=(2, 2, 2, 2), in_channels=3):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(width, layers[0], 1)
        self.layer2 = self._make_layer(2 * width, layers[1], 2)
        self.layer3 = self._make_layer(4 * width, layers[2], 2)
        self.layer4 = self._make_layer(8 * width, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Identity()

    def _make_layer(self, planes, blocks, stride):
        layers = []
        for i in range(blocks):
            s = stride if i == 0 else 1
            down = None
            if s != 1 or self.inplanes != planes:
                down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride=s, bias=False), nn.BatchNorm2d(planes))
            layers.append(BasicBlock(self.inplanes, planes, s, down))
            self.inplanes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def cifar_resnet18(width):
    if width == 64:
        m = resnet18()
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
        m.fc = nn.Identity()
        ref = NarrowResNet(64)
        assert [(n, p.shape) for n, p in m.state_dict().items()] == \
               [(n, p.shape) for n, p in ref.state_dict().items()], "NarrowResNet must match torchvision"
        return m
    return NarrowResNet(width)


HEAD = 256  # gradient elements stored per parameter


def gen_resnet(width, batch, size, grad_names, stat_names, check_names):
    st = Store()
    g = gen("resnet18/w%d" % width)
    model = cifar_resnet18(width).double()
    fill_formula(model)
    model.train()
    x = randn(g, batch, 3, size, size)
    feat = model(x)
    r = randn(g, *feat.shape)
    loss = (feat * r).sum()
    loss.backward()
    st.add("x", x)
    st.add("r", r)
    st.add("features", feat)
    st.add("loss", loss)
    params = dict(model.named_parameters())
    if grad_names is None:
        grad_names = list(params)
    for name in grad_names:
        gr = params[name].grad.reshape(-1)
        st.add("grad/%s/head" % name, gr[:HEAD])
        st.add("grad/%s/norm" % name, gr.norm())
    state = model.state_dict()
    if stat_names is None:
        stat_names = [n for n in state if "running" in n or "num_batches" in n]
    for name in stat_names:
        st.add("after/" + name, state[name])
    for name in check_names:
        st.add("param_check/" + name, params[name].detach().reshape(-1)[:HEAD])
    # Eval-mode features with the running statistics after that one step.
    model.eval()
    with torch.no_grad():
        st.add("features_eval", model(x))
    st.meta["config"] = json.dumps({"arch": "resnet18", "stem": "cifar", "width": width, "in_channels": 3,
                                    "batch": batch, "size": size, "head": HEAD}, sort_keys=True)
    st.meta["grad_names"] = json.dumps(grad_names)
    st.meta["stat_names"] = json.dumps(stat_names)
    st.meta["param_names"] = json.dumps(list(params))
    st.meta["formula"] = FORMULA
    st.meta["description"] = ("ResNet-18 (CIFAR stem, fc=Identity), train-mode forward of x, loss = sum(features*r), "
                              "grad/<name>/head = first %d gradient elements, /norm = full L2 norm" % HEAD)
    return st


def gen_resnet18():
    grads = ["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.1.bn2.bias",
             "layer2.0.conv1.weight", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
             "layer3.1.conv2.weight", "layer4.0.downsample.0.weight", "layer4.1.conv2.weight",
             "layer4.1.bn2.weight", "layer4.1.bn2.bias"]
    stats = ["bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
             "layer2.0.downsample.1.running_mean", "layer2.0.downsample.1.running_var",
             "layer4.1.bn2.running_mean", "layer4.1.bn2.running_var"]
    checks = ["conv1.weight", "layer4.1.conv2.weight", "layer4.1.bn2.weight", "layer4.1.bn2.bias"]
    return gen_resnet(64, 4, 16, grads, stats, checks)


def gen_resnet18_small():
    return gen_resnet(8, 4, 16, None, None, ["conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
                                             "layer4.1.conv2.weight"])


# --------------------------------------------------------------------------
# optim.safetensors
# --------------------------------------------------------------------------

OPT_PARAMS = [
    # name, shape, no_decay
    ("fc.weight", (4, 3), False),
    ("fc.bias", (4,), True),
    ("bn.weight", (3,), True),
    ("conv.weight", (2, 3, 2, 2), False),
    ("zero.weight", (5,), False),  # starts at 0: LARS uses q = 1 (||p|| = 0)
]

OPT_CASES = [
    {"name": "sgd", "kind": "sgd", "momentum": 0.9, "weight_decay": 0.01, "nesterov": False,
     "exclude_bias_bn": False, "lrs": [0.1, 0.05, 0.025]},
    {"name": "sgd_nesterov", "kind": "sgd", "momentum": 0.9, "weight_decay": 0.01, "nesterov": True,
     "exclude_bias_bn": False, "lrs": [0.1, 0.05, 0.025]},
    {"name": "sgd_exclude", "kind": "sgd", "momentum": 0.9, "weight_decay": 0.05, "nesterov": False,
     "exclude_bias_bn": True, "lrs": [0.1, 0.05, 0.025]},
    {"name": "adamw", "kind": "adamw", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.05,
     "lrs": [0.01, 0.005, 0.0025]},
    {"name": "lars", "kind": "lars", "momentum": 0.9, "weight_decay": 1e-3, "trust_coef": 0.001,
     "exclude_bias_bn": False, "lrs": [4.8, 2.4, 1.2]},
    {"name": "lars_exclude", "kind": "lars", "momentum": 0.9, "weight_decay": 1e-3, "trust_coef": 0.001,
     "exclude_bias_bn": True, "lrs": [4.8, 2.4, 1.2]},
    {"name": "lars_eta02", "kind": "lars", "momentum": 0.9, "weight_decay": 0.05, "trust_coef": 0.02,
     "exclude_bias_bn": True, "lrs": [0.5, 0.5, 0.5]},
]


def lars_step(params, grads, bufs, nodecay, lr, o):
    """LARS as SimCLR / Barlow Twins define it, written plainly (float64)."""
    with torch.no_grad():
        for i, p in enumerate(params):
            dp = grads[i].clone()
            excluded = o["exclude_bias_bn"] and nodecay[i]
            if not excluded:
                dp = dp + o["weight_decay"] * p
                pn, dn = p.norm(), dp.norm()
                q = o["trust_coef"] * pn / dn if (pn > 0 and dn > 0) else torch.tensor(1.0, dtype=F64)
                dp = dp * q
            bufs[i] = o["momentum"] * bufs[i] + dp
            p -= lr * bufs[i]


def gen_optim():
    st = Store()
    g = gen("optim")
    init = {}
    for name, shape, _ in OPT_PARAMS:
        init[name] = torch.zeros(*shape, dtype=F64) if name == "zero.weight" else randn(g, *shape)
        st.add("params/" + name, init[name])
    grads = []
    for step in range(3):
        gs = {}
        for name, shape, _ in OPT_PARAMS:
            gs[name] = randn(g, *shape, scale=0.5)
            st.add("grads/step%d/%s" % (step + 1, name), gs[name])
        grads.append(gs)
    names = [n for n, _, _ in OPT_PARAMS]
    nodecay = [nd for _, _, nd in OPT_PARAMS]
    for case in OPT_CASES:
        params = [init[n].clone().requires_grad_(True) for n in names]
        if case["kind"] == "sgd":
            if case["exclude_bias_bn"]:
                groups = [{"params": [p for p, nd in zip(params, nodecay) if not nd]},
                          {"params": [p for p, nd in zip(params, nodecay) if nd], "weight_decay": 0.0}]
            else:
                groups = [{"params": params}]
            opt = torch.optim.SGD(groups, lr=case["lrs"][0], momentum=case["momentum"],
                                  weight_decay=case["weight_decay"], nesterov=case["nesterov"])
        elif case["kind"] == "adamw":
            opt = torch.optim.AdamW(params, lr=case["lrs"][0], betas=(case["beta1"], case["beta2"]),
                                    eps=case["eps"], weight_decay=case["weight_decay"])
        else:
            opt = None
            bufs = [torch.zeros_like(p) for p in params]
        for step in range(3):
            lr = case["lrs"][step]
            for p, n in zip(params, names):
                p.grad = grads[step][n].clone()
            if opt is None:
                lars_step(params, [p.grad for p in params], bufs, nodecay, lr, case)
            else:
                for group in opt.param_groups:
                    group["lr"] = lr
                opt.step()
            if step in (0, 2):
                for p, n in zip(params, names):
                    st.add("%s/step%d/%s" % (case["name"], step + 1, n), p)
    st.meta["cases"] = json.dumps(OPT_CASES, sort_keys=True)
    st.meta["params"] = json.dumps([{"name": n, "shape": list(s), "no_decay": nd} for n, s, nd in OPT_PARAMS])
    st.meta["description"] = ("optimizer golden values: params/ initial values, grads/stepK/ the gradient fed at "
                              "step K with lr = lrs[K-1], CASE/stepK/ the parameters after K steps")
    return st


# --------------------------------------------------------------------------
# format_check.safetensors: cross-compatibility with internal/safetensors
# --------------------------------------------------------------------------


def gen_format_check():
    st = Store()
    st.add("f32_matrix", torch.arange(12, dtype=F64).reshape(3, 4) * 0.5 - 2.0)
    st.add("i64_vector", torch.tensor([-3, 0, 7, 2 ** 40, -(2 ** 62)], dtype=torch.int64))
    st.add("f32_scalar", torch.tensor(3.25, dtype=F64))
    st.add("i64_scalar", torch.tensor(42, dtype=torch.int64))
    st.add("f32_empty", torch.zeros(0, 3, dtype=F64))
    st.add("f32_specials", torch.tensor([float("inf"), float("-inf"), -0.0, 1e-40, 3.4028234663852886e38],
                                        dtype=F64))
    st.meta["writer"] = "tools/golden/gen.py"
    st.meta["unicode"] = "grüße ✓"
    st.meta["json"] = json.dumps({"a": [1, 2]})
    return st


def check_go_written(path):
    """Read the file internal/safetensors wrote and check its values."""
    with open(path, "rb") as f:
        tensors, meta = decode_safetensors(f.read())
    want = {"weights": ("F32", [2, 3], [0.5 * i - 1.0 for i in range(6)]),
            "steps": ("I64", [2], [7, -(2 ** 40)]),
            "scalar": ("F32", [], [1.5])}
    if set(tensors) != set(want):
        raise SystemExit("%s: tensors %s, want %s" % (path, sorted(tensors), sorted(want)))
    for name, exp in want.items():
        if tensors[name] != exp:
            raise SystemExit("%s: tensor %s = %s, want %s" % (path, name, tensors[name], exp))
    if meta != {"writer": "internal/safetensors", "note": "grüße"}:
        raise SystemExit("%s: metadata %s" % (path, meta))


# --------------------------------------------------------------------------

FILES = {
    "format_check.safetensors": gen_format_check,
    "ops.safetensors": gen_ops,
    "ntxent.safetensors": gen_ntxent,
    "blocks.safetensors": gen_blocks,
    "optim.safetensors": gen_optim,
    "resnet18_small.safetensors": gen_resnet18_small,
    "resnet18.safetensors": gen_resnet18,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join("testdata", "golden"), help="output directory")
    ap.add_argument("--check", action="store_true", help="regenerate in memory and fail if any file differs")
    ap.add_argument("--only", nargs="*", help="generate only these files")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    stale = []
    for fname, fn in FILES.items():
        if args.only and fname not in args.only:
            continue
        data = fn().bytes()
        decode_safetensors(data)  # self-check of the writer
        path = os.path.join(args.out, fname)
        if args.check:
            old = open(path, "rb").read() if os.path.exists(path) else b""
            status = "ok" if old == data else "DIFFERS"
            if old != data:
                stale.append(fname)
        else:
            write_atomic(path, data)
            status = "written"
        print("%-28s %8d bytes  %s" % (fname, len(data), status))
    go_file = os.path.join(args.out, "go_written.safetensors")
    if os.path.exists(go_file):
        check_go_written(go_file)
        print("%-28s %8s        read back ok" % ("go_written.safetensors", ""))
    if stale:
        sys.exit("stale golden files: %s (run tools/golden/gen.py)" % ", ".join(stale))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Load a simclr encoder.safetensors into the matching torchvision ResNet with
strict=True and run it: the check that PyTorch users can take our encoders.

    tools/golden/load_in_torchvision.py runs/x/encoder.safetensors

torchvision's ResNet has base width 64, so the file must come from a
model.width=64 run. For the CIFAR stem, conv1 becomes a 3x3 stride-1 conv and
maxpool Identity; fc is removed (Identity) in both cases.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import decode_safetensors  # noqa: E402


def main(path):
    with open(path, "rb") as f:
        tensors, meta = decode_safetensors(f.read())
    arch, stem = meta["arch"], meta["stem"]
    width, ch = int(meta["width"]), int(meta["in_channels"])
    if width != 64:
        sys.exit("%s: width %d; torchvision's ResNet needs width 64" % (path, width))
    m = getattr(torchvision.models, arch)()
    m.fc = nn.Identity()
    if stem == "cifar":
        m.conv1 = nn.Conv2d(ch, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
    elif ch != 3:
        m.conv1 = nn.Conv2d(ch, 64, 7, 2, 3, bias=False)
    state = {}
    for name, (dtype, shape, values) in tensors.items():
        t = torch.tensor(values, dtype=torch.float32 if dtype == "F32" else torch.int64)
        state[name] = t.reshape(shape)
    result = m.load_state_dict(state, strict=True)
    m.eval()
    size = int(meta["image_size"])
    with torch.no_grad():
        y = m(torch.randn(2, ch, size, size))
    print(json.dumps({"file": path, "arch": arch, "stem": stem, "loaded": str(result),
                      "tensors": len(state), "features": list(y.shape), "finite": bool(torch.isfinite(y).all())}))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

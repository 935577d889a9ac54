"""MobileNet-V2 in plain PyTorch, torchvision's public layout (Sandler et al., CVPR 2018;
torchvision's ``mobilenet_v2``: ``features.{i}.conv.{j}`` modules, ``classifier.1``).

Factory ``mobilenet-v2`` (params ``batch``, ``image``, ``classes``, ``width``): inverted
residual blocks of 1x1 expansion, 3x3 depthwise and 1x1 projection convolutions, each followed
by BatchNorm (folded into it at trace time) and ReLU6 (but the projection), global average
pooling and a 1000-way classifier. Seeded random weights (see ``workloads/_cnn.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

from accelsim.workload.registry import Workload

_spec = importlib.util.spec_from_file_location("_accelsim_workloads_cnn", Path(__file__).with_name("_cnn.py"))
assert _spec is not None and _spec.loader is not None
_cnn = sys.modules.get("_accelsim_workloads_cnn") or importlib.util.module_from_spec(_spec)
if "_accelsim_workloads_cnn" not in sys.modules:
    sys.modules["_accelsim_workloads_cnn"] = _cnn
    _spec.loader.exec_module(_cnn)

#: (expansion t, output channels c, repeats n, first stride s), Sandler et al. Table 2.
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: round to a multiple of 8, never below 90 % of ``v``."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


class ConvBNReLU(nn.Sequential):
    """torchvision's ``Conv2dNormActivation``: conv (no bias), BatchNorm, ReLU6."""

    def __init__(self, inp: int, out: int, k: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(nn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, t: int) -> None:
        super().__init__()
        hidden = int(round(inp * t))
        self.use_res_connect = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if t != 1:
            layers.append(ConvBNReLU(inp, hidden, 1))
        layers += [ConvBNReLU(hidden, hidden, 3, stride, groups=hidden),  # depthwise
                   nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, classes: int = 1000, width: float = 1.0) -> None:
        super().__init__()
        inp = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        feats: list[nn.Module] = [ConvBNReLU(3, inp, 3, 2)]
        for t, c, n, s in SETTINGS:
            out = make_divisible(c * width)
            for i in range(n):
                feats.append(InvertedResidual(inp, out, s if i == 0 else 1, t))
                inp = out
        feats.append(ConvBNReLU(inp, last, 1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(batch: int = 1, image: int = 224, classes: int = 1000, width: float = 1.0) -> Workload:
    """MobileNet-V2, torchvision layout (224x224, batch=1, width multiplier 1.0)."""
    name = "mobilenet-v2"
    batch = _cnn.positive_int(name, "batch", batch)
    image = _cnn.positive_int(name, "image", image)
    classes = _cnn.positive_int(name, "classes", classes)
    if image < 32:
        raise ValueError(f"{name}: image must be at least 32 pixels (five stride-2 stages), got {image}")
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not 0.1 <= width <= 4:
        raise ValueError(f"{name}: width must be a number in [0.1, 4], got {width!r}")
    torch.manual_seed(0)
    model = MobileNetV2(classes, float(width)).eval()
    _cnn.init_cnn(model)
    x = torch.randn(batch, 3, image, image, generator=torch.Generator().manual_seed(1))
    meta = {"batch": batch, "image": image, "classes": classes, "width": float(width), "tokens": batch}
    return Workload(name=name, module=model, example_inputs=(x,), meta=meta)


WORKLOADS = {"mobilenet-v2": mobilenet_v2}
DESCRIPTIONS = {"mobilenet-v2": "MobileNet-V2 (torchvision layout), 224x224, depthwise convs, BN folded (batch=1)"}

"""ResNet-18 in plain PyTorch, torchvision's public layout (He et al., CVPR 2016; torchvision's
``resnet18``: same module names, so ``layer2.0.downsample.0`` is the 1x1 projection).

Factory ``resnet18`` (params ``batch``, ``image``, ``classes``): 224x224 RGB input by default,
BatchNorm after every convolution (folded into it at trace time), max pooling, global average
pooling, a 1000-way classifier. Seeded random weights (see ``workloads/_cnn.py``); nothing is
downloaded (torchvision's PyPI wheel does not import against the CPU torch used here).
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


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inp: int, out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.downsample: nn.Module | None = None
        if stride != 1 or inp != out:
            self.downsample = nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + idt)


class ResNet(nn.Module):
    def __init__(self, layers: tuple[int, ...] = (2, 2, 2, 2), classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        inp = 64
        for i, (w, n) in enumerate(zip(widths, layers)):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(inp, w, 2 if (j == 0 and i > 0) else 1))
                inp = w
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(batch: int = 1, image: int = 224, classes: int = 1000) -> Workload:
    """ResNet-18, torchvision layout (224x224, batch=1)."""
    name = "resnet18"
    batch = _cnn.positive_int(name, "batch", batch)
    image = _cnn.positive_int(name, "image", image)
    classes = _cnn.positive_int(name, "classes", classes)
    if image < 32:
        raise ValueError(f"{name}: image must be at least 32 pixels (five stride-2 stages), got {image}")
    torch.manual_seed(0)
    model = ResNet((2, 2, 2, 2), classes).eval()
    _cnn.init_cnn(model)
    x = torch.randn(batch, 3, image, image, generator=torch.Generator().manual_seed(1))
    meta = {"batch": batch, "image": image, "classes": classes, "tokens": batch}
    return Workload(name=name, module=model, example_inputs=(x,), meta=meta)


WORKLOADS = {"resnet18": resnet18}
DESCRIPTIONS = {"resnet18": "ResNet-18 (torchvision layout), 224x224, BatchNorm folded into convs (batch=1)"}

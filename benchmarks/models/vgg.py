"""VGG-11 with BatchNorm as a researcher writes it (Simonyan & Zisserman, ICLR 2015,
configuration "A"; torchvision's ``vgg11_bn`` layout: ``features.{i}``, ``avgpool``,
``classifier.{i}``). A workload file for ``benchmarks/real_models.py``
(``accelsim run datacenter-bf16 benchmarks/models/vgg.py:vgg11-bn``)."""

from __future__ import annotations

import torch
from torch import nn

from accelsim.workload.registry import Workload

#: configuration "A": output channels of each 3x3 convolution, "M" a 2x2 max-pool
CFG_A = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG(nn.Module):
    def __init__(self, cfg: tuple = CFG_A, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.BatchNorm2d(int(v)), nn.ReLU(inplace=True)]
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg11_bn(batch: int = 1, image: int = 224, classes: int = 1000) -> Workload:
    """VGG-11 with BatchNorm, 224x224 (7.6 G MACs)."""
    torch.manual_seed(0)
    model = VGG(CFG_A, classes).eval()
    x = torch.randn(batch, 3, image, image)
    return Workload(name="vgg11-bn", module=model, example_inputs=(x,),
                    meta={"batch": batch, "image": image, "tokens": batch})


WORKLOADS = {"vgg11-bn": vgg11_bn}

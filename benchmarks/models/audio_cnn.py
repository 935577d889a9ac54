"""1-D convolutional models as a researcher writes them. A workload file for
``benchmarks/real_models.py``.

* ``m5``: the M5 raw-waveform classifier (Dai et al., "Very deep convolutional neural networks
  for raw waveforms", ICASSP 2017; the torchaudio speech-command tutorial's layout): four
  Conv1d + BatchNorm1d + ReLU + MaxPool1d stages over one second of 16 kHz audio, global
  average pooling, a linear classifier (35 keywords).
* ``tcn``: a temporal convolutional network (Bai et al., 2018): residual blocks of two dilated
  causal Conv1d (left padding, then the right ``chomp``), ReLU, a 1x1 downsample where the
  widths differ; dilations 1, 2, 4, 8.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from accelsim.workload.registry import Workload


class M5(nn.Module):
    def __init__(self, n_input: int = 1, n_output: int = 35, stride: int = 16, n_channel: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_input, n_channel, kernel_size=80, stride=stride)
        self.bn1 = nn.BatchNorm1d(n_channel)
        self.pool1 = nn.MaxPool1d(4)
        self.conv2 = nn.Conv1d(n_channel, n_channel, kernel_size=3)
        self.bn2 = nn.BatchNorm1d(n_channel)
        self.pool2 = nn.MaxPool1d(4)
        self.conv3 = nn.Conv1d(n_channel, 2 * n_channel, kernel_size=3)
        self.bn3 = nn.BatchNorm1d(2 * n_channel)
        self.pool3 = nn.MaxPool1d(4)
        self.conv4 = nn.Conv1d(2 * n_channel, 2 * n_channel, kernel_size=3)
        self.bn4 = nn.BatchNorm1d(2 * n_channel)
        self.pool4 = nn.MaxPool1d(4)
        self.fc1 = nn.Linear(2 * n_channel, n_output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(F.relu(self.bn1(self.conv1(x))))
        x = self.pool2(F.relu(self.bn2(self.conv2(x))))
        x = self.pool3(F.relu(self.bn3(self.conv3(x))))
        x = self.pool4(F.relu(self.bn4(self.conv4(x))))
        x = F.avg_pool1d(x, x.shape[-1])
        return F.log_softmax(self.fc1(x.permute(0, 2, 1)), dim=2)


class TemporalBlock(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, dilation: int) -> None:
        super().__init__()
        self.pad = (k - 1) * dilation
        self.conv1 = nn.Conv1d(cin, cout, k, padding=self.pad, dilation=dilation)
        self.conv2 = nn.Conv1d(cout, cout, k, padding=self.pad, dilation=dilation)
        self.downsample = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(x)[:, :, :-self.pad])  # chomp: keep the causal part
        y = F.relu(self.conv2(y)[:, :, :-self.pad])
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(y + res)


class TCN(nn.Module):
    def __init__(self, cin: int = 40, channels: tuple[int, ...] = (128, 128, 128, 128), k: int = 3,
                 classes: int = 10) -> None:
        super().__init__()
        blocks = []
        for i, c in enumerate(channels):
            blocks.append(TemporalBlock(cin if i == 0 else channels[i - 1], c, k, 2 ** i))
        self.network = nn.Sequential(*blocks)
        self.linear = nn.Linear(channels[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.network(x)[:, :, -1])


def m5(batch: int = 1, samples: int = 16000) -> Workload:
    """M5 over one second of 16 kHz audio, 35 classes."""
    torch.manual_seed(0)
    model = M5().eval()
    x = torch.randn(batch, 1, samples)
    return Workload(name="m5", module=model, example_inputs=(x,), meta={"batch": batch, "tokens": batch})


def tcn(batch: int = 1, frames: int = 400, features: int = 40) -> Workload:
    """TCN: 4 blocks of 128 channels, kernel 3, dilations 1-8, over 400 frames of 40 features."""
    torch.manual_seed(0)
    model = TCN(features).eval()
    x = torch.randn(batch, features, frames)
    return Workload(name="tcn", module=model, example_inputs=(x,), meta={"batch": batch, "tokens": batch})


WORKLOADS = {"m5": m5, "tcn": tcn}

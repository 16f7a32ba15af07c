"""Wide residual networks for 32×32 images (WRN-28-10 of the SWA experiments).

The architecture is Zagoruyko & Komodakis, "Wide Residual Networks" (BMVC 2016),
in the form used by Izmailov et al., "Averaging Weights Leads to Wider Optima and
Better Generalization" (UAI 2018), whose code (timgaripov/swa
``models/wide_resnet.py``, after meliketoy/wide-resnet.pytorch) this module
follows: a 3×3 stem with 16 channels, three stages of ``(depth - 4) / 6`` wide
basic blocks of widths 16k/32k/64k (the last two start with stride 2), a final
BN → ReLU, global average pooling and a linear layer. A block is
``conv(relu(bn(dropout(conv(relu(bn(x))))))) + shortcut(x)`` with the stride on
its second convolution and a 1×1 projection shortcut where the shape changes.

As in the reference, every convolution has a bias, all layers keep PyTorch's
default initialisation (the reference defines ``conv_init`` but never applies
it), and the final BatchNorm has ``momentum=0.9`` (a TensorFlow-style value: in
PyTorch it makes the running statistics follow mostly the latest batch).

Differences from the reference: the stem takes ``input_shape[0]`` channels
instead of 3, and the fixed ``avg_pool2d(8)`` is a global average pool, which is
identical for 32×32 inputs and also works for other sizes (e.g. 28×28).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from swa.models.preresnet import check_image_input
from swa.models.registry import register_model

__all__ = ["WideResNet"]


class WideBasic(nn.Module):
    """Pre-activated 3×3 → dropout → 3×3 block with the stride on the second convolution."""

    def __init__(self, in_planes: int, planes: int, dropout: float, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, padding=1, bias=True)
        self.dropout = nn.Dropout(p=dropout)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.conv1(F.relu(self.bn1(x))))
        out = self.conv2(F.relu(self.bn2(out)))
        return out + self.shortcut(x)


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor``.

    Args:
        num_outputs: number of classes.
        depth: 6n+4 with n ≥ 1. Default 28.
        widen_factor: width multiplier k ≥ 1. Default 10.
        dropout: dropout probability between the two convolutions of a block, in [0, 1). Default 0.
        in_channels: input channels. Default 3.

    Raises:
        ValueError: ``depth``, ``widen_factor`` or ``dropout`` is out of range.
    """

    def __init__(self, num_outputs: int, depth: int = 28, widen_factor: int = 10,
                 dropout: float = 0.0, in_channels: int = 3) -> None:
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got {depth!r}")
        if isinstance(widen_factor, bool) or not isinstance(widen_factor, int) or widen_factor < 1:
            raise ValueError(f"widen_factor must be a positive integer, got {widen_factor!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        blocks = (depth - 4) // 6
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.in_planes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=True)
        self.layer1 = self._make_stage(widths[1], blocks, float(dropout), stride=1)
        self.layer2 = self._make_stage(widths[2], blocks, float(dropout), stride=2)
        self.layer3 = self._make_stage(widths[3], blocks, float(dropout), stride=2)
        self.bn1 = nn.BatchNorm2d(widths[3], momentum=0.9)
        self.linear = nn.Linear(widths[3], num_outputs)

    def _make_stage(self, planes: int, blocks: int, dropout: float, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(WideBasic(self.in_planes, planes, dropout, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        out = F.adaptive_avg_pool2d(F.relu(self.bn1(out)), 1)
        return self.linear(torch.flatten(out, 1))


@register_model
def wideresnet(num_outputs: int, input_shape: tuple[int, ...], depth: int = 28,
               widen_factor: int = 10, dropout: float = 0.0) -> nn.Module:
    """WRN-``depth``-``widen_factor`` with ``dropout`` in every block (defaults: WRN-28-10, no dropout)."""
    in_channels = check_image_input("wideresnet", num_outputs, input_shape)
    return WideResNet(num_outputs, depth=depth, widen_factor=widen_factor, dropout=dropout,
                      in_channels=in_channels)


@register_model
def wideresnet28_10(num_outputs: int, input_shape: tuple[int, ...], dropout: float = 0.0) -> nn.Module:
    """WRN-28-10 (about 36.49M parameters for 10 classes)."""
    in_channels = check_image_input("wideresnet28_10", num_outputs, input_shape)
    return WideResNet(num_outputs, depth=28, widen_factor=10, dropout=dropout, in_channels=in_channels)

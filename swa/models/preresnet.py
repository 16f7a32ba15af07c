"""Pre-activation ResNets for 32×32 images (PreResNet-20/56/110/164).

The architecture is that of He et al., "Identity Mappings in Deep Residual
Networks" (ECCV 2016), in the CIFAR form used by Izmailov et al., "Averaging
Weights Leads to Wider Optima and Better Generalization" (UAI 2018), whose code
(timgaripov/swa ``models/preresnet.py``, after bearpaw/pytorch-classification)
this module follows: a 3×3 stem with 16 channels, three stages of widths
16/32/64 (the last two start with stride 2), BN → ReLU → conv units, 1×1
projection shortcuts on the raw block input, a final BN → ReLU, global average
pooling and a linear layer.

Depth picks the block: depth ≥ 44 uses bottleneck blocks (expansion 4) with
``(depth - 2) / 9`` blocks per stage; smaller depths use basic blocks with
``(depth - 2) / 6`` blocks per stage.

Differences from the reference: the stem takes ``input_shape[0]`` channels
instead of 3, and the fixed ``AvgPool2d(8)`` is a global average pool, which is
identical for 32×32 inputs and also works for other sizes (e.g. 28×28).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from swa.models.registry import register_model

__all__ = ["PreResNet", "check_image_input"]


def check_image_input(model: str, num_outputs: int, input_shape: tuple[int, ...], min_size: int = 1) -> int:
    """Validate the builder arguments of an image model and return the input channel count.

    Raises:
        ValueError: ``num_outputs`` is not a positive integer, ``input_shape`` is not
            ``(C, H, W)`` with positive integers, or ``H`` or ``W`` is below ``min_size``.
    """
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
        raise ValueError(f"num_outputs must be a positive integer, got {num_outputs!r}")
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"{model} needs image inputs, input_shape=(C, H, W) of positive integers; got {shape}")
    if min(shape[1:]) < min_size:
        raise ValueError(f"{model} needs images of at least {min_size}×{min_size}, got input_shape={shape}")
    return shape[0]


class BasicBlock(nn.Module):
    """Two pre-activated 3×3 convolutions: ``x + conv(relu(bn(conv(relu(bn(x))))))``."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        return out + (x if self.shortcut is None else self.shortcut(x))


class Bottleneck(nn.Module):
    """Pre-activated 1×1 → 3×3 → 1×1 convolutions widening ``planes`` by 4 at the end."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + (x if self.shortcut is None else self.shortcut(x))


class PreResNet(nn.Module):
    """Pre-activation ResNet for small images.

    Args:
        num_outputs: number of classes.
        depth: 6n+2 (basic blocks) below 44, 9n+2 (bottleneck blocks) from 44 on. Default 110.
        in_channels: input channels. Default 3.

    Raises:
        ValueError: ``depth`` does not have the form above.
    """

    def __init__(self, num_outputs: int, depth: int = 110, in_channels: int = 3) -> None:
        super().__init__()
        block, blocks = _block_plan(depth)
        self.in_planes = 16
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.layer1 = self._make_stage(block, 16, blocks, stride=1)
        self.layer2 = self._make_stage(block, 32, blocks, stride=2)
        self.layer3 = self._make_stage(block, 64, blocks, stride=2)
        self.bn = nn.BatchNorm2d(64 * block.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64 * block.expansion, num_outputs)
        # The reference init: He-normal with fan-out for convolutions, BN as identity,
        # PyTorch's default for the linear layer.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_stage(self, block: type[nn.Module], planes: int, blocks: int, stride: int) -> nn.Sequential:
        out_planes = planes * block.expansion
        shortcut = None
        if stride != 1 or self.in_planes != out_planes:
            shortcut = nn.Sequential(nn.Conv2d(self.in_planes, out_planes, 1, stride=stride, bias=False))
        layers = [block(self.in_planes, planes, stride, shortcut)]
        self.in_planes = out_planes
        layers += [block(out_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.avgpool(self.relu(self.bn(x)))
        return self.fc(torch.flatten(x, 1))


def _block_plan(depth: int) -> tuple[type[nn.Module], int]:
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise ValueError(f"depth must be an integer, got {depth!r}")
    if depth >= 44:
        if (depth - 2) % 9 != 0:
            raise ValueError(f"depth must be 9n+2 for bottleneck PreResNets (depth >= 44), got {depth}")
        return Bottleneck, (depth - 2) // 9
    if depth < 8 or (depth - 2) % 6 != 0:
        raise ValueError(f"depth must be 6n+2 with n >= 1 for basic-block PreResNets (depth < 44), got {depth}")
    return BasicBlock, (depth - 2) // 6


def _preresnet(name: str, depth: int, num_outputs: int, input_shape: tuple[int, ...]) -> PreResNet:
    in_channels = check_image_input(name, num_outputs, input_shape)
    return PreResNet(num_outputs, depth=depth, in_channels=in_channels)


@register_model
def preresnet20(num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """PreResNet-20: basic blocks, 3 per stage (about 0.27M parameters for 10 classes)."""
    return _preresnet("preresnet20", 20, num_outputs, input_shape)


@register_model
def preresnet56(num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """PreResNet-56: bottleneck blocks, 6 per stage (about 0.59M parameters for 10 classes)."""
    return _preresnet("preresnet56", 56, num_outputs, input_shape)


@register_model
def preresnet110(num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """PreResNet-110: bottleneck blocks, 12 per stage (about 1.15M parameters for 10 classes; the
    reference's depth rule makes this a bottleneck network, unlike the 1.7M basic-block
    ResNet-110 of He et al.)."""
    return _preresnet("preresnet110", 110, num_outputs, input_shape)


@register_model
def preresnet164(num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """PreResNet-164: bottleneck blocks, 18 per stage (about 1.70M parameters for 10 classes)."""
    return _preresnet("preresnet164", 164, num_outputs, input_shape)

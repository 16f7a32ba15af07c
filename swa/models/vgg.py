"""VGG-16 with BatchNorm for 32×32 images (VGG16BN of the SWA experiments).

The architecture is configuration D of Simonyan & Zisserman, "Very Deep
Convolutional Networks for Large-Scale Image Recognition" (ICLR 2015), with
BatchNorm after every convolution, in the CIFAR form used by Izmailov et al.,
"Averaging Weights Leads to Wider Optima and Better Generalization" (UAI 2018),
whose code (timgaripov/swa ``models/vgg.py``) this module follows: thirteen 3×3
convolutions (with bias) → BN → ReLU in five blocks of widths 64/128/256/512/512,
each closed by a 2×2 max-pool, then Dropout → Linear(512, 512) → ReLU → Dropout →
Linear(512, 512) → ReLU → Linear(512, classes).

Differences from the reference: the first convolution takes ``input_shape[0]``
channels instead of 3, and a global average pool sits between the features and
the classifier. For 32×32 inputs the feature map is already 1×1, so the network
is the reference's; larger images (at least 32×32 is required) are averaged down.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from swa.models.preresnet import check_image_input
from swa.models.registry import register_model

__all__ = ["VGG", "VGG16_CONFIG"]

#: Output channels of the convolutions of configuration D; ``"M"`` is a 2×2 max-pool.
VGG16_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)


def _make_features(config: tuple[int | str, ...], in_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(channels, int(item), kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(item)))
        layers.append(nn.ReLU(inplace=True))
        channels = int(item)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG feature extractor with the SWA repository's 512-512 classifier.

    Args:
        num_outputs: number of classes.
        config: convolution widths and ``"M"`` pools; the last width must be 512.
            Default :data:`VGG16_CONFIG`.
        in_channels: input channels. Default 3.
        batch_norm: BatchNorm after every convolution. Default ``True``.
        width: the last convolution's width and the classifier's; every width is scaled by
            ``width / 512`` (default 512: the paper's network; smaller for smoke runs).
    """

    def __init__(self, num_outputs: int, config: tuple[int | str, ...] = VGG16_CONFIG,
                 in_channels: int = 3, batch_norm: bool = True, width: int = 512) -> None:
        super().__init__()
        if not isinstance(width, int) or width < 8 or width % 8:
            raise ValueError(f"vgg width must be a multiple of 8, at least 8, got {width!r}")
        config = tuple(c if c == "M" else int(c) * width // 512 for c in config)
        self.features = _make_features(config, in_channels, batch_norm)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
            nn.Linear(width, num_outputs),
        )
        # The reference init: He-normal with fan-out for convolutions and zero conv
        # biases; BatchNorm and linear layers keep PyTorch's defaults.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model
def vgg16_bn(num_outputs: int, input_shape: tuple[int, ...], width: int = 512) -> nn.Module:
    """VGG-16 with BatchNorm, SWA form (about 15.25M parameters for 10 classes); ``width`` < 512
    scales every layer down (the reproduction scripts' smoke runs).

    Needs images of at least 32×32: the five max-pools halve the size five times.
    """
    in_channels = check_image_input("vgg16_bn", num_outputs, input_shape, min_size=32)
    return VGG(num_outputs, VGG16_CONFIG, in_channels=in_channels, batch_norm=True, width=width)

"""torchvision's ResNet-18/50 and MobileNetV2, adapted to small (CIFAR-sized) images.

The networks are He et al., "Deep Residual Learning for Image Recognition"
(CVPR 2016) and Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks" (CVPR 2018), built by ``torchvision.models`` with ``weights=None``
(random initialisation; nothing is downloaded). They extend the model families of
Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
Generalization" (UAI 2018) with common modern baselines.

The ImageNet stems shrink a 32×32 image to 8×8 before the first stage, so they
are changed as in kuangliu/pytorch-cifar:

* ResNet: the 7×7 stride-2 stem convolution becomes 3×3, stride 1, padding 1,
  and the 3×3 stride-2 max-pool is removed.
* MobileNetV2: the stem convolution has stride 1 and the second stage
  (expansion 6, 24 channels) stride 1 instead of 2.

The stem takes ``input_shape[0]`` channels and gets torchvision's own init
(He-normal with fan-out); everything else is torchvision's network unchanged.
"""

from __future__ import annotations

import torch.nn as nn

from swa.models.preresnet import check_image_input
from swa.models.registry import register_model

__all__ = ["cifar_resnet", "cifar_mobilenet_v2"]

#: torchvision's MobileNetV2 stages (expansion t, channels c, blocks n, stride s),
#: with the second stage's stride set to 1 for small images.
CIFAR_MOBILENET_V2_SETTING: list[list[int]] = [
    [1, 16, 1, 1],
    [6, 24, 2, 1],  # stride 2 in the ImageNet network
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]


def _stem_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def cifar_resnet(arch: str, num_outputs: int, in_channels: int = 3) -> nn.Module:
    """torchvision ResNet ``arch`` (e.g. ``"resnet18"``) with a 3×3 stride-1 stem and no max-pool."""
    from torchvision import models  # imported on use: torchvision takes a second to import

    net = getattr(models, arch)(weights=None, num_classes=num_outputs)
    net.conv1 = _stem_conv(in_channels, net.conv1.out_channels)
    net.maxpool = nn.Identity()
    return net


def cifar_mobilenet_v2(num_outputs: int, in_channels: int = 3) -> nn.Module:
    """torchvision MobileNetV2 with a stride-1 stem and a stride-1 second stage."""
    from torchvision import models

    net = models.mobilenet_v2(weights=None, num_classes=num_outputs,
                              inverted_residual_setting=CIFAR_MOBILENET_V2_SETTING)
    stem = net.features[0][0]
    net.features[0][0] = _stem_conv(in_channels, stem.out_channels)
    return net


@register_model
def resnet18(num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """ResNet-18, CIFAR stem (11,173,962 parameters for 10 classes)."""
    in_channels = check_image_input("resnet18", num_outputs, input_shape)
    return cifar_resnet("resnet18", num_outputs, in_channels)


@register_model
def resnet50(num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """ResNet-50, CIFAR stem (23,520,842 parameters for 10 classes)."""
    in_channels = check_image_input("resnet50", num_outputs, input_shape)
    return cifar_resnet("resnet50", num_outputs, in_channels)


@register_model
def mobilenet_v2(num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """MobileNetV2 (width 1.0), CIFAR strides (2,236,682 parameters for 10 classes)."""
    in_channels = check_image_input("mobilenet_v2", num_outputs, input_shape)
    return cifar_mobilenet_v2(num_outputs, in_channels)


def imagenet_resnet(arch: str, num_outputs: int, in_channels: int = 3) -> nn.Module:
    """torchvision's ResNet ``arch`` (``resnet18`` or ``resnet50``) with its ImageNet stem and parameter
    names unchanged, so that torchvision's ImageNet weights load into everything but ``fc``. A 1-channel
    image is repeated to 3 channels (no parameter: the ImageNet ``conv1`` sees a gray image), as when
    fine-tuning on MNIST.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

    class GrayToRGBResNet(ResNet):
        def forward(self, x):
            return super().forward(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)

    if in_channels not in (1, 3):
        raise ValueError(f"{arch}_imagenet takes 1- or 3-channel images, got {in_channels}")
    block, layers = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet50": (Bottleneck, [3, 4, 6, 3])}[arch]
    return GrayToRGBResNet(block, layers, num_classes=num_outputs)


@register_model
def resnet50_imagenet(num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """ResNet-50 with the ImageNet stem (7×7 stride-2 conv, max-pool), for torchvision's ImageNet weights;
    gray images repeated to RGB (23,528,522 parameters for 10 classes)."""
    in_channels = check_image_input("resnet50_imagenet", num_outputs, input_shape)
    return imagenet_resnet("resnet50", num_outputs, in_channels)


@register_model
def resnet18_imagenet(num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """ResNet-18 with the ImageNet stem, for torchvision's ImageNet weights; gray images repeated to RGB
    (11,181,642 parameters for 10 classes)."""
    in_channels = check_image_input("resnet18_imagenet", num_outputs, input_shape)
    return imagenet_resnet("resnet18", num_outputs, in_channels)

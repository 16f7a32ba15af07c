"""Small models for the embedded data sets: a BatchNorm CNN for ``digits`` and an MLP for regression."""

from __future__ import annotations

import math
from typing import Sequence

import torch.nn as nn

from swa.models.registry import register_model

__all__ = ["SmallCNN", "MLP"]


class SmallCNN(nn.Module):
    """conv-BN-ReLU ×2, max-pool, conv-BN-ReLU, global average pool, linear.

    About 25k parameters at ``width=16``; trains on ``digits`` in seconds on a CPU.
    """

    def __init__(self, num_outputs: int, in_channels: int = 1, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1, bias=False),
            nn.BatchNorm2d(4 * w),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * w, num_outputs)

    def forward(self, x):
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """Fully connected network on flattened inputs: (Linear → activation) × len(hidden) → Linear."""

    def __init__(self, in_features: int, num_outputs: int, hidden: Sequence[int] = (64, 64),
                 activation: str = "tanh", batch_norm: bool = False) -> None:
        super().__init__()
        acts = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}, got {activation!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            if int(h) < 1:
                raise ValueError(f"hidden widths must be positive, got {list(hidden)}")
            layers.append(nn.Linear(width, int(h)))
            if batch_norm:
                layers.append(nn.BatchNorm1d(int(h)))
            layers.append(acts[activation]())
            width = int(h)
        layers.append(nn.Linear(width, num_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


@register_model
def cnn_small(num_outputs: int, input_shape: tuple[int, ...], width: int = 16) -> nn.Module:
    """The small BatchNorm CNN for 8×8 ``digits`` (any image size works)."""
    if len(input_shape) != 3:
        raise ValueError(f"cnn_small needs image inputs (C, H, W), got input shape {tuple(input_shape)}")
    return SmallCNN(num_outputs, in_channels=input_shape[0], width=width)


@register_model
def mlp(num_outputs: int, input_shape: tuple[int, ...], hidden: Sequence[int] = (64, 64),
        activation: str = "tanh", batch_norm: bool = False) -> nn.Module:
    """An MLP on the flattened input (the regression model of the seed study)."""
    return MLP(math.prod(input_shape), num_outputs, hidden=hidden, activation=activation, batch_norm=batch_norm)

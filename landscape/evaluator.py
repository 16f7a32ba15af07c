"""Batched evaluation of train/test loss and accuracy at many points of weight space.

One evaluator serves planes, lines and rays. A set of points is described as an
:class:`AffineFamily`: points ``base + c @ directions`` for coordinate rows ``c``
(and, with ``--bn interpolate``, buffers ``buffer_base + c @ buffer_directions``).
The data are put on the device once; the weights of a chunk of points are built on
the device from the family (never through CPU copies); memory is bounded by the
chunk size. For each point the model's parameters are overwritten in place, the
BatchNorm statistics are set by the BN mode, and the train and test sets are
evaluated in eval mode:

* ``recompute``: fresh statistics from the training inputs at every point
  (``swa.bn.update_bn_exact``; ``bn_samples`` caps the inputs used) — the SWA
  paper's choice;
* ``interpolate``: buffers move with the weights (affine in the coordinates);
* ``fixed``: the first point's buffers everywhere.

Losses are per-sample means; accuracy is a fraction. A diverged point yields
inf/NaN values, which are returned as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from swa.bn import update_bn_exact
from swa.data import TensorData
from swa.evaluation import evaluate
from landscape.weights import ParamSpace

__all__ = ["BN_MODES", "METRICS", "AffineFamily", "Evaluator"]

BN_MODES = ("recompute", "interpolate", "fixed")
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")


@dataclass
class AffineFamily:
    """Points ``base + coords[i] @ directions``; buffers alike when ``buffer_directions`` is given.

    Shapes: ``base`` (P,), ``directions`` (k, P), ``coords`` (N, k), ``buffer_base`` (B,),
    ``buffer_directions`` (k, B) or ``None`` (then every point has ``buffer_base``).
    """

    base: torch.Tensor
    directions: torch.Tensor
    coords: np.ndarray
    buffer_base: torch.Tensor
    buffer_directions: Optional[torch.Tensor] = None

    def __post_init__(self) -> None:
        self.coords = np.asarray(self.coords, dtype=np.float64).reshape(len(self.coords), -1)
        if self.coords.shape[1] != self.directions.shape[0]:
            raise ValueError(f"coords have {self.coords.shape[1]} columns but there are "
                             f"{self.directions.shape[0]} directions")

    def __len__(self) -> int:
        return self.coords.shape[0]

    def to(self, device: torch.device) -> "AffineFamily":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return AffineFamily(move(self.base), move(self.directions), self.coords, move(self.buffer_base),
                            move(self.buffer_directions))

    def weights(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters (n, P) and buffers (n, B) of the points ``rows``, built on the family's device."""
        c = torch.as_tensor(self.coords[rows], dtype=torch.float64, device=self.base.device)
        params = (self.base.double() + c @ self.directions.double()).to(self.base.dtype)
        if self.buffer_directions is None:
            buffers = self.buffer_base.expand(len(rows), -1)
        else:
            buffers = (self.buffer_base.double() + c @ self.buffer_directions.double()).to(self.buffer_base.dtype)
        return params, buffers


class Evaluator:
    """Evaluates a model at points of weight space on train and test data held on the device.

    Args:
        model: the architecture, with the first point's state loaded (its integer buffers are kept).
        data: train and test tensors.
        device: where to compute.
        bn_mode: one of :data:`BN_MODES` (``recompute`` needs a model with BatchNorm to matter).
        bn_samples: number of training inputs used to recompute BatchNorm statistics (all if ``None``),
            a fixed subset drawn with ``seed``.
        bn_pass: ``exact`` or ``single-pass`` (see ``swa.bn``).
        batch_size: evaluation batch size.
        precision: ``fp32`` or ``bf16`` (autocast on CUDA).
    """

    def __init__(self, model: nn.Module, data: TensorData, *, device: torch.device | str = "cpu",
                 bn_mode: str = "recompute", bn_samples: Optional[int] = None, bn_pass: str = "exact",
                 batch_size: int = 2048, precision: str = "fp32", seed: int = 0) -> None:
        if bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
        if bn_samples is not None and bn_samples < 2:
            raise ValueError(f"bn_samples must be at least 2, got {bn_samples}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        # Image models run channels_last: oneDNN and cuDNN convolutions are faster in it (see BENCHMARKS.md).
        fmt = torch.channels_last if data.x_train.dim() == 4 else torch.contiguous_format
        self.memory_format = fmt
        self.model = model.to(self.device, memory_format=fmt).eval()
        self.space = ParamSpace.of(model)
        self.task = data.task
        self.bn_mode, self.bn_pass, self.batch_size, self.precision = bn_mode, bn_pass, batch_size, precision
        place = lambda t: t.to(self.device).contiguous(memory_format=fmt)  # noqa: E731
        self.x_train, self.y_train = place(data.x_train), data.y_train.to(self.device)
        self.x_test, self.y_test = place(data.x_test), data.y_test.to(self.device)
        n = data.x_train.shape[0]
        if bn_samples is None or bn_samples >= n:
            self.x_bn = self.x_train
        else:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:bn_samples]
            self.x_bn = place(data.x_train[perm.sort().values])

    def _split(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        res = evaluate(self.model, x, y, self.task, batch_size=self.batch_size, device=self.device,
                       precision=self.precision, memory_format=self.memory_format)
        return res["loss"], float("nan") if res["acc"] is None else res["acc"]

    @torch.no_grad()
    def evaluate_point(self, params: torch.Tensor, buffers: Optional[torch.Tensor]) -> np.ndarray:
        """``[train_loss, train_acc, test_loss, test_acc]`` at one point (accuracies NaN for regression)."""
        self.space.load(self.model, params, None if self.bn_mode == "recompute" else buffers)
        if self.bn_mode == "recompute":
            update_bn_exact(self.model, self.x_bn, batch_size=self.batch_size, mode=self.bn_pass, device=self.device)
        self.model.eval()
        train = self._split(self.x_train, self.y_train)
        test = self._split(self.x_test, self.y_test)
        return np.array([train[0], train[1], test[0], test[1]], dtype=np.float64)

    def evaluate_rows(self, family: AffineFamily, rows: np.ndarray) -> np.ndarray:
        """Metrics (len(rows), 4) of the family's points ``rows``."""
        params, buffers = family.weights(rows)
        return np.stack([self.evaluate_point(params[i], buffers[i]) for i in range(len(rows))])

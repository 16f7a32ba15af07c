"""Losses and full-data evaluation shared by training and the landscape tools.

Classification: cross-entropy and accuracy (a fraction in [0, 1]); regression:
mean squared error averaged over output dimensions. Reported losses are
per-sample means over the whole set: (1/N) Σ_n ℓ(f(x_n), y_n).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from swa.data import CLASSIFICATION
from swa.devices import to_device
from swa.precision import autocast_scope, tf32_allowed, tf32_scope

__all__ = ["batch_loss", "evaluate"]


def batch_loss(outputs: torch.Tensor, targets: torch.Tensor, task: str, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy (classification) or MSE over output dims (regression), reduced over the batch.

    Half-precision outputs (autocast) are promoted to float32; float64 stays float64.
    """
    if outputs.dtype not in (torch.float32, torch.float64):
        outputs = outputs.float()
    if task == CLASSIFICATION:
        return F.cross_entropy(outputs, targets, reduction=reduction)
    per_sample = ((outputs - targets.reshape(outputs.shape)) ** 2).reshape(outputs.shape[0], -1).mean(dim=1)
    return per_sample.mean() if reduction == "mean" else per_sample.sum() if reduction == "sum" else per_sample


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str, batch_size: int = 1024,
             device: torch.device | str = "cpu", precision: str = "fp32",
             memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, float]:
    """Per-sample mean loss (and accuracy for classification) of ``model`` in eval mode over ``(x, y)``.

    Computed at ``precision`` as training computes (``swa.precision``): float32 with TF32 off on CUDA
    (``fp32``), TF32 on (``tf32``), or bf16 autocast on CUDA (``bf16``). The model's train/eval mode is restored afterwards. Returns
    ``{"loss": ..., "acc": ...}`` (``acc`` is ``None`` for regression).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    try:
        with tf32_scope(tf32_allowed(precision)):
            for start in range(0, x.shape[0], batch_size):
                xb = to_device(x[start:start + batch_size], device)
                yb = to_device(y[start:start + batch_size], device)
                if xb.dim() == 4:
                    xb = xb.contiguous(memory_format=memory_format)
                with autocast_scope(device, precision, cpu=False):
                    out = model(xb)
                total_loss += batch_loss(out, yb, task, reduction="sum").double()
                if task == CLASSIFICATION:
                    correct += (out.argmax(dim=1) == yb).sum()
    finally:
        model.train(was_training)
    n = x.shape[0]
    return {"loss": float(total_loss) / n, "acc": float(correct) / n if task == CLASSIFICATION else None}

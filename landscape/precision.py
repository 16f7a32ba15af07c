"""Numerical precision of the landscape's forward passes.

``fp32``  float32 throughout. On CUDA this also turns TF32 off for matmuls and cuDNN
          convolutions inside the scope (PyTorch leaves cuDNN's TF32 on by default, which
          would make "fp32" silently round inputs to a 10-bit mantissa).
``tf32``  float32 storage, TF32 tensor-core matmuls and convolutions on CUDA (Ampere or
          newer); the same as ``fp32`` on CPU, which has no TF32.
``bf16``  ``torch.autocast`` to bfloat16 on the device (CUDA or CPU); weights, BatchNorm
          statistics and the loss sums stay float32/float64.

Losses at ``tf32``/``bf16`` agree with ``fp32`` to about 1e-2 relative (tests/test_precision.py
on CPU; on a GPU when one is lent): enough to draw a landscape, not to compare two
checkpoints whose losses differ in the third digit.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["PRECISIONS", "precision_scope"]

PRECISIONS = ("fp32", "tf32", "bf16")  # fp16 autocast is not offered: it overflows in BatchNorm statistics


@contextmanager
def precision_scope(device: torch.device, precision: str) -> Iterator[None]:
    """Run the enclosed forward passes at ``precision`` on ``device`` (see the module docstring)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device = torch.device(device)
    if device.type == "cuda" and precision in ("fp32", "tf32"):
        allow = precision == "tf32"
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allow
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    elif precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield

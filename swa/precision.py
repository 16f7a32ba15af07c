"""Numerical precision of forward and backward passes: one scope for training, evaluation and the landscape.

``fp32``  float32 throughout. TF32 is off for CUDA matmuls and cuDNN convolutions and RNNs inside
          the scope (PyTorch leaves cuDNN's TF32 on by default, which would make "fp32" silently
          round inputs to a 10-bit mantissa, about 1e-3 relative).
``tf32``  float32 storage, TF32 tensor-core matmuls and convolutions on CUDA (Ampere or newer); the
          same as ``fp32`` on CPU, which has no TF32.
``bf16``  ``torch.autocast`` to bfloat16 on the device (CUDA or CPU); weights, BatchNorm statistics
          and the loss sums stay float32/float64. The TF32 flags are left as they are.

Training (``swa.trainer``) and its evaluations (``swa.evaluation.evaluate``) take the same three
names, applied in two scopes: the whole run inside :func:`tf32_scope` with TF32 on for ``tf32`` only
(:func:`tf32_allowed`), and each forward pass inside :func:`autocast_scope`, which autocasts ``bf16``
on CUDA only (a ``bf16`` training run on a CPU computes in float32, TF32 off, as ``fp32``).
:func:`precision_scope` is the landscape's single scope: :func:`autocast_scope` for ``bf16`` (CPU
included), else :func:`tf32_scope`.

The switches are process-wide, so :func:`tf32_scope` sets them whatever the device and restores
exactly what was there on exit. Where PyTorch has the ``fp32_precision`` API (2.9 and newer) only
that API is read and written, and it is what PyTorch's kernels consult: CUDA's
``torch.backends.cuda.matmul`` and ``torch.backends.cudnn.conv``/``.rnn`` (``tf32`` or ``ieee``),
and oneDNN's ``torch.backends.mkldnn.matmul``/``.conv``/``.rnn``, held at ``ieee`` (full float32
on the CPU, even under a ``"medium"`` matmul precision, which means bf16 there). Otherwise only the
legacy switches are (``torch.get_float32_matmul_precision``, ``torch.backends.cudnn.allow_tf32``).
Mixing the two makes PyTorch 2.9+ raise ("mix of the legacy and new APIs") when a legacy flag is
read after the new API has been set.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["PRECISIONS", "precision_scope", "tf32_scope", "tf32_state", "tf32_allowed", "autocast_scope",
           "HAS_FP32_PRECISION_API"]

PRECISIONS = ("fp32", "tf32", "bf16")  # fp16 autocast is not offered: it overflows in BatchNorm statistics


# The new API's switches: (name, the object whose ``fp32_precision`` it is).
_CUDA = (("cuda.matmul", lambda: torch.backends.cuda.matmul), ("cudnn.conv", lambda: torch.backends.cudnn.conv),
         ("cudnn.rnn", lambda: torch.backends.cudnn.rnn))
_CPU = (("mkldnn.matmul", lambda: torch.backends.mkldnn.matmul), ("mkldnn.conv", lambda: torch.backends.mkldnn.conv),
        ("mkldnn.rnn", lambda: torch.backends.mkldnn.rnn))
_NEW = _CUDA + _CPU


def _has_new_api() -> bool:
    try:
        return all(isinstance(get().fp32_precision, str) for _, get in _NEW)
    except AttributeError:
        return False


HAS_FP32_PRECISION_API = _has_new_api()


def tf32_state() -> dict[str, object]:
    """The TF32 switches as the API in use reads them (what :func:`tf32_scope` saves and restores)."""
    if HAS_FP32_PRECISION_API:
        return {name: get().fp32_precision for name, get in _NEW}
    return {"float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32}


def _set_tf32_state(state: dict[str, object]) -> None:
    if HAS_FP32_PRECISION_API:
        for name, get in _NEW:
            get().fp32_precision = state[name]
    else:
        torch.set_float32_matmul_precision(state["float32_matmul_precision"])
        torch.backends.cudnn.allow_tf32 = state["cudnn.allow_tf32"]


@contextmanager
def tf32_scope(allow: bool) -> Iterator[None]:
    """TF32 on (``allow``) or off for CUDA matmuls, cuDNN convolutions and RNNs inside the scope.

    On exit every switch is put back exactly (a ``"medium"`` matmul precision stays ``"medium"``),
    through the same API that was used to read it (see the module docstring).
    """
    saved = tf32_state()
    if HAS_FP32_PRECISION_API:
        value = "tf32" if allow else "ieee"
        _set_tf32_state({**{name: value for name, _ in _CUDA}, **{name: "ieee" for name, _ in _CPU}})
    else:
        _set_tf32_state({"float32_matmul_precision": "high" if allow else "highest", "cudnn.allow_tf32": allow})
    try:
        yield
    finally:
        _set_tf32_state(saved)


def _check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def tf32_allowed(precision: str) -> bool:
    """Whether ``precision`` lets CUDA matmuls and convolutions use TF32: ``tf32`` alone.

    Raises:
        ValueError: a precision not in :data:`PRECISIONS`.
    """
    _check(precision)
    return precision == "tf32"


@contextmanager
def autocast_scope(device: torch.device | str, precision: str, *, cpu: bool = True) -> Iterator[None]:
    """``torch.autocast`` to bfloat16 on ``device`` for ``precision="bf16"`` (on a CPU only with ``cpu``);
    nothing otherwise.

    Raises:
        ValueError: a precision not in :data:`PRECISIONS`.
    """
    _check(precision)
    device = torch.device(device)
    if precision == "bf16" and (cpu or device.type == "cuda"):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


@contextmanager
def precision_scope(device: torch.device | str, precision: str) -> Iterator[None]:
    """Run the enclosed passes at ``precision`` on ``device`` (see the module docstring).

    Raises:
        ValueError: a precision not in :data:`PRECISIONS`.
    """
    _check(precision)
    if precision == "bf16":
        with autocast_scope(device, precision):
            yield
    else:
        with tf32_scope(tf32_allowed(precision)):
            yield

"""Choosing the compute device from ``--device``, and moving tensors (and batches of them) between devices.

A device is named ``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` (the current
CUDA device) or ``cuda:N`` (the N-th visible GPU, counted from 0 as ``CUDA_VISIBLE_DEVICES``
shows them).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any, Callable, Optional

import torch

from swa.errors import ConfigError

__all__ = ["DEVICE_NAMES", "check_device_name", "resolve_device", "to_device", "map_tensors", "on_cpu"]

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N")  # what --help and error messages list
_CUDA_INDEX = re.compile(r"cuda:(0|[1-9][0-9]*)")


def check_device_name(name: str, flag: Optional[str] = "`device`") -> str:
    """``name`` if it is a device this toolkit takes (see the module docstring), without looking at the hardware.

    Raises:
        ConfigError: anything else, naming ``flag`` (when given) and the accepted forms.
    """
    if isinstance(name, str) and (name in ("auto", "cpu", "cuda") or _CUDA_INDEX.fullmatch(name)):
        return name
    raise ConfigError(f"{flag + ' ' if flag else ''}{name!r} is not one of {', '.join(DEVICE_NAMES)} "
                      "(N a GPU index: 0, 1, ...)")


def resolve_device(name: str) -> torch.device:
    """The ``torch.device`` that ``name`` means on this machine.

    ``auto`` → ``cuda`` when a GPU is available, else ``cpu``; ``cuda`` and ``cuda:N`` need a GPU,
    and ``cuda:N`` needs N below the number of visible GPUs.

    Raises:
        ConfigError: a name :func:`check_device_name` refuses, CUDA asked for without a GPU, or a
            GPU index past the last visible GPU.
    """
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"`device={name!r}` was asked for but no CUDA device is available; use `device='cpu'`")
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigError(f"`device={name!r}`: this machine shows {count} GPU{'s' if count != 1 else ''} "
                          f"(cuda:0 to cuda:{count - 1}); pick one of those or `device='cuda'`")
    return device


def map_tensors(batch: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``batch`` with ``fn`` applied to every tensor in it (nested tuples, named tuples, lists, dicts); containers
    are rebuilt with their type, an ``OrderedDict`` (a state dict) with its ``_metadata``."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, dict):
        items = ((k, map_tensors(v, fn)) for k, v in batch.items())
        out = OrderedDict(items) if isinstance(batch, OrderedDict) else dict(items)
        if hasattr(batch, "_metadata"):
            out._metadata = batch._metadata
        return out
    if isinstance(batch, (tuple, list)):
        items = [map_tensors(v, fn) for v in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)
    return batch


def _copy_to(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    return t.to(device, non_blocking=t.device.type == "cpu" and device.type == "cuda")


def to_device(batch: Any, device: torch.device | str) -> Any:
    """``batch`` (a tensor, or tensors nested as :func:`map_tensors` walks them) on ``device``, each tensor
    copied asynchronously only where that is safe.

    ``non_blocking=True`` is passed only for a host-to-GPU copy (a tensor on the CPU, pinned or not,
    and ``device`` a CUDA device): the copy is ordered on the GPU's stream before any kernel that
    reads it. A GPU-to-host copy made that way could be read by the CPU before it has arrived, so
    every other direction copies synchronously.
    """
    device = torch.device(device)
    return map_tensors(batch, lambda t: _copy_to(t, device))


def on_cpu(obj: Any) -> Any:
    """``obj`` with every tensor in it (nested as :func:`map_tensors` walks them) on the CPU: a tensor already there
    is kept as it is, one on another device is copied (detached); anything else is returned as is."""
    return map_tensors(obj, lambda t: t if t.device.type == "cpu" else t.detach().cpu())

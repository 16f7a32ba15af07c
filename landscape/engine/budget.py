"""How big a landscape computation is, checked before any work, and the memory each purpose may take.

A grid, a line or a set of rays is refused when it has more than ``max_points``
points (default :data:`DEFAULT_MAX_POINTS`, override with ``--max-points``) or when
its arrays would not fit in memory. The refusal states the size: points, result
file, forward passes.

Memory counted: the result arrays (four float64 metrics and a done flag per point),
the coordinates (``points × directions`` float64) and the direction matrix
(``directions × parameters`` float32).

Every memory fraction of the engine is defined here, one per purpose:

* :data:`RESULT_MEMORY_FRACTION` bounds a computation's arrays (:func:`check_budget`);
* :data:`BN_BATCH_MEMORY_FRACTION` bounds one BatchNorm batch's activations
  (:func:`landscape.engine.probe.bn_batch_size`);
* :data:`CACHE_FRACTION` bounds the batches of a data source kept on the device
  (:mod:`landscape.engine.data`).
"""

from __future__ import annotations

import math
import os

import torch

from landscape.engine.checks import arg, arg_value
from swa.errors import UserError

__all__ = ["DEFAULT_MAX_POINTS", "RESULT_MEMORY_FRACTION", "BN_BATCH_MEMORY_FRACTION", "CACHE_FRACTION",
           "check_budget", "free_memory", "human_bytes"]

DEFAULT_MAX_POINTS = 1_000_000
# Of the machine's physical memory: what a computation's result arrays, coordinates and directions may take.
RESULT_MEMORY_FRACTION = 0.5
# Of the device's free memory: what the activations of one batch of the BatchNorm statistics pass may take.
BN_BATCH_MEMORY_FRACTION = 0.25
# Of the device's free memory (available physical memory on a CPU): what a data source's batches, read once
# and kept on the device, may take.
CACHE_FRACTION = 0.25


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no memory check
        return 0


def free_memory(device) -> int:
    """Bytes free now: on CUDA the device's free memory plus what PyTorch's caching allocator holds reserved
    but unallocated (``memory_reserved - memory_allocated``, which it reuses before asking the device), else
    available physical memory (0 if unknown)."""
    if device.type == "cuda":
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return torch.cuda.mem_get_info(device)[0] + max(0, cached)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def check_budget(command: str, points: int, *, directions: int, parameters: int, samples: int, batch_size: int,
                 max_points: int = DEFAULT_MAX_POINTS) -> None:
    """Refuse a computation that is too large, before any array is allocated.

    Args:
        command: ``plane``, ``interp`` or ``rays`` (for the message).
        points: points to evaluate.
        directions: columns of the coordinates (2 for a plane, 1 for a line, K for rays).
        parameters: length of the parameter vector.
        samples: training plus test samples evaluated at each point.
        batch_size: evaluation batch size.
        max_points: the bound on ``points``.

    Raises:
        UserError: more than ``max_points`` points (says how to override), or more memory than
            half the machine's.
    """
    result_bytes = points * (4 * 8 + 1)
    passes = points * math.ceil(samples / max(batch_size, 1))
    size = (f"{points:,} points ({human_bytes(result_bytes)} of results, about {passes:,} forward passes of up to "
            f"{batch_size} samples)")
    if points > max_points:
        raise UserError(f"{command}: {size} exceed {arg('max_points')} {max_points:,}; pass "
                        f"{arg_value('max_points', points)} to run it anyway")
    memory = result_bytes + points * directions * 8 + directions * parameters * 4
    available = _physical_memory()
    if available and memory > RESULT_MEMORY_FRACTION * available:
        raise UserError(f"{command}: {size} need about {human_bytes(memory)} of memory; this machine has "
                        f"{human_bytes(available)}: use fewer points or directions")

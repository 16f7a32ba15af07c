"""Batch sizes chosen by measurement, per device and model.

On a CPU, convolutions are cache-bound and run fastest at small batches (PreResNet-20,
2 threads: 1,017 samples/s at batch 64, 535 at 2048); a GPU wants large ones. So the
evaluation batch size is not fixed: :func:`probe_batch_size` times one pass over the same
probe samples at each candidate and keeps the fastest (``--batch-size`` overrides it).

BatchNorm statistics want the opposite: as few batches as possible, since exact statistics
over several batches take about L/2 passes for L BatchNorm layers and one batch takes one.
:func:`bn_batch_size` is the largest batch whose activations fit in :data:`MEMORY_FRACTION`
of the device's free memory, estimated from the activation sizes of a two-sample forward.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from landscape.budget import free_memory as free_bytes

__all__ = ["CANDIDATES", "DEFAULT_BATCH_SIZE", "PROBE_SAMPLES", "MEMORY_FRACTION", "probe_batch_size",
           "bn_batch_size", "activation_bytes_per_sample", "synchronize"]

CANDIDATES = {"cpu": (64, 128, 256, 512, 1024, 2048), "cuda": (256, 512, 1024, 2048, 4096, 8192)}
DEFAULT_BATCH_SIZE = 2048  # where no probe ran (and for the size estimate before one)
PROBE_SAMPLES = 2048  # at most this many samples are timed per candidate
MEMORY_FRACTION = 0.25


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a wall-clock timing is whole."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe_batch_size(run: Callable[[int], Any], samples: int, device: torch.device,
                     candidates: Sequence[int] | None = None) -> tuple[int, dict[int, float]]:
    """The fastest batch size for ``run(batch_size)`` (one pass over ``samples`` probe samples).

    Candidates above ``samples`` are skipped (they would all be one batch); the first candidate is
    run once untimed to warm up. Returns the winner and the seconds of each candidate.
    """
    candidates = list(candidates or CANDIDATES.get(device.type, CANDIDATES["cuda"]))
    usable = [c for c in candidates if c < samples] + [min(samples, max(candidates))]
    usable = sorted(set(usable))
    run(usable[0])
    timings: dict[int, float] = {}
    for bs in usable:
        synchronize(device)
        t0 = time.perf_counter()
        run(bs)
        synchronize(device)
        timings[bs] = time.perf_counter() - t0
    return min(timings, key=timings.get), timings


def activation_bytes_per_sample(model: nn.Module, call: Callable[[], Any]) -> int:
    """Bytes per sample of the two largest module outputs of a forward (``call``) over two samples."""
    sizes: list[int] = []

    def record(mod, inp, out):
        if isinstance(out, torch.Tensor):
            sizes.append(out.numel() * out.element_size())

    handles = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    try:
        call()
    finally:
        for h in handles:
            h.remove()
    top = sorted(sizes, reverse=True)[:2]
    return max(1, sum(top) // 2)


def bn_batch_size(samples: int, per_sample: int, device: torch.device) -> int:
    """The largest batch (at most ``samples``) whose activations take at most MEMORY_FRACTION of free memory."""
    budget = MEMORY_FRACTION * free_bytes(device)
    if budget <= 0:
        return samples
    return int(max(2, min(samples, budget // (2 * per_sample))))

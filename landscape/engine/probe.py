"""Batch sizes chosen by measurement, per device and model.

On a CPU, convolutions are cache-bound and run fastest at small batches (PreResNet-20,
2 threads: 1,017 samples/s at batch 64, 535 at 2048); a GPU wants large ones. So the
evaluation batch size is not fixed: :func:`probe_batch_size` times one pass over the same
probe samples (as many as the largest candidate, :func:`probe_samples`) at each candidate, after
one untimed warm-up pass at that candidate, and keeps the fastest (``--batch-size`` overrides it).
A candidate that runs out of device memory ends the probe (larger ones would too); when even the
smallest does, the probe halves it until a batch fits (:data:`MIN_BATCH_SIZE`).

BatchNorm statistics want the opposite: as few batches as possible, since exact statistics
over several batches take about L/2 passes for L BatchNorm layers and one batch takes one.
:func:`bn_batch_size` is the largest batch whose activations fit in
:data:`~landscape.engine.budget.BN_BATCH_MEMORY_FRACTION` of the device's free memory, estimated from the
activation sizes of a two-sample forward.
"""

from __future__ import annotations

import platform
import time
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from landscape.engine.budget import BN_BATCH_MEMORY_FRACTION, free_memory as free_bytes
from swa.errors import UserError

__all__ = ["CANDIDATES", "DEFAULT_BATCH_SIZE", "MIN_BATCH_SIZE",
           "OutOfMemory", "device_name", "probe_batch_size", "probe_samples", "release_memory", "bn_batch_size",
           "activation_bytes_per_sample", "synchronize"]

CANDIDATES = {"cpu": (64, 128, 256, 512, 1024, 2048), "cuda": (256, 512, 1024, 2048, 4096, 8192)}
DEFAULT_BATCH_SIZE = 2048  # where no probe ran (and for the size estimate before one)
MIN_BATCH_SIZE = 1  # the halving after an out-of-memory error stops here
OutOfMemory = torch.cuda.OutOfMemoryError  # torch.OutOfMemoryError; defined in CPU builds too


def release_memory(device: torch.device) -> None:
    """After an out-of-memory error: return PyTorch's cached blocks to the device (CUDA only)."""
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


def device_name(device: torch.device) -> str:
    """What a probed batch size is valid for: the GPU's model name, or the CPU's (``/proc/cpuinfo``, else
    ``platform``)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type != "cpu":
        return device.type
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def probe_samples(device: torch.device) -> int:
    """How many samples the probe times per candidate on ``device``: the largest candidate, so it can win."""
    return max(CANDIDATES.get(torch.device(device).type, CANDIDATES["cuda"]))


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a wall-clock timing is whole."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe_batch_size(run: Callable[[int], Any], samples: int, device: torch.device,
                     candidates: Sequence[int] | None = None, *,
                     clock: Callable[[], float] = time.perf_counter) -> tuple[int, dict[int, float]]:
    """The fastest batch size for ``run(batch_size)`` (one pass over ``samples`` probe samples).

    Candidates above ``samples`` are skipped (they would all be one batch; ``samples`` itself is tried
    instead). Each candidate is run once untimed to warm up (allocations, kernel selection), then once
    timed by ``clock`` with the device synchronized around it. A candidate that raises
    ``torch.cuda.OutOfMemoryError`` frees the cache and ends the probe (larger ones are not tried); when
    the smallest one does, it is halved until a batch fits.

    Returns:
        The winner and the seconds of each candidate that fitted.

    Raises:
        UserError: out of memory at every batch size down to :data:`MIN_BATCH_SIZE`.
    """
    candidates = list(candidates or CANDIDATES.get(device.type, CANDIDATES["cuda"]))
    usable = [c for c in candidates if c < samples] + [min(samples, max(candidates))]
    usable = sorted(set(usable))
    timings: dict[int, float] = {}
    for bs in usable:
        seconds = _timed(run, bs, device, clock)
        if seconds is None:
            break
        timings[bs] = seconds
    bs = usable[0] // 2
    while not timings and bs >= MIN_BATCH_SIZE:
        seconds = _timed(run, bs, device, clock)
        if seconds is not None:
            timings[bs] = seconds
        bs //= 2
    if not timings:
        raise UserError(f"out of memory on {device} even at batch size {MIN_BATCH_SIZE}: free the device or use a "
                        "smaller model, fewer samples, or `device='cpu'`")
    return min(timings, key=timings.get), timings


def _timed(run: Callable[[int], Any], bs: int, device: torch.device, clock: Callable[[], float]) -> float | None:
    """Seconds of ``run(bs)`` after one untimed warm-up call; ``None`` (cache freed) if it runs out of memory."""
    try:
        run(bs)
        synchronize(device)
        t0 = clock()
        run(bs)
        synchronize(device)
        return clock() - t0
    except OutOfMemory:
        pass  # freed below, once the exception (and the frames holding its tensors) is gone
    release_memory(device)
    return None


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
    """The largest batch (at most ``samples``) whose activations take at most BN_BATCH_MEMORY_FRACTION of free
    memory."""
    budget = BN_BATCH_MEMORY_FRACTION * free_bytes(device)
    if budget <= 0:
        return samples
    return int(max(2, min(samples, budget // (2 * per_sample))))

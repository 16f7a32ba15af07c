"""Exact BatchNorm statistics for a set of weights (the SWA paper's "BN update").

After weights are averaged, the running statistics of the BatchNorm layers no
longer match the activations and must be recomputed from the training data.
``torch.optim.swa_utils.update_bn`` does this with a cumulative moving average
over batches: every batch counts the same however many samples it has, and the
variance is the mean of per-batch variances. :func:`update_bn_exact` instead gives
each layer the statistics it would get if the whole data set were one batch:

    running_mean = (1/n) Σ x,    running_var = (1/(n−1)) Σ (x − mean)²

per channel, over all ``n`` = samples × spatial positions, with batches combined
in float64 by Chan et al.'s parallel formula.

Two modes:

* ``"exact"`` (default): layers are processed one after another in execution
  order. While layer k is measured, every earlier layer normalizes with its own
  whole-set statistics (mean and biased variance, as a single-batch forward in
  train mode would), so layer k sees exactly the activations of a one-batch
  forward. The forward stops at layer k, so the cost is about L/2 passes over the
  data for L BatchNorm layers.
* ``"single-pass"``: one pass with every BatchNorm layer in train mode (upstream
  layers normalize with per-batch statistics, as ``update_bn`` does) while each
  layer's statistics are accumulated exactly. Equals ``"exact"`` when the data
  fit in one batch (``"exact"`` then takes this one pass itself); much cheaper
  for deep networks.

.. note:: Modes, momenta and hooks are restored/removed whatever happens.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["BN_MODES", "has_batchnorm", "update_bn_exact", "RunningMoments"]

BN_MODES = ("exact", "single-pass")


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the measured layer has its input."""


class RunningMoments:
    """Per-channel count, mean and sum of squared deviations, merged exactly across batches (float64)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def update(self, x: torch.Tensor) -> None:
        """Add a batch ``x`` of shape (B, C, ...) (or (B, C))."""
        x = x.detach()
        dims = [0] + list(range(2, x.dim()))
        nb = x.numel() // x.shape[1]
        # Per-batch moments with PyTorch's fused kernel (Welford, in the input's precision, fp32 at least);
        # batches are merged in float64.
        var_b, mean_b = torch.var_mean(x.float(), dim=dims, correction=0)
        mean_b, m2_b = mean_b.double(), var_b.double() * nb
        if self.mean is None:
            self.n, self.mean, self.m2 = nb, mean_b, m2_b
            return
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * nb / n)
        self.n = n

    def var(self, unbiased: bool) -> torch.Tensor:
        if self.mean is None:
            raise RuntimeError("no data seen")
        return self.m2 / (self.n - 1 if unbiased else self.n)


def has_batchnorm(model: nn.Module) -> bool:
    """True if ``model`` has a BatchNorm layer that keeps running statistics."""
    return any(isinstance(m, _BatchNorm) and m.track_running_stats for m in model.modules())


@contextmanager
def _preserved_modes(model: nn.Module) -> Iterator[None]:
    modes = {m: m.training for m in model.modules()}
    momenta = {m: m.momentum for m in model.modules() if isinstance(m, _BatchNorm)}
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training
        for m, momentum in momenta.items():
            m.momentum = momentum


def _batches(x: torch.Tensor, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    for start in range(0, x.shape[0], batch_size):
        yield x[start:start + batch_size].to(device, non_blocking=True)


def _execution_order(model: nn.Module, layers: list[_BatchNorm], probe: torch.Tensor) -> list[_BatchNorm]:
    order: list[_BatchNorm] = []
    handles = [m.register_forward_pre_hook(lambda mod, inp: order.append(mod) if mod not in order else None)
               for m in layers]
    try:
        model.eval()
        model(probe)
    finally:
        for h in handles:
            h.remove()
    return order


def _set_stats(layer: _BatchNorm, moments: RunningMoments, unbiased: bool) -> None:
    layer.running_mean.copy_(moments.mean.to(layer.running_mean.dtype))
    layer.running_var.copy_(moments.var(unbiased).to(layer.running_var.dtype))
    if layer.num_batches_tracked is not None:
        layer.num_batches_tracked.fill_(1)


@torch.no_grad()
def update_bn_exact(model: nn.Module, inputs: torch.Tensor, batch_size: int = 1024, mode: str = "exact",
                    device: torch.device | str | None = None) -> None:
    """Set every BatchNorm layer's running statistics to its whole-data-set statistics.

    Args:
        model: the network; its BatchNorm buffers are overwritten in place.
        inputs: training inputs (no augmentation), any device; moved to ``device`` batch by batch.
        batch_size: batch size of the passes (the result does not depend on it in ``"exact"`` mode).
        mode: ``"exact"`` or ``"single-pass"`` (see the module docstring).
        device: where to run; default: the device of the model's first parameter.

    Raises:
        ValueError: unknown ``mode``, non-positive ``batch_size`` or fewer than 2 inputs.
    """
    if mode not in BN_MODES:
        raise ValueError(f"mode must be one of {BN_MODES}, got {mode!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if inputs.shape[0] < 2:
        raise ValueError(f"need at least 2 inputs to estimate a variance, got {inputs.shape[0]}")
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not layers:
        return
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    with _preserved_modes(model):
        # With all inputs in one batch, one train-mode pass *is* the one-batch forward: exact and cheapest.
        if mode == "single-pass" or inputs.shape[0] <= batch_size:
            _single_pass(model, layers, inputs, batch_size, device)
        else:
            _sequential(model, layers, inputs, batch_size, device)


def _single_pass(model, layers, inputs, batch_size, device) -> None:
    moments = {m: RunningMoments() for m in layers}
    handles = [m.register_forward_pre_hook(lambda mod, inp: moments[mod].update(inp[0])) for m in layers]
    try:
        model.eval()
        for m in layers:
            m.train()
        for xb in _batches(inputs, batch_size, device):
            model(xb)
    finally:
        for h in handles:
            h.remove()
    for m in layers:
        if moments[m].mean is not None:
            _set_stats(m, moments[m], unbiased=True)


def _sequential(model, layers, inputs, batch_size, device) -> None:
    order = _execution_order(model, layers, inputs[:2].to(device))
    done: list[tuple[_BatchNorm, RunningMoments]] = []
    model.eval()  # dropout off; measured layers stop the pass, earlier ones use their fixed statistics
    for layer in order:
        moments = RunningMoments()

        def capture(mod, inp, moments=moments):
            moments.update(inp[0])
            raise _Stop

        handle = layer.register_forward_pre_hook(capture)
        try:
            for xb in _batches(inputs, batch_size, device):
                try:
                    model(xb)
                except _Stop:
                    pass
        finally:
            handle.remove()
        # A one-batch train-mode forward normalizes with the biased variance: do the same downstream.
        _set_stats(layer, moments, unbiased=False)
        done.append((layer, moments))
    for layer, moments in done:
        _set_stats(layer, moments, unbiased=True)

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
  fit in one batch; much cheaper for deep networks.

When the data fit in one batch both modes take one train-mode forward with
momentum 1, which leaves every layer exactly that batch's statistics.

.. note:: Modes, momenta and hooks are restored/removed whatever happens.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from swa.devices import to_device

__all__ = ["BN_PASSES", "has_batchnorm", "update_bn_exact", "RunningMoments"]

#: How statistics are gathered (``bn_pass``, in training and the landscape alike); not to be confused with the
#: landscape's BatchNorm strategies, ``bn`` (``landscape.engine.bn``: what the buffers are at a point).
BN_PASSES = ("exact", "single-pass")


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
        self._merge(nb, mean_b.double(), var_b.double() * nb)

    def add_moments(self, mean_b: torch.Tensor, var_b: torch.Tensor, nb: int) -> None:
        """Add a batch of ``nb`` values per channel given its mean and unbiased variance."""
        self._merge(nb, mean_b.double(), var_b.double() * (nb - 1))

    def _merge(self, nb: int, mean_b: torch.Tensor, m2_b: torch.Tensor) -> None:
        """Chan et al.'s pairwise update with a batch of count ``nb``, mean and sum of squared deviations."""
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


def _batch_source(inputs: Any, batch_size: int, device: torch.device) -> Callable[[], Iterator[Any]]:
    """A factory of batch iterators: slices of a tensor, or the batches of a re-iterable, moved to ``device``."""
    if isinstance(inputs, torch.Tensor):
        def slices() -> Iterator[torch.Tensor]:
            for start in range(0, inputs.shape[0], batch_size):
                yield to_device(inputs[start:start + batch_size], device)
        return slices
    return lambda: (to_device(batch, device) for batch in inputs)


def _execution_order(model: nn.Module, layers: list[_BatchNorm], call: Callable[[Any], Any],
                     probe: Any) -> list[_BatchNorm]:
    order: list[_BatchNorm] = []
    handles = [m.register_forward_pre_hook(lambda mod, inp: order.append(mod) if mod not in order else None)
               for m in layers]
    try:
        model.eval()
        call(probe)
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
def update_bn_exact(model: nn.Module, inputs: Any, batch_size: int = 1024, mode: str = "exact",
                    device: torch.device | str | None = None, call: Optional[Callable[[Any], Any]] = None) -> None:
    """Set every BatchNorm layer's running statistics to its whole-data-set statistics.

    Args:
        model: the network; its BatchNorm buffers are overwritten in place.
        inputs: training inputs (no augmentation): a tensor, cut into batches of ``batch_size``, or a
            re-iterable of batches (a list, a ``DataLoader``), each moved to ``device`` as it is read.
        batch_size: batch size of the passes over a tensor (the result does not depend on it in
            ``"exact"`` mode).
        mode: ``"exact"`` or ``"single-pass"`` (see the module docstring).
        device: where to run; default: the device of the model's first parameter.
        call: runs the network on one batch (default ``model(batch)``); for models called another way
            (dict batches, a functional call with other weights). It must run ``model``'s BatchNorm layers.

    Raises:
        ValueError: unknown ``mode``, non-positive ``batch_size`` or fewer than 2 inputs.
    """
    if mode not in BN_PASSES:
        raise ValueError(f"mode must be one of {BN_PASSES}, got {mode!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(inputs, torch.Tensor) and inputs.shape[0] < 2:
        raise ValueError(f"need at least 2 inputs to estimate a variance, got {inputs.shape[0]}")
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not layers:
        return
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    call = call or model
    batches = _batch_source(inputs, batch_size, device)
    with _preserved_modes(model):
        # With all inputs in one batch, one train-mode pass *is* the one-batch forward: exact and cheapest.
        if _at_most_one(inputs, batch_size, batches):
            _one_batch(model, layers, batches, call)
        elif mode == "single-pass":
            _single_pass(model, layers, batches, call)
        else:
            _sequential(model, layers, batches, call)


def _at_most_one(inputs: Any, batch_size: int, batches: Callable[[], Iterator[Any]]) -> bool:
    """Whether the inputs make at most one batch: from their size or length when known (no data read or
    moved), else by reading up to two batches."""
    if isinstance(inputs, torch.Tensor):
        return inputs.shape[0] <= batch_size
    try:
        return len(inputs) <= 1
    except TypeError:
        it = batches()
        next(it, None)
        return next(it, None) is None


def _one_batch(model, layers, batches, call) -> None:
    """All inputs in one batch: a train-mode forward with momentum 1 leaves each layer exactly that batch's
    mean and unbiased variance, computed by BatchNorm's own kernel (no hooks, no second reduction)."""
    model.eval()
    for m in layers:
        m.train()
        m.momentum = 1.0
        m.reset_running_stats()  # (1 − momentum) · old is 0 · old: NaN if the old statistics were not finite
    for batch in batches():
        call(batch)
    for m in layers:
        if m.num_batches_tracked is not None:
            m.num_batches_tracked.fill_(1)


def _single_pass(model, layers, batches, call) -> None:
    """One train-mode pass with momentum 1: after each layer's forward its running buffers hold that batch's
    mean and unbiased variance (BatchNorm's own kernel), which are merged exactly across batches in float64.
    A pre-hook only records the batch's count per channel; nothing reads the activations a second time."""
    moments = {m: RunningMoments() for m in layers}
    counts: dict[_BatchNorm, int] = {}

    def count(mod, inp):
        counts[mod] = inp[0].numel() // inp[0].shape[1]

    def merge(mod, inp, out):
        moments[mod].add_moments(mod.running_mean, mod.running_var, counts[mod])

    handles = [h for m in layers for h in (m.register_forward_pre_hook(count), m.register_forward_hook(merge))]
    try:
        model.eval()
        for m in layers:
            m.train()
            m.momentum = 1.0
            m.reset_running_stats()  # see _one_batch
        for batch in batches():
            call(batch)
    finally:
        for h in handles:
            h.remove()
    for m in layers:
        if moments[m].mean is not None:
            _set_stats(m, moments[m], unbiased=True)


def _sequential(model, layers, batches, call) -> None:
    order = _execution_order(model, layers, call, next(batches()))
    done: list[tuple[_BatchNorm, RunningMoments]] = []
    model.eval()  # dropout off; measured layers stop the pass, earlier ones use their fixed statistics
    for layer in order:
        moments = RunningMoments()

        def capture(mod, inp, moments=moments):
            moments.update(inp[0])
            raise _Stop

        handle = layer.register_forward_pre_hook(capture)
        try:
            for batch in batches():
                try:
                    call(batch)
                except _Stop:
                    pass
        finally:
            handle.remove()
        # A one-batch train-mode forward normalizes with the biased variance: do the same downstream.
        _set_stats(layer, moments, unbiased=False)
        done.append((layer, moments))
    for layer, moments in done:
        _set_stats(layer, moments, unbiased=True)

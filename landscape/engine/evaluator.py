"""Batched evaluation of train/test loss and accuracy at many points of weight space, functionally.

One evaluator serves planes, lines and rays, for the command line and the Python API.
A set of points is an :class:`AffineFamily`: parameters ``base + c @ directions`` for
coordinate rows ``c`` (buffers alike when they follow the weights), and the *frozen*
parameters outside the space, which every point of the family keeps. The weights of a
chunk of points are built on the device from the family (never through CPU copies), so
memory is bounded by the chunk. Each point is evaluated with
``torch.func.functional_call`` on the private copy of the model that the evaluator's
:class:`~landscape.engine.session.Session` holds (the caller's model is never changed), with the
session's data placement, precision and BatchNorm recompute: BatchNorm buffers come from the BN
strategy (``landscape.engine.bn``), and every batch goes through the one loss definition
(``landscape.engine.forward``), in eval mode.

Losses are per-sample means; accuracy is a fraction (NaN when not counted, or with no
test split). A diverged point yields inf/NaN values, which are returned as they are.
A ``forward_fn``'s extra metrics (``landscape.engine.forward``) follow the four, as
:func:`landscape.results.store.extra_metric_names` orders them; :meth:`Evaluator.find_extras` learns their names.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn

from landscape.engine.bn import bn_strategy
from landscape.engine.data import EvalData
from landscape.engine.forward import Forward, SplitMeans
from landscape.engine.precision import precision_scope
from landscape.engine.probe import (DEFAULT_BATCH_SIZE, OutOfMemory, activation_bytes_per_sample, bn_batch_size,
                              probe_batch_size, probe_samples, release_memory, synchronize)
from landscape.engine.session import Session
from landscape.engine.weights import ParamSpace
from landscape.results.metrics import METRICS
from swa.errors import UserError

__all__ = ["METRICS", "AffineFamily", "Evaluator"]

VMAP_MAX_SECONDS = 0.05  # try vmapping chunks only where one point's probe pass is cheaper than this


@dataclass
class AffineFamily:
    """Points ``base + coords[i] @ directions``; buffers alike when ``buffer_directions`` is given.

    Shapes: ``base`` (P,), ``directions`` (k, P), ``coords`` (N, k), ``buffer_base`` (B,),
    ``buffer_directions`` (k, B) or ``None`` (then every point has ``buffer_base``). ``frozen``:
    the parameters outside the space (by name), the same at every point of the family.
    """

    base: torch.Tensor
    directions: torch.Tensor
    coords: np.ndarray
    buffer_base: torch.Tensor
    buffer_directions: Optional[torch.Tensor] = None
    frozen: dict[str, torch.Tensor] = field(default_factory=dict)

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
                            move(self.buffer_directions), {k: move(v) for k, v in self.frozen.items()})

    def weights(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters (n, P) and buffers (n, B) of the points ``rows``, built on the family's device.

        ``base + Σ_j c_j d_j`` in the base's dtype, one fused multiply-add per direction and element
        (``addcmul_``): each point's values are the same whatever the chunk, and the chunk costs
        n × P numbers of the model's dtype, with no float64 copy (half the memory of building it in
        float64 and casting; BENCHMARKS.md).
        """
        params = _combine(self.base, self.directions, self.coords[rows])
        if self.buffer_directions is None:
            buffers = self.buffer_base.expand(len(rows), -1)
        else:
            buffers = _combine(self.buffer_base, self.buffer_directions, self.coords[rows])
        return params, buffers


def _combine(base: torch.Tensor, directions: torch.Tensor, coords: np.ndarray) -> torch.Tensor:
    """Rows ``base + coords[i] @ directions``, accumulated direction by direction in ``base.dtype``."""
    c = torch.as_tensor(coords, dtype=base.dtype, device=base.device)
    out = base.expand(len(c), -1).clone()
    for j in range(directions.shape[0]):
        out.addcmul_(c[:, j:j + 1], directions[j:j + 1].to(base.dtype))
    return out


class Evaluator(Session):
    """Evaluates a model at points of weight space on train and test data (see the module docstring); a
    :class:`~landscape.engine.session.Session` on all training samples, channels-last for image data.

    Args:
        model: the architecture (copied; the copy's integer buffers are used, the caller's model is untouched).
        data: train and optional test split.
        forward: the loss/accuracy definition.
        space: which parameters the points' vectors hold.
        device: where to compute.
        bn: a strategy name of :data:`landscape.engine.bn.BN_STRATEGIES`.
        bn_samples: number of training inputs used to recompute BatchNorm statistics (all if ``None``),
            a fixed subset drawn with ``seed`` (tensor data only).
        bn_pass: ``exact`` or ``single-pass`` (see ``swa.bn``).
        batch_size: evaluation batch size (tensor data; a DataLoader keeps its own); ``None``: chosen by
            :meth:`tune` (``landscape.engine.probe``).
        bn_batch_size: batch size of the BatchNorm passes; ``None``: as large as memory allows (:meth:`tune`).
        precision: ``fp32``, ``tf32`` or ``bf16`` (``landscape.engine.precision``).
    """

    def __init__(self, model: nn.Module, data: EvalData, forward: Forward, space: ParamSpace, *,
                 device: torch.device | str = "cpu", bn: str = "recompute", bn_samples: Optional[int] = None,
                 bn_pass: str = "single-pass", batch_size: Optional[int] = DEFAULT_BATCH_SIZE,
                 bn_batch_size: Optional[int] = None,
                 precision: str = "fp32", seed: int = 0) -> None:
        if bn_samples is not None and bn_samples < 2:
            raise ValueError(f"bn_samples must be at least 2, got {bn_samples}")
        for name, value in (("batch_size", batch_size), ("bn_batch_size", bn_batch_size)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.strategy = bn_strategy(bn)
        super().__init__(model, data, forward, space, device=device, bn_samples=bn_samples, seed=seed,
                         memory_format=torch.channels_last if data.image_like else torch.contiguous_format,
                         precision=precision)
        self.bn_pass, self.batch_size = bn_pass, batch_size
        self.bn_batch_size = bn_batch_size
        self.probe_seconds: dict[int, float] = {}
        self.vmap = False  # evaluate a chunk in one vmapped call (chosen by tune() where it measures faster)
        self.extras: tuple[str, ...] = ()  # a forward_fn's extra metric names (find_extras)

    @property
    def bn(self) -> str:
        return self.strategy.name

    def _metrics(self, split, weights: dict[str, torch.Tensor], batch_size: Optional[int] = None) -> SplitMeans:
        if split is None:
            return SplitMeans(float("nan"), float("nan"), {e: float("nan") for e in self.extras})
        means = self.means(split, weights, batch_size or self.batch_size or DEFAULT_BATCH_SIZE, extras=True)
        if tuple(sorted(means.extras)) != tuple(sorted(self.extras)):
            raise UserError(f"forward_fn returned extra metrics ({', '.join(sorted(means.extras)) or 'none'}) here "
                            f"but ({', '.join(self.extras) or 'none'}) at the first point: every batch must return "
                            "the same keys")
        return means

    @torch.inference_mode()
    def find_extras(self, family: AffineFamily) -> tuple[str, ...]:
        """The extra metric names a ``forward_fn`` returns (sorted; none without one), from one training batch at
        the family's first point; sets :attr:`extras`."""
        if self.applied.definition.forward_fn is None:
            return self.extras
        family = family.to(self.device)
        params, buffers = family.weights(np.array([0]))
        weights = {**self.weights(params[0], family.frozen), **self.buffer_weights(buffers[0])}
        batch = next(iter(self.train.batches(self.batch_size or DEFAULT_BATCH_SIZE)))
        self.model.eval()
        with precision_scope(self.device, self.precision):
            self.extras = tuple(sorted(self.applied.call(weights, batch, extras=True)[3]))
        return self.extras

    @torch.inference_mode()
    def tune(self, family: AffineFamily, chunk: int = 16) -> dict[str, Any]:
        """Choose the batch sizes left open (``landscape.engine.probe``), at the family's first point, and whether
        chunks of ``chunk`` points (the runner's) are evaluated in one vmapped call; returns the choices."""
        family = family.to(self.device)
        params, buffers = family.weights(np.array([0]))
        weights = {**self.weights(params[0], family.frozen), **self.buffer_weights(buffers[0])}
        if self.batch_size is None and self.train.is_tensors:
            probe = self.train.head(probe_samples(self.device))
            self.batch_size, self.probe_seconds = probe_batch_size(
                lambda bs: self._metrics(probe, weights, bs), len(probe), self.device)
        if self.bn_batch_size is None and self.bn_data.is_tensors and self.strategy.name == "recompute":
            two = next(iter(self.bn_data.batches(2)))
            per_sample = activation_bytes_per_sample(
                self.model, lambda: self.applied.call(weights, two, run_only=True))
            self.bn_batch_size = bn_batch_size(len(self.bn_data), per_sample, self.device)
        # vmap amortizes per-call overhead: worth trying only where a point costs little (small models)
        cheap = bool(self.probe_seconds) and min(self.probe_seconds.values()) < VMAP_MAX_SECONDS
        if cheap and self.can_vmap(family) and len(family) > 1:
            self.vmap = self._vmap_is_faster(family, chunk)
        return {"batch_size": self.batch_size, "bn_batch_size": self.bn_batch_size,
                "probe_seconds": {str(k): v for k, v in self.probe_seconds.items()}, "vmap": self.vmap}

    def _vmap_is_faster(self, family: AffineFamily, points: int) -> bool:
        """Time ``points`` points of the family (a chunk as the runner cuts it) one by one and as one vmapped
        chunk, on the probe samples; True if vmap wins. False when vmap fails (a module without a batching
        rule) or runs out of memory (the cache is freed)."""
        rows = np.arange(min(points, len(family)))
        full = self.train, self.test
        self.train, self.test = self.train.head(probe_samples(self.device)), None
        timings = {}
        try:
            for use in (False, True, False, True):  # each twice: the first of each warms up
                self.vmap = use
                started = time.perf_counter()
                with warnings.catch_warnings():  # functorch's "no batching rule" notes: measured, not shown
                    warnings.simplefilter("ignore")
                    self.evaluate_rows(family, rows)
                if use and not self.vmap:  # the vmapped chunk ran out of memory (evaluate_rows fell back)
                    return False
                synchronize(self.device)
                timings[use] = time.perf_counter() - started
        except OutOfMemory:
            timings = None  # the chunk's stacked weights and activations do not fit: stay with the loop
        except Exception:  # a module without a batching rule: stay with the loop
            return False
        finally:
            self.vmap = False
            self.train, self.test = full
        if timings is None:
            release_memory(self.device)
            return False
        return timings[True] < timings[False]

    @torch.inference_mode()
    def evaluate_point(self, params: torch.Tensor, buffers: torch.Tensor,
                       frozen: Optional[dict[str, torch.Tensor]] = None) -> np.ndarray:
        """``[train_loss, train_acc, test_loss, test_acc]`` at one point (accuracies NaN when not counted), then the
        extra metrics in :func:`landscape.results.store.extra_metric_names` order."""
        weights = self.weights(params, frozen or {})
        if self.strategy.recomputes:  # into the private model, whose buffers the forward then uses
            size = self.bn_batch_size or (len(self.bn_data) if self.bn_data.is_tensors else 1)
            self.recompute_bn(weights, size, self.bn_pass)
        else:
            weights.update(self.buffer_weights(buffers))
        self.model.eval()
        train = self._metrics(self.train, weights)
        test = self._metrics(self.test, weights)
        return np.array([train.loss, train.acc, test.loss, test.acc] + [train.extras[e] for e in self.extras]
                        + [test.extras[e] for e in self.extras], dtype=np.float64)

    def evaluate_rows(self, family: AffineFamily, rows: np.ndarray) -> np.ndarray:
        """Metrics (len(rows), 4 + 2·len(extras)) of the family's points ``rows`` (in one vmapped call when
        :meth:`tune` chose it; a vmapped call that runs out of device memory frees the cache and turns vmap off,
        and the rows are evaluated one by one)."""
        with torch.inference_mode():
            params, buffers = family.weights(rows)
        if self.vmap and self.can_vmap(family) and len(rows) > 1:
            try:
                return self._evaluate_vmapped(params, buffers[0], family.frozen)
            except OutOfMemory:
                self.vmap = False
            release_memory(self.device)
        return np.stack([self.evaluate_point(params[i], buffers[i], family.frozen) for i in range(len(rows))])

    def can_vmap(self, family: AffineFamily) -> bool:
        """A chunk can be one ``vmap``: tensor data, the default loss or a ``loss_fn``, and buffers shared by
        the points (``fixed``; rays under ``interpolate``). Recomputed statistics are per point: no."""
        return (self.train.is_tensors and (self.test is None or self.test.is_tensors)
                and self.applied.definition.forward_fn is None and not self.strategy.recomputes
                and family.buffer_directions is None)

    @torch.inference_mode()
    def _evaluate_vmapped(self, params: torch.Tensor, buffers: torch.Tensor,
                          frozen: dict[str, torch.Tensor]) -> np.ndarray:
        """The chunk's points (rows of ``params``) in one ``torch.func.vmap`` of the functional forward per batch."""
        shared = {**frozen, **self.buffer_weights(buffers)}
        stacked = self.space.split_rows(params)
        self.model.eval()

        def one(w: dict[str, torch.Tensor], batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
            total, correct, _ = self.applied.call({**shared, **w}, batch)
            return total.double(), (torch.zeros((), dtype=torch.int64, device=total.device) if correct is None
                                    else correct)

        many = torch.func.vmap(one, in_dims=(0, None))
        out = np.full((params.shape[0], 4), np.nan)
        for col, split in ((0, self.train), (2, self.test)):
            if split is None:
                continue
            loss = correct = None
            for batch in split.batches(self.batch_size or DEFAULT_BATCH_SIZE):
                with precision_scope(self.device, self.precision):
                    total, n_correct = many(stacked, batch)
                loss = total if loss is None else loss + total
                correct = n_correct if correct is None else correct + n_correct
            n = len(split)
            out[:, col] = loss.cpu().numpy() / n
            if self.applied.definition.counts_accuracy(split.y):
                out[:, col + 1] = correct.cpu().numpy() / n
        return out

"""The training loss as a function of the flat parameter vector: value, gradient and Hessian-vector products.

    L(w) = (1/N) Σ_n ℓ(f(x_n; w), y_n)

over the training set (or a fixed subset of ``samples`` points), with the model in
eval mode and its BatchNorm buffers fixed at the base point's (recomputed there
from the training inputs if asked, as the landscape commands do). w holds the
parameters of a :class:`~landscape.engine.weights.ParamSpace` (all, or a chosen subset; the
others stay at the point's values). The loss ℓ is the evaluator's
(``landscape.engine.forward``: default cross-entropy/MSE, a ``loss_fn`` or a ``forward_fn``),
and data come in any form ``landscape.engine.data`` accepts. Batches are summed, so every
quantity is the exact per-sample mean whatever the batch size: a computation that runs
out of device memory (``torch.cuda.OutOfMemoryError``) frees the cache, halves the batch
size and starts again, and gives the same value up to rounding.
Hessian-vector products are forward-over-reverse (``torch.func.jvp`` of
``torch.func.grad``), the curvlinops / functorch recipe. When the samples fit in
one batch, the gradient g(w) is built once at the point with its graph kept, and
every product is one backward pass through it, H·v = ∇_w (g(w)·v) (reverse over
reverse, as PyHessian does): no forward pass per product, and no tracing cost
(``torch.func.linearize`` took 2.8 s to set up on the digits CNN; BENCHMARKS.md).

The objective is a :class:`~landscape.engine.session.Session` (the engine's private model copy,
data placement, sample subset, precision and BatchNorm recompute, shared with the grid
:class:`~landscape.engine.evaluator.Evaluator`) in float ``dtype``, contiguous layout, fp32.
:meth:`ModelObjective.value` is the session's per-sample mean (``split_means``) over the
objective's samples, and :meth:`ModelObjective.values` evaluates many points of an
:class:`~landscape.engine.evaluator.AffineFamily` (the ray width's K·S ray points) the same way,
point by point, so that each equals ``value`` at that point bitwise.

Every sharpness measure is written against this small interface (``value``,
``value_and_grad``, ``hvp``, ``num_params``, ``point``; ``values`` where a measure evaluates
a family of points, else it loops over ``value``), so the closed-form tests can use any model
whose loss is known analytically.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Optional, TypeVar

import numpy as np
import torch
import torch.nn as nn
from torch.func import grad, jvp

from landscape.engine.data import as_eval_data
from landscape.engine.evaluator import AffineFamily
from landscape.engine.forward import Forward
from landscape.engine.probe import MIN_BATCH_SIZE, OutOfMemory, release_memory
from landscape.engine.session import Session
from landscape.engine.weights import ParamSelector, ParamSpace
from swa.errors import UserError

__all__ = ["ModelObjective"]

T = TypeVar("T")


class ModelObjective(Session):
    """Training loss of ``model`` around the point ``state`` (see the module docstring): a
    :class:`~landscape.engine.session.Session` on ``samples`` training points, in ``dtype``.

    Args:
        model: the architecture (not modified; a copy is used).
        data: training (and test, for :meth:`metrics`) data, any form of ``landscape.engine.data.as_eval_data``.
        state: the point's state dict (parameters and buffers).
        device: where to compute.
        samples: use a fixed random subset of this many training points (all if ``None``; tensor data only).
        seed: seed of that subset.
        bn_recompute: recompute the BatchNorm statistics at the point (exactly, ``swa.bn``)
            before freezing them; otherwise keep the state's buffers.
        batch_size: batch size of the sums (tensor data); halved while a computation runs out of device
            memory (a ``RuntimeWarning`` says so; ``self.batch_size`` is then the size that fitted).
        dtype: float32 for networks; float64 for exact tests.
        forward: the loss definition (default: cross-entropy/MSE by the data's task).
        params, trainable_only: which parameters w holds (``ParamSpace.of``: a regex, a predicate or
            ``landscape.Params``; default all).

    Raises:
        UserError: out of device memory at batch size :data:`~landscape.engine.probe.MIN_BATCH_SIZE`, or with
            batches of the data's own (a DataLoader), whose size the objective cannot change.
    """

    def __init__(self, model: nn.Module, data: Any, state: dict[str, torch.Tensor], *,
                 device: torch.device | str = "cpu", samples: Optional[int] = None, seed: int = 0,
                 bn_recompute: bool = True, batch_size: int = 2048, dtype: torch.dtype = torch.float32,
                 forward: Optional[Forward] = None, params: ParamSelector = None,
                 trainable_only: bool = False) -> None:
        if samples is not None and samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        data = as_eval_data(data)
        self.dtype = dtype
        self.forward = forward or Forward(task=data.task)
        # fp32: as the Hessian-vector products (landscape.curvature.hessian); BatchNorm over all training inputs
        super().__init__(model, data, self.forward, ParamSpace.of(model, params, trainable_only), device=device,
                         dtype=dtype, samples=samples, seed=seed, precision="fp32")
        self.model.load_state_dict(state)  # the session's copy stays in eval mode (recompute_bn returns it there)
        self.batch_size = batch_size
        if bn_recompute:  # at the state's own weights, exactly
            self._retrying(lambda: self.recompute_bn(None, self.batch_size, "exact"), self.bn_data)
        current = self.model.state_dict()
        self.point = self.space.params_of(current, dtype=dtype).to(self.device)
        self.frozen = {k: v.to(self.device) for k, v in self.space.frozen_of(current).items()}
        self._num_samples = len(self.train) if self.train.is_tensors else None
        self.hvp_count = 0
        self.on_hvp: Optional[Callable[[int], None]] = None
        self._retained: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
        self._retain_tried = False

    @property
    def num_params(self) -> int:
        return self.point.numel()

    @property
    def num_samples(self) -> int:
        if self._num_samples is None:
            self._num_samples = sum(self._batch_out(self.point, b)[2] for b in self._batches())
        return self._num_samples

    # ---------------------------------------------------------------- pieces
    def _retrying(self, compute: Callable[[], T], split: Any = None) -> T:
        """``compute()``, started again with the batch size halved (and the cache freed) while it runs out
        of device memory; ``split``: the data it goes over (the training set by default)."""
        split = self.train if split is None else split
        while True:
            try:
                return compute()
            except OutOfMemory:
                if not split.is_tensors:
                    raise UserError(f"out of memory on {self.device} with the batches the data come in: give "
                                    "smaller batches") from None
                size = min(self.batch_size, len(split))
                if size <= MIN_BATCH_SIZE:
                    raise UserError(f"out of memory on {self.device} even at batch size {size}: free the device "
                                    "or use fewer samples, a smaller model, or `device='cpu'`") from None
            self._retained, self._retain_tried = None, False  # a kept graph is of the old batch size
            release_memory(self.device)
            warnings.warn(f"out of memory on {self.device} at batch size {size}: retrying at {size // 2}",
                          RuntimeWarning, stacklevel=3)
            self.batch_size = size // 2

    def _batches(self):
        return self.train.batches(self.batch_size)

    def _weights(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.weights(w, self.frozen)

    def _batch_out(self, w: torch.Tensor, batch: Any):
        with torch.no_grad():
            return self.applied.call(self._weights(w), batch)

    def _batch_sum(self, w: torch.Tensor, batch: Any) -> torch.Tensor:
        return self.applied.call(self._weights(w), batch)[0].to(w.dtype)

    # ------------------------------------------------------------- interface
    @torch.no_grad()
    def value(self, w: Optional[torch.Tensor] = None) -> float:
        """L(w) (at the point if ``w`` is None): the session's per-sample mean over the objective's samples."""
        w = self.point if w is None else w.to(self.device, self.dtype)
        return self._retrying(lambda: self.means(self.train, self._weights(w), self.batch_size).loss)

    def values(self, family: AffineFamily, rows: Optional[np.ndarray] = None, chunk: int = 16) -> np.ndarray:
        """L at the family's points ``rows`` (all by default), in the rows' order: the parameters of ``chunk``
        points at a time built on the device (:meth:`AffineFamily.weights`; the family's buffers and frozen
        parameters are not used: the objective's own stay), each point's loss as :meth:`value` computes it."""
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        rows = np.arange(len(family)) if rows is None else np.asarray(rows, dtype=np.int64)
        family = family.to(self.device)
        out = np.empty(len(rows))
        for start in range(0, len(rows), chunk):
            with torch.no_grad():
                params, _ = family.weights(rows[start:start + chunk])
            for i, p in enumerate(params):
                out[start + i] = self.value(p)
        return out

    def value_and_grad(self, w: Optional[torch.Tensor] = None) -> tuple[float, torch.Tensor]:
        """L(w) and ∇L(w)."""
        w = (self.point if w is None else w.to(self.device, self.dtype)).detach()
        return self._retrying(lambda: self._value_and_grad(w))

    def _value_and_grad(self, w: torch.Tensor) -> tuple[float, torch.Tensor]:
        total, g = 0.0, torch.zeros_like(w)
        for batch in self._batches():
            wb = w.clone().requires_grad_(True)
            loss = self._batch_sum(wb, batch)
            (gb,) = torch.autograd.grad(loss, wb)
            total += float(loss.detach())
            g += gb
        return total / self.num_samples, g / self.num_samples

    def _retained_hvp(self) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
        """v ↦ Σ ∇²ℓ·v at the point through a kept gradient graph, when all samples fit in one batch."""
        if not self._retain_tried:
            self._retain_tried = True
            if self.train.is_one_batch(self.batch_size):
                batch = next(iter(self._batches()))
                w = self.point.detach().clone().requires_grad_(True)
                try:
                    with torch.enable_grad():
                        (g,) = torch.autograd.grad(self._batch_sum(w, batch), w, create_graph=True)
                except OutOfMemory:  # a RuntimeError too, but not "no double backward": hvp() retries smaller
                    raise
                except RuntimeError:  # an op without double backward: fall back to plain products
                    return None
                if g.requires_grad:  # a loss linear in w has no graph to keep, and H = 0 there
                    self._retained = lambda v: torch.autograd.grad(g, w, v, retain_graph=True)[0].detach()
        return self._retained

    def hvp(self, v: torch.Tensor, w: Optional[torch.Tensor] = None) -> torch.Tensor:
        """H(w)·v, the Hessian of L at ``w`` (the point by default) times ``v``."""
        v = v.to(self.device, self.dtype)
        out = self._retrying(lambda: self._hvp_sum(v, w))
        self.hvp_count += 1
        if self.on_hvp is not None:
            self.on_hvp(1)
        return out / self.num_samples

    def _hvp_sum(self, v: torch.Tensor, w: Optional[torch.Tensor]) -> torch.Tensor:
        """Σ_n ∇²ℓ_n(w)·v over the samples."""
        fast = self._retained_hvp() if w is None else None
        if fast is not None:
            out = fast(v)
        else:
            w = (self.point if w is None else w.to(self.device, self.dtype)).detach()
            out = torch.zeros_like(w)
            with warnings.catch_warnings():  # torch's forward AD scripts its decompositions on first use
                warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
                for batch in self._batches():
                    _, hv = jvp(grad(lambda p, batch=batch: self._batch_sum(p, batch)), (w,), (v,))
                    out += hv
        return out

    @torch.no_grad()
    def metrics(self) -> dict[str, Optional[float]]:
        """Train (the objective's samples) and test loss and accuracy at the point, in eval mode (None if absent)."""
        out: dict[str, Optional[float]] = {}
        weights = self._weights(self.point)
        for split_name, split in (("train", self.train), ("test", self.test)):
            means = None if split is None else self._retrying(
                lambda split=split: self.means(split, weights, self.batch_size), split)
            loss, acc = (float("nan"), float("nan")) if means is None else (means.loss, means.acc)
            out[f"{split_name}_loss"] = None if math.isnan(loss) and split is None else loss
            out[f"{split_name}_acc"] = None if math.isnan(acc) else acc
        return out

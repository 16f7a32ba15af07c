"""The training loss as a function of the flat parameter vector: value, gradient and Hessian-vector products.

    L(w) = (1/N) Σ_n ℓ(f(x_n; w), y_n)

over the training set (or a fixed subset of ``samples`` points), with the model in
eval mode and its BatchNorm buffers fixed at the base point's (recomputed there
from the training inputs if asked, as the landscape commands do). Batches are
summed, so every quantity is the exact per-sample mean whatever the batch size.
Hessian-vector products are forward-over-reverse (``torch.func.jvp`` of
``torch.func.grad``), the curvlinops / functorch recipe. When the samples fit in
one batch, the gradient is linearized once at the point (``torch.func.linearize``)
and every product reuses it, about twice as fast (BENCHMARKS.md).

Every sharpness measure is written against this small interface (``value``,
``value_and_grad``, ``hvp``, ``num_params``, ``point``), so the closed-form tests
can use any model whose loss is known analytically.
"""

from __future__ import annotations

import copy
import warnings
from typing import Callable, Optional

import torch
import torch.nn as nn
from torch.func import functional_call, grad, jvp, linearize

from swa.bn import update_bn_exact
from swa.data import TensorData
from swa.evaluation import batch_loss, evaluate
from landscape.weights import ParamSpace

__all__ = ["ModelObjective"]


class ModelObjective:
    """Training loss of ``model`` around the point ``state`` (see the module docstring).

    Args:
        model: the architecture (not modified; a copy is used).
        data: training inputs/targets (and test data for :meth:`metrics`).
        state: the point's state dict (parameters and buffers).
        device: where to compute.
        samples: use a fixed random subset of this many training points (all if ``None``).
        seed: seed of that subset.
        bn_recompute: recompute the BatchNorm statistics at the point (exactly, ``swa.bn``)
            before freezing them; otherwise keep the state's buffers.
        batch_size: batch size of the sums.
        dtype: float32 for networks; float64 for exact tests.
    """

    def __init__(self, model: nn.Module, data: TensorData, state: dict[str, torch.Tensor], *,
                 device: torch.device | str = "cpu", samples: Optional[int] = None, seed: int = 0,
                 bn_recompute: bool = True, batch_size: int = 2048, dtype: torch.dtype = torch.float32) -> None:
        if samples is not None and samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.task = data.task
        self.model = copy.deepcopy(model).to(self.device, dtype=dtype)
        self.model.load_state_dict(state)
        self.model.eval()
        self.space = ParamSpace.of(self.model)
        n = data.x_train.shape[0]
        if samples is None or samples >= n:
            idx = torch.arange(n)
        else:
            idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:samples].sort().values
        self.x = data.x_train[idx].to(self.device, dtype=dtype)
        self.y = data.y_train[idx].to(self.device)
        if self.y.is_floating_point():
            self.y = self.y.to(dtype)
        self.x_test = data.x_test.to(self.device, dtype=dtype)
        self.y_test = data.y_test.to(self.device)
        if self.y_test.is_floating_point():
            self.y_test = self.y_test.to(dtype)
        self.x_bn = data.x_train.to(self.device, dtype=dtype)
        if bn_recompute:
            update_bn_exact(self.model, self.x_bn, batch_size=batch_size, device=self.device)
        self.model.eval()
        self.batch_size = batch_size
        self.point = self.space.params_of(self.model.state_dict(), dtype=dtype).to(self.device)
        self.hvp_count = 0
        self.on_hvp: Optional[Callable[[int], None]] = None
        self._linearized: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
        self._linearize_tried = False

    @property
    def num_params(self) -> int:
        return self.point.numel()

    @property
    def num_samples(self) -> int:
        return self.x.shape[0]

    # ---------------------------------------------------------------- pieces
    def _batches(self):
        for start in range(0, self.x.shape[0], self.batch_size):
            yield self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]

    def _batch_sum(self, w: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        out = functional_call(self.model, self.space.split(w), (xb,))
        return batch_loss(out, yb, self.task, reduction="sum").to(w.dtype)

    # ------------------------------------------------------------- interface
    @torch.no_grad()
    def value(self, w: Optional[torch.Tensor] = None) -> float:
        """L(w) (at the point if ``w`` is None)."""
        w = self.point if w is None else w.to(self.device, self.dtype)
        total = sum(float(self._batch_sum(w, xb, yb)) for xb, yb in self._batches())
        return total / self.num_samples

    def value_and_grad(self, w: Optional[torch.Tensor] = None) -> tuple[float, torch.Tensor]:
        """L(w) and ∇L(w)."""
        w = (self.point if w is None else w.to(self.device, self.dtype)).detach()
        total, g = 0.0, torch.zeros_like(w)
        for xb, yb in self._batches():
            wb = w.clone().requires_grad_(True)
            loss = self._batch_sum(wb, xb, yb)
            (gb,) = torch.autograd.grad(loss, wb)
            total += float(loss.detach())
            g += gb
        return total / self.num_samples, g / self.num_samples

    def _linearized_hvp(self) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
        """v ↦ Σ ∇²ℓ·v at the point, linearized once, when all samples fit in one batch."""
        if not self._linearize_tried:
            self._linearize_tried = True
            if self.num_samples <= self.batch_size:
                try:
                    with warnings.catch_warnings():  # torch.fx's tracing chatter, not ours to act on
                        warnings.simplefilter("ignore")
                        _, self._linearized = linearize(grad(lambda p: self._batch_sum(p, self.x, self.y)),
                                                        self.point.detach())
                except Exception:  # tracing can fail on exotic modules: fall back to plain products
                    self._linearized = None
        return self._linearized

    def hvp(self, v: torch.Tensor, w: Optional[torch.Tensor] = None) -> torch.Tensor:
        """H(w)·v, the Hessian of L at ``w`` (the point by default) times ``v``."""
        v = v.to(self.device, self.dtype)
        fast = self._linearized_hvp() if w is None else None
        if fast is not None:
            out = fast(v)
        else:
            w = (self.point if w is None else w.to(self.device, self.dtype)).detach()
            out = torch.zeros_like(w)
            for xb, yb in self._batches():
                _, hv = jvp(grad(lambda p, xb=xb, yb=yb: self._batch_sum(p, xb, yb)), (w,), (v,))
                out += hv
        self.hvp_count += 1
        if self.on_hvp is not None:
            self.on_hvp(1)
        return out / self.num_samples

    def metrics(self) -> dict[str, float]:
        """Train (the objective's samples) and test loss and accuracy at the point, in eval mode."""
        out = {}
        for split, x, y in (("train", self.x, self.y), ("test", self.x_test, self.y_test)):
            res = evaluate(self.model, x, y, self.task, batch_size=self.batch_size, device=self.device)
            out[f"{split}_loss"], out[f"{split}_acc"] = res["loss"], res["acc"]
        return out

"""One evaluation session: a private functional copy of a model, its data on the device, and BatchNorm at a point.

Both engines of the landscape are built on it: the batched grid :class:`~landscape.engine.evaluator.Evaluator`
(loss and accuracy at many points) and the sharpness objective
:class:`~landscape.curvature.objective.ModelObjective` (value, gradient and Hessian-vector products of the
training loss). A session holds

* the model's private copy on the device (the caller's model is never changed), in eval mode, without
  gradients of its own, wrapped with the loss definition as one module (:class:`~landscape.engine.forward.Applied`),
  so that every batch is evaluated at given weights by ``torch.func.functional_call``;
* the layout: ``memory_format=torch.channels_last`` lays the copy, the image inputs and the 4-D parameters of a
  point out channels-last; ``None`` keeps the model's own layout and places the data contiguous;
* the parameter space (which parameters a point's flat vector holds) and the frozen rest;
* the data placed once on the device (:meth:`~landscape.engine.data.Split.placed`, a source's batches cached
  where they fit): ``train``, cut to a fixed random subset of ``samples`` points (all if ``None``), ``test``,
  and ``bn_data``, the training inputs of the BatchNorm recompute, cut to ``bn_samples`` (the same placed
  split where the two cuts are the same);
* the precision scope of every forward pass (``landscape.engine.precision``);
* the BatchNorm statistics recompute (``swa.bn.update_bn_exact``, ``exact`` or ``single-pass``) into the copy.

A split's per-sample means are those of :func:`~landscape.engine.forward.split_means`:

    L = (1/N) Σ_batches loss_sum,   acc = (1/N) Σ_batches n_correct,   N = Σ_batches n.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

import torch
import torch.nn as nn

from swa.bn import update_bn_exact
from landscape.engine.data import EvalData, Split
from landscape.engine.forward import Applied, Forward, SplitMeans, split_means
from landscape.engine.precision import precision_scope
from landscape.engine.weights import ParamSpace

__all__ = ["Session"]


class Session:
    """A model's private copy, its data on ``device`` and the BatchNorm recompute (see the module docstring).

    Args:
        model: the architecture (copied; the caller's model is untouched).
        data: train and optional test split.
        forward: the loss/accuracy definition.
        space: which parameters a point's flat vector holds.
        device: where to compute.
        memory_format: ``torch.channels_last`` or ``torch.contiguous_format`` for the copy and the inputs;
            ``None``: the copy keeps the model's layout and the data are placed contiguous.
        dtype: the copy's and the inputs' floating dtype (``None``: as they are).
        samples: the training points evaluated: a fixed random subset of this many (all if ``None``).
        bn_samples: the training inputs of the BatchNorm recompute: a fixed random subset of this many (all if
            ``None``).
        seed: seed of both subsets.
        precision: ``fp32``, ``tf32`` or ``bf16`` (``landscape.engine.precision``): every forward pass's.
    """

    def __init__(self, model: nn.Module, data: EvalData, forward: Forward, space: ParamSpace, *,
                 device: torch.device | str = "cpu", memory_format: Optional[torch.memory_format] = None,
                 dtype: Optional[torch.dtype] = None, samples: Optional[int] = None,
                 bn_samples: Optional[int] = None, seed: int = 0, precision: str = "fp32") -> None:
        self.device = torch.device(device)
        self.space = space
        self.precision = precision
        self.memory_format = torch.contiguous_format if memory_format is None else memory_format
        layout = {k: v for k, v in (("dtype", dtype), ("memory_format", memory_format)) if v is not None}
        self.model = copy.deepcopy(model).to(self.device, **layout).eval()
        self.model.requires_grad_(False)
        self.applied = Applied(self.model, forward)
        train, bn = data.train.subset(samples, seed), data.train.subset(bn_samples, seed)
        self.train = train.placed(self.device, self.memory_format, dtype)
        # the same cut (both all samples, or the same subset object) is placed once
        self.bn_data = self.train if bn is train else bn.placed(self.device, self.memory_format, dtype)
        self.test = None if data.test is None else data.test.placed(self.device, self.memory_format, dtype)
        self._channels_last = {n for n, s in zip(space.param_names, space.param_shapes) if len(s) == 4} \
            if self.memory_format == torch.channels_last else set()

    def weights(self, params: torch.Tensor, frozen: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The named weights of the point ``params`` (a flat vector of the space), after the ``frozen`` rest;
        4-D parameters channels-last in a channels-last session."""
        weights = dict(frozen)
        for name, value in self.space.split(params).items():
            weights[name] = value.contiguous(memory_format=torch.channels_last) if name in self._channels_last \
                else value
        return weights

    def buffer_weights(self, buffers: torch.Tensor) -> dict[str, torch.Tensor]:
        """The flat float-buffer vector as named buffers (none for a model without them)."""
        return self.space.split(buffers, "buffers") if buffers.numel() else {}

    def recompute_bn(self, weights: Optional[dict[str, torch.Tensor]], batch_size: int, mode: str) -> None:
        """Set the copy's BatchNorm statistics to those of the forward over ``bn_data`` (batches of
        ``batch_size``; ``mode`` ``exact`` or ``single-pass``, ``swa.bn``) at ``weights``, or at the copy's own
        weights when ``weights`` is ``None``; in the session's precision."""
        def call(batch: Any) -> Any:
            return self.applied(batch, run_only=True) if weights is None else \
                self.applied.call(weights, batch, run_only=True)

        with precision_scope(self.device, self.precision):
            update_bn_exact(self.model, self.bn_data.batches(batch_size), mode=mode, device=self.device, call=call)
        self.model.eval()

    def means(self, split: Split, weights: dict[str, torch.Tensor], batch_size: int,
              extras: bool = False) -> SplitMeans:
        """Per-sample means of ``split`` at ``weights`` (:func:`~landscape.engine.forward.split_means`), over batches
        of ``batch_size`` (a source keeps its own), each forward in the session's precision; ``extras``: with a
        ``forward_fn``'s extra metrics."""
        def step(batch: Any) -> tuple:
            with precision_scope(self.device, self.precision):
                return self.applied.call(weights, batch, extras=extras)

        return split_means(step, split.batches(batch_size))

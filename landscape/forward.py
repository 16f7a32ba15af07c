"""The one definition of "loss and accuracy of a batch", shared by the evaluator and the Hessian objective.

A :class:`Forward` turns ``(model, batch)`` into ``(loss_sum, n_correct, n)``: the batch's summed
per-sample loss (a differentiable 0-d tensor), its number of correct predictions (``None`` when
accuracy has no meaning) and its size. Sums make every reported quantity the exact per-sample mean

    L = (1/N) Σ_batches loss_sum,    acc = (1/N) Σ_batches n_correct,    N = Σ_batches n

whatever the batch sizes. Three ways to define it:

* default: ``batch = (x, y)``, ``out = model(x)``; cross-entropy and argmax accuracy for integer
  targets, mean squared error over output dimensions for floating ones (``swa.evaluation.batch_loss``);
* ``loss_fn(out, y)`` returning the batch *mean* (e.g. label-smoothed cross-entropy); accuracy is
  still counted for integer targets and 2-D outputs;
* ``forward_fn(model, batch) -> (mean_loss, n_correct or None, batch_size)`` for models called
  another way (dict batches, ``model(**batch).loss``).

:class:`Applied` wraps a model and a forward as one module, so that
``torch.func.functional_call(applied, weights, (batch,))`` evaluates the batch at other weights
without touching the model's own (names in ``weights`` carry the prefix ``model.``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import torch
import torch.nn as nn
from torch.func import functional_call

from swa.data import CLASSIFICATION, REGRESSION
from swa.evaluation import batch_loss

__all__ = ["Forward", "Applied", "split_metrics"]

LossFn = Callable[[Any, Any], torch.Tensor]
ForwardFn = Callable[[nn.Module, Any], tuple]


class Forward:
    """``(model, batch) -> (loss_sum, n_correct or None, n)``; see the module docstring.

    Args:
        task: ``classification`` or ``regression`` (the default loss and accuracy); may be ``None``
            with ``forward_fn``.
        loss_fn: ``loss_fn(outputs, targets)`` returning the batch mean.
        forward_fn: ``forward_fn(model, batch) -> (mean_loss, n_correct or None, batch_size)``.
    """

    def __init__(self, task: Optional[str] = None, loss_fn: Optional[LossFn] = None,
                 forward_fn: Optional[ForwardFn] = None) -> None:
        if loss_fn is not None and forward_fn is not None:
            raise ValueError("give loss_fn or forward_fn, not both (forward_fn computes the loss itself)")
        if forward_fn is None and task not in (CLASSIFICATION, REGRESSION):
            raise ValueError("cannot tell the task from the data (targets are not a tensor): pass forward_fn, or "
                             "task='classification'/'regression'")
        self.task, self.loss_fn, self.forward_fn = task, loss_fn, forward_fn

    def describe(self) -> dict[str, Any]:
        name = lambda f: getattr(f, "__qualname__", type(f).__name__)  # noqa: E731
        if self.forward_fn is not None:
            return {"forward_fn": name(self.forward_fn)}
        return {"task": self.task, "loss": "default" if self.loss_fn is None else name(self.loss_fn)}

    def counts_accuracy(self, targets: Any) -> bool:
        """Whether the default/``loss_fn`` path counts accuracy for these targets (integer, not regression)."""
        return (self.forward_fn is None and isinstance(targets, torch.Tensor) and not targets.is_floating_point()
                and self.task != REGRESSION)

    def run(self, model: nn.Module, batch: Any) -> Any:
        """Only the network's forward on ``batch`` (what BatchNorm statistics need)."""
        if self.forward_fn is not None:
            return self.forward_fn(model, batch)
        return model(_pair(batch)[0])

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, Optional[torch.Tensor], int]:
        if self.forward_fn is not None:
            got = self.forward_fn(model, batch)
            if not (isinstance(got, (tuple, list)) and len(got) == 3):
                raise TypeError("forward_fn must return (mean_loss, n_correct or None, batch_size), got "
                                f"{type(got).__name__}")
            loss, correct, n = got
            n = int(n)
            return torch.as_tensor(loss).reshape(()) * n, correct, n
        x, y = _pair(batch)
        out = model(x)
        n = out.shape[0]
        if self.loss_fn is None:
            total = batch_loss(out, y, self.task, reduction="sum")
        else:
            promoted = out if out.dtype in (torch.float32, torch.float64) else out.float()
            total = torch.as_tensor(self.loss_fn(promoted, y)).reshape(()) * n
        correct = None
        if not y.is_floating_point() and out.dim() == 2 and self.task != REGRESSION:
            correct = (out.argmax(dim=1) == y).sum()
        return total, correct, n


def _pair(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(f"a batch of type {type(batch).__name__} is not an (inputs, targets) pair: pass forward_fn to "
                    "say how the model is called on it")


class Applied(nn.Module):
    """``model`` and a :class:`Forward` as one module: ``applied(batch)`` is ``forward(model, batch)``.

    ``applied(batch, run_only=True)`` is ``forward.run(model, batch)`` (the network alone).
    """

    def __init__(self, model: nn.Module, forward: Forward) -> None:
        super().__init__()
        self.model = model
        self.definition = forward

    def forward(self, batch: Any, run_only: bool = False) -> Any:
        if run_only:
            return self.definition.run(self.model, batch)
        return self.definition(self.model, batch)

    def call(self, weights: dict[str, torch.Tensor], batch: Any, run_only: bool = False) -> Any:
        """The forward at ``weights`` (names as in ``model.named_parameters()``/buffers) via ``functional_call``."""
        return functional_call(self, {f"model.{k}": v for k, v in weights.items()}, (batch,),
                               {"run_only": run_only})


def split_metrics(step: Callable[[Any], tuple], batches: Iterable[Any]) -> tuple[float, float]:
    """Per-sample mean loss and accuracy (NaN if not counted) over ``batches``; ``step(batch)`` is a Forward's."""
    loss, correct, n, counted = None, None, 0, True
    for batch in batches:  # sums stay on the device: no synchronization per batch
        loss_sum, n_correct, nb = step(batch)
        loss = loss_sum.detach().double() if loss is None else loss + loss_sum.detach().double()
        if n_correct is None:
            counted = False
        elif counted:
            n_correct = torch.as_tensor(n_correct)
            correct = n_correct if correct is None else correct + n_correct
        n += nb
    if n == 0:
        raise ValueError("no samples in the split")
    return float(loss) / n, (int(correct) / n if counted and correct is not None else float("nan"))
